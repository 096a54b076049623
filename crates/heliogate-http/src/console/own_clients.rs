//! `/account/clients`: the applications a user registered for themselves.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::account::clients::{self, OwnClient};
use heliogate_app::admin::{ClientView, IssuedClient};
use heliogate_app::scopes::describe_scopes;
use heliogate_app::AppError;
use serde::Deserialize;

use super::client_form::ClientForm;
use super::{failed, lines, next_link, query_value, sign_in_again, Chrome, Fields, Member};
use crate::pages::{page, CsrfForm};
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

async fn held_scopes(state: &AppState, member: &Member) -> Result<Vec<(String, String)>, Response> {
    let read = async {
        let offered =
            clients::offered_scopes(&*state.store, &member.signed_in.session.user).await?;
        describe_scopes(&*state.store, offered.iter().map(|s| s.as_str())).await
    };
    read.await.map_err(|e| failed(state, e))
}

pub(super) async fn form(State(state): State<AppState>, member: Member) -> Response {
    match held_scopes(&state, &member).await {
        Ok(offered) => page(
            StatusCode::OK,
            ClientForm::of(member.chrome, offered, None, "/account/clients", false).render(),
        ),
        Err(refusal) => refusal,
    }
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
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let input = OwnClient {
        name: fields.get("name").trim().to_owned(),
        public: fields.get("client_type") == "public",
        redirect_uris: lines(fields.get("redirect_uris")),
        grant_types: fields.all("grant_type"),
        scopes: fields.all("scope"),
    };
    let user = &member.signed_in.session.user;
    let signed_in_at = member.signed_in.session.created_at;
    match clients::register_client(&state.app, &member.actor, user, signed_in_at, input).await {
        Err(AppError::Reauthenticate(_)) => sign_in_again("/account/clients/new"),
        Err(AppError::Invalid(message)) => match held_scopes(&state, &member).await {
            Ok(offered) => {
                let form = ClientForm::of(member.chrome, offered, None, "/account/clients", false)
                    .refused(&fields, message);
                page(StatusCode::BAD_REQUEST, form.render())
            }
            Err(refusal) => refusal,
        },
        issued => secret_shown(&state, member.chrome, issued, "/account/clients", true),
    }
}

/// A form that acts on one client: a new secret, deletion.
#[derive(Deserialize)]
pub(super) struct ClientAction {
    #[serde(default)]
    pub client_id: String,
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    member: Member,
    CsrfForm(form): CsrfForm<ClientAction>,
) -> Response {
    let user = &member.signed_in.session.user;
    let issued = clients::rotate_own_secret(&state.app, &member.actor, user, &form.client_id).await;
    secret_shown(&state, member.chrome, issued, "/account/clients", false)
}

pub(super) async fn delete(
    State(state): State<AppState>,
    member: Member,
    CsrfForm(form): CsrfForm<ClientAction>,
) -> Response {
    let user = &member.signed_in.session.user;
    match clients::delete_own_client(&state.app, &member.actor, user, &form.client_id).await {
        Ok(()) => Redirect::to("/account/clients?deleted=1").into_response(),
        Err(e) => failed(&state, e),
    }
}
