//! `/admin/clients`: every client, with its owner; new secrets and deletion.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::admin::{self, ClientQuery, ClientView};

use super::own_clients::{secret_shown, ClientAction};
use super::{failed, next_link, query_value, Chrome, ConsoleAdmin};
use crate::pages::{page, PageForm};
use crate::AppState;

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ClientsPage {
    instance: String,
    chrome: Chrome,
    owner: String,
    clients: Vec<ClientView>,
    next: Option<String>,
    deleted: bool,
    show_owner: bool,
    actions: &'static str,
}

pub(super) async fn list(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Response {
    let owner = query_value(query.as_deref(), "owner");
    let found = admin::page_clients(
        &*state.store,
        ClientQuery {
            owner: owner.clone(),
            cursor: query_value(query.as_deref(), "cursor"),
            limit: Some(50),
        },
    )
    .await;
    match found {
        Ok(found) => page(
            StatusCode::OK,
            ClientsPage {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                next: found
                    .next_cursor
                    .map(|c| next_link("/admin/clients", &[("owner", owner.as_deref())], &c)),
                owner: owner.unwrap_or_default(),
                clients: found.clients,
                deleted: query_value(query.as_deref(), "deleted").is_some(),
                show_owner: true,
                actions: "/admin/clients",
            }
            .render(),
        ),
        Err(e) => failed(&state, e),
    }
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    PageForm(form): PageForm<ClientAction>,
) -> Response {
    if let Err(refusal) = admin.check_csrf(&state, &form.csrf_token) {
        return refusal;
    }
    let issued = admin::rotate_client_secret(&*state.store, &admin.actor, &form.client_id).await;
    secret_shown(&state, admin.chrome, issued, "/admin/clients", false)
}

pub(super) async fn delete(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    PageForm(form): PageForm<ClientAction>,
) -> Response {
    if let Err(refusal) = admin.check_csrf(&state, &form.csrf_token) {
        return refusal;
    }
    match admin::delete_client(&*state.store, &admin.actor, &form.client_id).await {
        Ok(()) => Redirect::to("/admin/clients?deleted=1").into_response(),
        Err(e) => failed(&state, e),
    }
}
