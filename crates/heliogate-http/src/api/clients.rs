//! `/api/v1/clients`: OAuth clients, as `heliogate client …` manages them, and their tokens.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::admin::{self, AddClient, ClientChange, ClientView, IssuedClient};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Admin;
use super::body::{answer_change, check_if_match, created, represented, Body};
use super::problem::Problem;
use super::Answer;
use crate::AppState;

/// A client with its secret, shown once: at creation and at each rotation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientWithSecret {
    #[serde(flatten)]
    client: ClientView,
    /// Only its SHA-256 is kept: store it now. Absent for a public client.
    client_secret: Option<String>,
}

fn with_secret(issued: IssuedClient) -> ClientWithSecret {
    ClientWithSecret {
        client: issued.client,
        client_secret: issued.client_secret,
    }
}

/// A response that carries a secret is never stored by a cache (RFC 9111 §5.2.2.5).
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Every client.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", operation_id = "list_clients",
    responses((status = 200, description = "Every client", body = [ClientView]), super::Refusals))]
pub(crate) async fn list(State(state): State<AppState>, _admin: Admin) -> Answer {
    Ok(Json(admin::list_clients(&*state.store).await?).into_response())
}

/// Registers a client; a confidential client's secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", operation_id = "create_client",
    request_body = AddClient,
    responses(
        (status = 201, description = "Registered", body = ClientWithSecret, headers(("ETag" = String), ("Location" = String)), links(("get" = (operation_id = "get_client", parameters(("id" = "$response.body#/client_id")))), ("rotate_secret" = (operation_id = "rotate_client_secret", parameters(("id" = "$response.body#/client_id")))), ("tokens" = (operation_id = "list_client_tokens", parameters(("id" = "$response.body#/client_id")))), ("revoke_tokens" = (operation_id = "revoke_client_tokens", parameters(("id" = "$response.body#/client_id")))), ("delete" = (operation_id = "delete_client", parameters(("id" = "$response.body#/client_id")))))),
        (status = 404, description = "The owner does not exist", body = Problem, content_type = "application/problem+json"),
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(input): Body<AddClient>,
) -> Answer {
    let issued = admin::add_client(&*state.store, &actor, input).await?;
    let location = format!("/api/v1/clients/{}", issued.client_id);
    Ok(no_store(created(&with_secret(issued), &location)))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", operation_id = "get_client",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The client", body = ClientView, headers(("ETag" = String)), links(("change" = (operation_id = "change_client", parameters(("id" = "$request.path.id"), ("header.If-Match" = "$response.header.ETag")))))),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Answer {
    let client = admin::show_client(&*state.store, &id).await?;
    Ok(represented(&client, StatusCode::OK))
}

/// Changes a client's settings; needs `If-Match` with the client's `ETag`. Its kind and owner
/// stay; the client as changed must pass the rules of registration.
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients", operation_id = "change_client",
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the client as read")),
    request_body = ClientChange,
    responses(
        (status = 200, description = "The client as changed", body = ClientView, headers(("ETag" = String))),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        super::Preconditions,
        super::JsonOnly,
        super::Refusals))]
pub(crate) async fn change(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(change): Body<ClientChange>,
) -> Answer {
    let read = admin::show_client(&*state.store, &id).await?;
    check_if_match(&headers, &read)?;
    let changed = admin::change_client(&state.app, &actor, &read, change).await?;
    if let admin::Changed::Done(_) = changed {}
    answer_change(changed)
}

/// Gives a confidential client a new secret, in this answer only; the old one stops working.
#[utoipa::path(post, path = "/api/v1/clients/{id}/secret", tag = "clients", operation_id = "rotate_client_secret",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The new secret", body = ClientWithSecret),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(id): Path<String>,
) -> Answer {
    let issued = admin::rotate_client_secret(&state.app, &actor, &id).await?;
    // This node stops taking the old secret now; every other within its cache's second.
    Ok(no_store(Json(with_secret(issued)).into_response()))
}

/// Deletes a client with its tokens and consents.
#[utoipa::path(delete, path = "/api/v1/clients/{id}", tag = "clients", operation_id = "delete_client",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        super::Refusals))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(id): Path<String>,
) -> Answer {
    admin::delete_client(&state.app, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
