//! `/admin/clients`: every client, with its owner; registered, changed, given a new secret,
//! deleted.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::admin::{self, AddClient, Changed, ClientChange, ClientQuery, ClientView};
use heliogate_app::scopes::describe_scopes;
use heliogate_app::AppError;

use super::client_form::ClientForm;
use super::own_clients::{secret_shown, ClientAction};
use super::{failed, lines, next_link, query_value, Chrome, ConsoleAdmin, Fields};
use crate::pages::{page, CsrfForm};
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
    changed: bool,
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
                changed: query_value(query.as_deref(), "changed").is_some(),
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
    CsrfForm(form): CsrfForm<ClientAction>,
) -> Response {
    let issued = admin::rotate_client_secret(&state.app, &admin.actor, &form.client_id).await;
    secret_shown(&state, admin.chrome, issued, "/admin/clients", false)
}

pub(super) async fn delete(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    CsrfForm(form): CsrfForm<ClientAction>,
) -> Response {
    match admin::delete_client(&state.app, &admin.actor, &form.client_id).await {
        Ok(()) => Redirect::to("/admin/clients?deleted=1").into_response(),
        Err(e) => failed(&state, e),
    }
}

async fn known_scopes(state: &AppState) -> Result<Vec<(String, String)>, AppError> {
    let known = heliogate_app::scopes::known_scopes(&*state.store).await?;
    describe_scopes(&*state.store, known.iter().map(|s| s.as_str())).await
}

pub(super) async fn new_form(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
) -> Response {
    match known_scopes(&state).await {
        Ok(known) => page(
            StatusCode::OK,
            ClientForm::of(admin.chrome, known, None, "/admin/clients", true).render(),
        ),
        Err(e) => failed(&state, e),
    }
}

pub(super) async fn edit_form(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Response {
    let id = query_value(query.as_deref(), "id").unwrap_or_default();
    let read = async {
        let client = admin::show_client(&*state.store, &id).await?;
        Ok::<_, AppError>((client, known_scopes(&state).await?))
    };
    match read.await {
        Ok((client, known)) => page(
            StatusCode::OK,
            ClientForm::of(
                admin.chrome,
                known,
                Some(client),
                "/admin/clients/edit",
                true,
            )
            .render(),
        ),
        Err(e) => failed(&state, e),
    }
}

/// What the form says of the settings both a new and a changed client have.
fn flag(fields: &Fields, name: &str) -> bool {
    fields.get(name) == "1"
}

pub(super) async fn create(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let input = AddClient {
        name: fields.get("name").trim().to_owned(),
        redirect_uris: lines(fields.get("redirect_uris")),
        public: fields.get("client_type") == "public",
        grant_types: fields.all("grant_type"),
        scopes: fields.all("scope"),
        owner: Some(fields.get("owner").trim().to_owned()).filter(|o| !o.is_empty()),
        introspect: flag(&fields, "introspect"),
        trusted: flag(&fields, "trusted"),
        pkce_optional: flag(&fields, "pkce_optional"),
        require_par: flag(&fields, "require_par"),
        require_dpop: flag(&fields, "require_dpop"),
        backchannel_logout_uri: Some(fields.get("backchannel_logout_uri").trim().to_owned()),
        ..AddClient::default()
    };
    match admin::add_client(&*state.store, &admin.actor, input).await {
        Err(AppError::Invalid(message) | AppError::NotFound(message)) => {
            let known = match known_scopes(&state).await {
                Ok(known) => known,
                Err(e) => return failed(&state, e),
            };
            let form = ClientForm::of(admin.chrome, known, None, "/admin/clients", true)
                .refused(&fields, message);
            page(StatusCode::BAD_REQUEST, form.render())
        }
        issued => secret_shown(&state, admin.chrome, issued, "/admin/clients", true),
    }
}

pub(super) async fn change(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let mut read = match admin::show_client(&*state.store, fields.get("client_id")).await {
        Ok(read) => read,
        Err(e) => return failed(&state, e),
    };
    let current = read.clone();
    // The version the form showed: a change made since is not overwritten.
    read.updated_at = fields.get("read_updated_at").parse().unwrap_or(-1);
    let change = ClientChange {
        name: Some(fields.get("name").trim().to_owned()),
        redirect_uris: Some(lines(fields.get("redirect_uris"))),
        grant_types: Some(fields.all("grant_type")),
        scopes: Some(fields.all("scope")),
        introspect: Some(flag(&fields, "introspect")),
        trusted: Some(flag(&fields, "trusted")),
        pkce_optional: Some(flag(&fields, "pkce_optional")),
        require_par: Some(flag(&fields, "require_par")),
        require_dpop: Some(flag(&fields, "require_dpop")),
        backchannel_logout_uri: Some(fields.get("backchannel_logout_uri").trim().to_owned()),
        ..ClientChange::default()
    };
    let message = match admin::change_client(&state.app, &admin.actor, &read, change).await {
        Ok(Changed::Done(_)) => {
            return Redirect::to("/admin/clients?changed=1").into_response();
        }
        Ok(Changed::Stale) => {
            "someone changed this client since the form was shown: here it is as it is now".into()
        }
        Err(AppError::Invalid(message)) => message,
        Err(e) => return failed(&state, e),
    };
    let known = match known_scopes(&state).await {
        Ok(known) => known,
        Err(e) => return failed(&state, e),
    };
    let form = ClientForm::of(
        admin.chrome,
        known,
        Some(current),
        "/admin/clients/edit",
        true,
    )
    .refused(&fields, message);
    page(StatusCode::BAD_REQUEST, form.render())
}
