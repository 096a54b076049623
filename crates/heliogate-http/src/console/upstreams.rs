//! `/admin/upstreams`: the identity providers users sign in with (added, deleted; a file's
//! marked), and the identities linked to a user (`?user=NAME`: linked, unlinked).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::upstream::{self, AddUpstream, IdentityView, UpstreamView};
use heliogate_app::AppError;

use super::{failed, query_value, words, Chrome, ConsoleAdmin, Fields};
use crate::pages::{page, CsrfForm};
use crate::AppState;

#[derive(Template)]
#[template(path = "upstreams.html")]
struct UpstreamsPage {
    instance: String,
    chrome: Chrome,
    issuer: String,
    upstreams: Vec<UpstreamView>,
    /// The user whose identities are shown, and them.
    user: Option<(String, Vec<IdentityView>)>,
    notice: Option<&'static str>,
    /// What was refused, and the form it is about (`add`, `link`).
    error: Option<(&'static str, String)>,
}

impl UpstreamsPage {
    fn error_for(&self, form: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(about, _)| *about == form)
            .map(|(_, message)| message.as_str())
    }

    fn redirect_uri(&self, name: &str) -> String {
        upstream::callback_uri(&self.issuer, name)
    }
}

async fn render(
    state: &AppState,
    admin: ConsoleAdmin,
    status: StatusCode,
    user: Option<&str>,
    notice: Option<&'static str>,
    error: Option<(&'static str, String)>,
) -> Response {
    let ConsoleAdmin(admin) = admin;
    let read = async {
        let upstreams = upstream::list_upstreams(&*state.store).await?;
        let user = match user {
            Some(name) => {
                let found = heliogate_app::admin::show_user(&*state.store, name).await?;
                let identities = upstream::list_identities(&*state.store, &found.id).await?;
                Some((found.name, identities))
            }
            None => None,
        };
        Ok::<_, AppError>((upstreams, user))
    };
    match read.await {
        Ok((upstreams, user)) => page(
            status,
            UpstreamsPage {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                issuer: state.config.issuer.clone(),
                upstreams,
                user,
                notice,
                error,
            }
            .render(),
        ),
        Err(e) => failed(state, e),
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match query_value(query.as_deref(), "done").as_deref() {
        Some("added") => Some("The identity provider was added: register its redirect URI there."),
        Some("deleted") => Some("The identity provider was deleted, with every link through it."),
        Some("linked") => Some("The identity was linked."),
        Some("unlinked") => Some("The identity was unlinked."),
        _ => None,
    };
    let user = query_value(query.as_deref(), "user");
    render(&state, admin, StatusCode::OK, user.as_deref(), notice, None).await
}

/// A refusal shown beside its form; anything else is an error page.
async fn refused(
    state: &AppState,
    admin: ConsoleAdmin,
    form: &'static str,
    user: Option<&str>,
    e: AppError,
) -> Response {
    match e {
        AppError::Invalid(message) | AppError::Conflict(message) | AppError::NotFound(message) => {
            let error = Some((form, message));
            render(state, admin, StatusCode::BAD_REQUEST, user, None, error).await
        }
        e => failed(state, e),
    }
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

pub(super) async fn add(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let role_map = match AddUpstream::role_map_of(&words(fields.get("role_map"))) {
        Ok(map) => map,
        Err(e) => return refused(&state, admin, "add", None, e).await,
    };
    let add = AddUpstream {
        name: fields.get("name").trim().to_owned(),
        preset: optional(fields.get("preset")),
        issuer: fields.get("issuer").trim().to_owned(),
        client_id: fields.get("client_id").trim().to_owned(),
        client_secret: optional(fields.get("client_secret")),
        scopes: words(fields.get("scopes")),
        display_name: optional(fields.get("display_name")),
        provision: optional(fields.get("provision")),
        default_roles: words(fields.get("default_roles")),
        role_claim: optional(fields.get("role_claim")),
        role_map,
        trust_mfa: fields.get("trust_mfa") == "1",
        managed_by: None,
    };
    let kek = state.config.oauth.key_encryption.as_ref();
    match upstream::add_upstream(&state.app, kek, &admin.0.actor, &add).await {
        Ok(_) => Redirect::to("/admin/upstreams?done=added").into_response(),
        Err(e) => refused(&state, admin, "add", None, e).await,
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let name = fields.get("name").to_owned();
    match upstream::delete_upstream(&state.app, &admin.0.actor, &name).await {
        Ok(()) => Redirect::to("/admin/upstreams?done=deleted").into_response(),
        Err(e) => failed(&state, e),
    }
}

fn user_page(user: &str, done: &str) -> String {
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    format!("/admin/upstreams?user={user}&done={done}")
}

pub(super) async fn link(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let (user, name, subject) = (
        fields.get("user"),
        fields.get("upstream"),
        fields.get("subject"),
    );
    match upstream::link_identity(&state.app, &admin.0.actor, user, name, subject.trim()).await {
        Ok(_) => Redirect::to(&user_page(user, "linked")).into_response(),
        Err(e) => {
            refused(
                &state,
                admin,
                "link",
                Some(user).filter(|u| !u.is_empty()),
                e,
            )
            .await
        }
    }
}

pub(super) async fn unlink(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let (user, name, subject) = (
        fields.get("user"),
        fields.get("upstream"),
        fields.get("subject"),
    );
    match upstream::unlink_identity(&state.app, &admin.0.actor, user, name, subject).await {
        Ok(()) => Redirect::to(&user_page(user, "unlinked")).into_response(),
        Err(e) => failed(&state, e),
    }
}
