//! `/api/v1/roles`: named sets of scopes, as `heliogate role …` manages them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use heliogate_app::admin::{self, RoleView};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Admin;
use super::body::{answer_change, check_if_match, created, represented, Body};
use super::problem::Problem;
use super::Answer;
use crate::AppState;

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRole {
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")] // NAME_PATTERN
    name: String,
    /// At least one.
    #[schema(min_items = 1)]
    scopes: Vec<String>,
}

/// A change to a role: its scopes, replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    /// Replaces the role's scopes.
    #[schema(min_items = 1)]
    scopes: Option<Vec<String>>,
    /// Its users must sign in with a second factor (they set one up at their next sign-in).
    mfa_required: Option<bool>,
}

/// Every role, by name.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", operation_id = "list_roles",
    responses((status = 200, description = "Every role", body = [RoleView]), super::Refusals))]
pub(crate) async fn list(State(state): State<AppState>, _admin: Admin) -> Answer {
    Ok(Json(admin::list_roles(&*state.store).await?).into_response())
}

/// Creates a role.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", operation_id = "create_role",
    request_body = NewRole,
    responses(
        (status = 201, description = "Created", body = RoleView, headers(("ETag" = String), ("Location" = String)), links(("get" = (operation_id = "get_role", parameters(("name" = "$response.body#/name")))), ("delete" = (operation_id = "delete_role", parameters(("name" = "$response.body#/name")))))),
        (status = 409, description = "A role of that name exists", body = Problem, content_type = "application/problem+json"),
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(new): Body<NewRole>,
) -> Answer {
    let role = admin::add_role(&*state.store, &actor, &new.name, &new.scopes).await?;
    let location = format!("/api/v1/roles/{}", role.name);
    Ok(created(&role, &location))
}

/// One role.
#[utoipa::path(get, path = "/api/v1/roles/{name}", tag = "roles", operation_id = "get_role",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "The role", body = RoleView, headers(("ETag" = String)), links(("change" = (operation_id = "change_role", parameters(("name" = "$request.path.name"), ("header.If-Match" = "$response.header.ETag")))))),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Answer {
    Ok(represented(
        &admin::show_role(&*state.store, &name).await?,
        StatusCode::OK,
    ))
}

/// Changes a role's scopes or whether it requires a second factor; needs `If-Match` with the
/// role's `ETag`.
#[utoipa::path(patch, path = "/api/v1/roles/{name}", tag = "roles", operation_id = "change_role",
    params(("name" = String, Path), ("If-Match" = String, Header, description = "The ETag of the role as read")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The role", body = RoleView, headers(("ETag" = String))),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It would leave no administrator", body = Problem, content_type = "application/problem+json"),
        super::Preconditions,
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn change(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(change): Body<RoleChange>,
) -> Answer {
    let store = &*state.store;
    let read = admin::show_role(store, &name).await?;
    check_if_match(&headers, &read)?;
    let scopes = change.scopes.as_deref();
    answer_change(admin::change_role(&state.app, &actor, &read, scopes, change.mfa_required).await?)
}

/// Deletes a role no user holds.
#[utoipa::path(delete, path = "/api/v1/roles/{name}", tag = "roles", operation_id = "delete_role",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A user holds it", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
) -> Answer {
    admin::delete_role(&*state.store, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
