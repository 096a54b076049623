//! `GET /api/v1/audit-events`: the audit log, as `heliogate audit list` reads it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::admin::{self, AuditPage, AuditQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::problem::Problem;
use crate::AppState;

/// The filters; every one given must hold. Unknown parameters are refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Records this user (by name) acted in or was acted on.
    user: Option<String>,
    /// Records this client (by id) acted in or was acted on.
    client: Option<String>,
    /// An event (`login.failed`) or a family of events (`login.*`).
    event: Option<String>,
    /// Records at or after this time, in seconds since the epoch.
    since: Option<i64>,
    /// Where the previous page ended: its `next_cursor`.
    cursor: Option<String>,
    /// How many records, 1 to 1000 (default 50).
    limit: Option<u32>,
}

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit-events",
    operation_id = "list_audit_events",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of records, newest first", body = AuditPage),
        (status = 400, description = "A parameter was refused", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the admin scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Admin(_actor): Admin,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(params) => params,
        Err(rejection) => return Problem::query(&rejection.body_text()).into_response(),
    };
    let query = AuditQuery {
        user: params.user,
        client: params.client,
        event: params.event,
        since: params.since,
        cursor: params.cursor,
        limit: params.limit,
    };
    match admin::list_audit(&*state.store, query).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => Problem::from(e).into_response(),
    }
}
