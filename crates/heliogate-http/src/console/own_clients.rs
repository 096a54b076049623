//! `/account/clients`: the applications a user registered for themselves.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::account::clients::{self, OwnClient};
use heliogate_app::admin::{ClientView, IssuedClient};
use heliogate_app::AppError;
use serde::Deserialize;

use super::{failed, field_of, lines, next_link, query_value, Chrome, Fields, Member};
use crate::pages::{page, PageForm};
use crate::AppState;

#[derive(Template)]
#[template(path = "own_clients.html")]
struct ClientsPage {
    instance: String,
    chrome: Chrome,
    clients: Vec<ClientView>,
    next: Option<String>,
    deleted: bool,
    show_owner: bool,
    /// Where the rows' forms post (`…/secret`, `…/delete`).
    actions: &'static str,
}

pub(super) async fn list(
    State(state): State<AppState>,
    member: Member,
    RawQuery(query): RawQuery,
) -> Response {
    let user = &member.signed_in.session.user;
    let cursor = query_value(query.as_deref(), "cursor");
    match clients::own_clients(&*state.store, user, cursor).await {
        Ok(found) => page(
            StatusCode::OK,
            ClientsPage {
                instance: member.chrome.instance.clone(),
                chrome: member.chrome,
                next: found
                    .next_cursor
                    .map(|c| next_link("/account/clients", &[], &c)),
                clients: found.clients,
                deleted: query_value(query.as_deref(), "deleted").is_some(),
                show_owner: false,
                actions: "/account/clients",
            }
            .render(),
        ),
        Err(e) => failed(&state, e),
    }
}

/// The registration form, as first shown or as sent back with what was wrong.
#[derive(Template)]
#[template(path = "own_client_form.html")]
struct ClientForm {
    instance: String,
    chrome: Chrome,
    /// The scopes an application of the user's may have: theirs, and OpenID Connect's.
    held: Vec<String>,
    name: String,
    public: bool,
    redirect_uris: String,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    error: Option<String>,
    /// The field `error` is about: `name`, `redirect_uris`, `grant_types` or `scopes`.
    error_field: Option<&'static str>,
}

impl ClientForm {
    fn has_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn error_on(&self, field: &str) -> bool {
        self.error.is_some() && self.error_field == Some(field)
    }
}

async fn held_scopes(state: &AppState, member: &Member) -> Result<Vec<String>, Response> {
    clients::offered_scopes(&*state.store, &member.signed_in.session.user)
        .await
        .map(|s| s.to_vec())
        .map_err(|e| failed(state, e))
}

pub(super) async fn form(State(state): State<AppState>, member: Member) -> Response {
    let held = match held_scopes(&state, &member).await {
        Ok(held) => held,
        Err(refusal) => return refusal,
    };
    page(
        StatusCode::OK,
        ClientForm {
            instance: member.chrome.instance.clone(),
            chrome: member.chrome,
            held,
            name: String::new(),
            public: false,
            redirect_uris: String::new(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: Vec::new(),
            error: None,
            error_field: None,
        }
        .render(),
    )
}

/// The page that shows a new secret, once.
#[derive(Template)]
#[template(path = "client_secret.html")]
struct SecretPage {
    instance: String,
    chrome: Chrome,
    issued: IssuedClient,
    /// Where the page leads back to.
    back: &'static str,
    /// A new client, or a new secret for one.
    created: bool,
}

/// The answer to a registration or a new secret: the page that shows the secret once, or the
/// error page.
pub(super) fn secret_shown(
    state: &AppState,
    chrome: Chrome,
    issued: Result<IssuedClient, AppError>,
    back: &'static str,
    created: bool,
) -> Response {
    match issued {
        Ok(issued) => page(
            StatusCode::OK,
            SecretPage {
                instance: chrome.instance.clone(),
                chrome,
                issued,
                back,
                created,
            }
            .render(),
        ),
        Err(e) => failed(state, e),
    }
}

pub(super) async fn register(
    State(state): State<AppState>,
    member: Member,
    PageForm(fields): PageForm<Fields>,
) -> Response {
    if let Err(refusal) = member.check_csrf(&state, fields.get("csrf_token")) {
        return refusal;
    }
    let input = OwnClient {
        name: fields.get("name").trim().to_owned(),
        public: fields.get("client_type") == "public",
        redirect_uris: lines(fields.get("redirect_uris")),
        grant_types: fields.all("grant_type"),
        scopes: fields.all("scope"),
    };
    let user = &member.signed_in.session.user;
    match clients::register_client(&*state.store, &member.actor, user, input.clone()).await {
        Err(AppError::Invalid(message)) => {
            let held = match held_scopes(&state, &member).await {
                Ok(held) => held,
                Err(refusal) => return refusal,
            };
            let error_field = field_of(
                &message,
                &[
                    ("redirect_uris", "redirect"),
                    ("grant_types", "grant"),
                    ("scopes", "scope"),
                    ("name", "name"),
                ],
            );
            page(
                StatusCode::BAD_REQUEST,
                ClientForm {
                    instance: member.chrome.instance.clone(),
                    chrome: member.chrome,
                    held,
                    name: input.name,
                    public: input.public,
                    redirect_uris: input.redirect_uris.join("\n"),
                    grant_types: input.grant_types,
                    scopes: input.scopes,
                    error: Some(message),
                    error_field,
                }
                .render(),
            )
        }
        issued => secret_shown(&state, member.chrome, issued, "/account/clients", true),
    }
}

/// A form that acts on one client: a new secret, deletion.
#[derive(Deserialize)]
pub(super) struct ClientAction {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub client_id: String,
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    member: Member,
    PageForm(form): PageForm<ClientAction>,
) -> Response {
    if let Err(refusal) = member.check_csrf(&state, &form.csrf_token) {
        return refusal;
    }
    let user = &member.signed_in.session.user;
    let issued =
        clients::rotate_own_secret(&*state.store, &member.actor, user, &form.client_id).await;
    secret_shown(&state, member.chrome, issued, "/account/clients", false)
}

pub(super) async fn delete(
    State(state): State<AppState>,
    member: Member,
    PageForm(form): PageForm<ClientAction>,
) -> Response {
    if let Err(refusal) = member.check_csrf(&state, &form.csrf_token) {
        return refusal;
    }
    let user = &member.signed_in.session.user;
    match clients::delete_own_client(&*state.store, &member.actor, user, &form.client_id).await {
        Ok(()) => Redirect::to("/account/clients?deleted=1").into_response(),
        Err(e) => failed(&state, e),
    }
}
