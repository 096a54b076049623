//! `/api/v1/users`: people, as `heliogate user …` manages them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use heliogate_app::admin::{self, AddUser, ConsentView, UserChange, UserPage, UserQuery, UserView};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::body::{answer_change, check_if_match, created, represented, Body};
use super::problem::Problem;
use super::Answer;
use crate::AppState;

/// Which users: every filter given must hold. Unknown parameters are refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserParams {
    /// Users whose names start with this.
    prefix: Option<String>,
    /// Where the previous page ended: its `next_cursor`.
    cursor: Option<String>,
    /// How many users, 1 to 1000 (default 50).
    limit: Option<u32>,
}

/// A new password, set by an administrator; the answer carries nothing secret.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPassword {
    #[schema(min_length = 10)]
    password: String,
}

/// Users by name, a page at a time.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", operation_id = "list_users",
    params(UserParams),
    responses((status = 200, description = "A page of users, by name", body = UserPage), super::Refusals))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    params: Result<Query<UserParams>, QueryRejection>,
) -> Answer {
    let Query(params) = params.map_err(|r| Problem::query(&r.body_text()))?;
    let query = UserQuery {
        prefix: params.prefix,
        cursor: params.cursor,
        limit: params.limit,
    };
    Ok(Json(admin::page_users(&*state.store, query).await?).into_response())
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", operation_id = "create_user",
    request_body = AddUser,
    responses(
        (status = 201, description = "Created", body = UserView, headers(("ETag" = String), ("Location" = String)), links(("get" = (operation_id = "get_user", parameters(("name" = "$response.body#/name")))), ("password" = (operation_id = "set_user_password", parameters(("name" = "$response.body#/name")))), ("tokens" = (operation_id = "list_user_tokens", parameters(("name" = "$response.body#/name")))), ("consents" = (operation_id = "list_user_consents", parameters(("name" = "$response.body#/name")))), ("revoke_tokens" = (operation_id = "revoke_user_tokens", parameters(("name" = "$response.body#/name")))), ("delete" = (operation_id = "delete_user", parameters(("name" = "$response.body#/name")))))),
        (status = 404, description = "A role named does not exist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A user of that name exists", body = Problem, content_type = "application/problem+json"),
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(input): Body<AddUser>,
) -> Answer {
    let user = admin::add_user(&*state.store, &actor, input).await?;
    let location = format!("/api/v1/users/{}", user.name);
    Ok(created(&user, &location))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "users", operation_id = "get_user",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "The user", body = UserView, headers(("ETag" = String)), links(("change" = (operation_id = "change_user", parameters(("name" = "$request.path.name"), ("header.If-Match" = "$response.header.ETag")))))),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Answer {
    Ok(represented(
        &admin::show_user(&*state.store, &name).await?,
        StatusCode::OK,
    ))
}

/// Changes a user's roles or status; needs `If-Match` with the user's `ETag`.
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "users", operation_id = "change_user",
    params(("name" = String, Path), ("If-Match" = String, Header, description = "The ETag of the user as read")),
    request_body = UserChange,
    responses(
        (status = 200, description = "The user as changed", body = UserView, headers(("ETag" = String))),
        (status = 404, description = "No such user or role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It would leave no administrator", body = Problem, content_type = "application/problem+json"),
        super::Preconditions,
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn change(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(change): Body<UserChange>,
) -> Answer {
    let store = &*state.store;
    let read = admin::show_user(store, &name).await?;
    check_if_match(&headers, &read)?;
    answer_change(admin::change_user(&state.app, &actor, &read, change).await?)
}

/// Sets a user's password; their sessions end. Nothing secret comes back.
#[utoipa::path(put, path = "/api/v1/users/{name}/password", tag = "users", operation_id = "set_user_password",
    params(("name" = String, Path)),
    request_body = NewPassword,
    responses(
        (status = 204, description = "Set"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn password(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Body(new): Body<NewPassword>,
) -> Answer {
    admin::set_password(&state.app, &actor, &name, new.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a user with their tokens, consents and sessions.
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users", operation_id = "delete_user",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last administrator", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
) -> Answer {
    admin::delete_user(&state.app, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The applications a user has authorized.
#[utoipa::path(get, path = "/api/v1/users/{name}/consents", tag = "users", operation_id = "list_user_consents",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "Remembered consents", body = [ConsentView], links(("revoke" = (operation_id = "revoke_user_consent", parameters(("name" = "$request.path.name"), ("client_id" = "$response.body#/0/client_id")))))),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn consents(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Answer {
    Ok(Json(admin::list_consents(&*state.store, &name).await?).into_response())
}

/// Takes a user's consent for a client back, with the tokens it gave.
#[utoipa::path(delete, path = "/api/v1/users/{name}/consents/{client_id}", tag = "users", operation_id = "revoke_user_consent",
    params(("name" = String, Path), ("client_id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such user or consent", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn revoke_consent(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path((name, client_id)): Path<(String, String)>,
) -> Answer {
    admin::revoke_consent(&state.app, &actor, &name, &client_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Removes a user's second factors (authenticator app, recovery codes) after they lost them.
#[utoipa::path(delete, path = "/api/v1/users/{name}/mfa", tag = "users", operation_id = "reset_user_mfa",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed, or there was none"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn reset_mfa(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
) -> Answer {
    heliogate_app::mfa::reset(&*state.store, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
