//! `/api/v1/users/{name}/tokens` and `/api/v1/clients/{id}/tokens`: the live tokens of a user
//! or of a client, listed without their values, revoked one by one or all at once.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use heliogate_app::admin::{self, TokenPage, TokenQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::problem::Problem;
use super::{Answer, Revoked};
use crate::AppState;

/// Which page of tokens. Unknown parameters are refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokenParams {
    /// Where the previous page ended: its `next_cursor`.
    cursor: Option<String>,
    /// How many tokens, 1 to 1000 (default 50).
    limit: Option<u32>,
}

#[allow(clippy::result_large_err)] // answered at once, never carried far
fn token_query(params: Result<Query<TokenParams>, QueryRejection>) -> Result<TokenQuery, Problem> {
    let Query(params) = params.map_err(|r| Problem::query(&r.body_text()))?;
    Ok(TokenQuery {
        cursor: params.cursor,
        limit: params.limit,
    })
}

/// The live access and refresh tokens acting for a user, a page at a time.
#[utoipa::path(get, path = "/api/v1/users/{name}/tokens", tag = "tokens", operation_id = "list_user_tokens",
    params(("name" = String, Path), TokenParams),
    responses(
        (status = 200, description = "A page of live tokens", body = TokenPage, links(("revoke" = (operation_id = "revoke_user_token", parameters(("name" = "$request.path.name"), ("token_id" = "$response.body#/tokens/0/token_id")))))),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn list_for_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    params: Result<Query<TokenParams>, QueryRejection>,
) -> Answer {
    let query = token_query(params)?;
    Ok(Json(admin::list_user_tokens(&*state.store, &name, query).await?).into_response())
}

/// The live access and refresh tokens issued to a client, a page at a time.
#[utoipa::path(get, path = "/api/v1/clients/{id}/tokens", tag = "tokens", operation_id = "list_client_tokens",
    params(("id" = String, Path), TokenParams),
    responses(
        (status = 200, description = "A page of live tokens", body = TokenPage, links(("revoke" = (operation_id = "revoke_client_token", parameters(("id" = "$request.path.id"), ("token_id" = "$response.body#/tokens/0/token_id")))))),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn list_for_client(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    params: Result<Query<TokenParams>, QueryRejection>,
) -> Answer {
    let query = token_query(params)?;
    Ok(Json(admin::list_client_tokens(&*state.store, &id, query).await?).into_response())
}

/// Revokes one token acting for a user; a refresh token takes its grant's access tokens.
#[utoipa::path(delete, path = "/api/v1/users/{name}/tokens/{token_id}", tag = "tokens", operation_id = "revoke_user_token",
    params(("name" = String, Path), ("token_id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such user, or no such token of theirs", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn revoke_user_token(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path((name, token_id)): Path<(String, String)>,
) -> Answer {
    admin::revoke_user_token(&state.app, &actor, &name, &token_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revokes one token issued to a client; a refresh token takes its grant's access tokens.
#[utoipa::path(delete, path = "/api/v1/clients/{id}/tokens/{token_id}", tag = "tokens", operation_id = "revoke_client_token",
    params(("id" = String, Path), ("token_id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such client, or no such token of its", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn revoke_client_token(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path((id, token_id)): Path<(String, String)>,
) -> Answer {
    admin::revoke_client_token(&state.app, &actor, &id, &token_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revokes every live token of a user.
#[utoipa::path(delete, path = "/api/v1/users/{name}/tokens", tag = "tokens", operation_id = "revoke_user_tokens",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn revoke_user_tokens(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
) -> Answer {
    let revoked = admin::revoke_user_tokens(&state.app, &actor, &name).await?;
    Ok(Json(Revoked { revoked }).into_response())
}

/// Revokes every live token of a client.
#[utoipa::path(delete, path = "/api/v1/clients/{id}/tokens", tag = "tokens", operation_id = "revoke_client_tokens",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn revoke_client_tokens(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(id): Path<String>,
) -> Answer {
    let revoked = admin::revoke_client_tokens(&state.app, &actor, &id).await?;
    Ok(Json(Revoked { revoked }).into_response())
}
