//! `/api/v1/upstreams`: the identity providers users sign in with, as `heliogate upstream …`
//! manages them; `/api/v1/users/{name}/identities`: the identities linked to a user.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use heliogate_app::upstream::{self, AddUpstream, IdentityView, UpstreamView};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Admin;
use super::body::{created, represented, Body};
use super::problem::Problem;
use super::Answer;
use crate::AppState;

/// Every identity provider, by name.
#[utoipa::path(get, path = "/api/v1/upstreams", tag = "upstreams", operation_id = "list_upstreams",
    responses((status = 200, description = "Every identity provider", body = [UpstreamView]), super::Refusals))]
pub(crate) async fn list(State(state): State<AppState>, _admin: Admin) -> Answer {
    Ok(Json(upstream::list_upstreams(&*state.store).await?).into_response())
}

/// Adds an identity provider.
#[utoipa::path(post, path = "/api/v1/upstreams", tag = "upstreams", operation_id = "create_upstream",
    request_body = AddUpstream,
    responses(
        (status = 201, description = "Created", body = UpstreamView, headers(("ETag" = String), ("Location" = String)), links(("get" = (operation_id = "get_upstream", parameters(("name" = "$response.body#/name")))), ("delete" = (operation_id = "delete_upstream", parameters(("name" = "$response.body#/name")))))),
        (status = 404, description = "A role it names does not exist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An identity provider of that name exists", body = Problem, content_type = "application/problem+json"),
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(add): Body<AddUpstream>,
) -> Answer {
    let kek = state.config.oauth.key_encryption.as_ref();
    let view = upstream::add_upstream(&state.app, kek, &actor, &add).await?;
    let location = format!("/api/v1/upstreams/{}", view.name);
    Ok(created(&view, &location))
}

/// One identity provider.
#[utoipa::path(get, path = "/api/v1/upstreams/{name}", tag = "upstreams", operation_id = "get_upstream",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "The identity provider", body = UpstreamView, headers(("ETag" = String))),
        (status = 404, description = "No such identity provider", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Answer {
    Ok(represented(
        &upstream::show_upstream(&*state.store, &name).await?,
        StatusCode::OK,
    ))
}

/// Deletes an identity provider and every link through it.
#[utoipa::path(delete, path = "/api/v1/upstreams/{name}", tag = "upstreams", operation_id = "delete_upstream",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such identity provider", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
) -> Answer {
    upstream::delete_upstream(&state.app, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An identity to link to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLink {
    /// The identity provider's name.
    upstream: String,
    /// The identity's `sub` there.
    subject: String,
}

/// The identities linked to a user.
#[utoipa::path(get, path = "/api/v1/users/{name}/identities", tag = "users", operation_id = "list_user_identities",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "Linked identities", body = [IdentityView]),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn identities(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Answer {
    let user = heliogate_app::admin::show_user(&*state.store, &name).await?;
    Ok(Json(upstream::list_identities(&*state.store, &user.id).await?).into_response())
}

/// Links an identity at a provider to a user: their sign-ins there are theirs.
#[utoipa::path(post, path = "/api/v1/users/{name}/identities", tag = "users", operation_id = "link_user_identity",
    params(("name" = String, Path)),
    request_body = NewLink,
    responses(
        (status = 201, description = "Linked", body = IdentityView, headers(("ETag" = String), ("Location" = String)), links(("unlink" = (operation_id = "unlink_user_identity", parameters(("name" = "$request.path.name"), ("upstream" = "$response.body#/upstream"), ("subject" = "$response.body#/subject")))))),
        (status = 404, description = "No such user or identity provider", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The identity is linked already", body = Problem, content_type = "application/problem+json"),
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn link(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Body(new): Body<NewLink>,
) -> Answer {
    let linked =
        upstream::link_identity(&state.app, &actor, &name, &new.upstream, &new.subject).await?;
    let location = format!("/api/v1/users/{name}/identities");
    Ok(created(&linked, &location))
}

/// Unlinks an identity from a user.
#[utoipa::path(delete, path = "/api/v1/users/{name}/identities/{upstream}/{subject}", tag = "users", operation_id = "unlink_user_identity",
    params(("name" = String, Path), ("upstream" = String, Path), ("subject" = String, Path)),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "No such user or linked identity", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn unlink(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path((name, upstream_name, subject)): Path<(String, String, String)>,
) -> Answer {
    upstream::unlink_identity(&state.app, &actor, &name, &upstream_name, &subject).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
