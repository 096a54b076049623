//! The web console: signed-in users look after their own applications and sessions
//! (`/account/…`), administrators manage users, roles, clients and read the audit log
//! (`/admin/…`). Server-rendered pages on the use cases the CLI and the administration API
//! call; every form carries the session's CSRF token; no page needs a script.

mod admin_clients;
mod audit;
mod client_form;
mod own_clients;
mod own_sessions;
mod own_tokens;
mod roles;
mod upstreams;
mod users;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use heliogate_app::scopes::scopes_of;
use heliogate_app::{Actor, AppError};

use crate::error::{app_error_page, error_page};
use crate::proxy::ClientAddr;
use crate::session::{login_location, SignedIn};
use crate::AppState;

/// The scope that opens `/admin/`.
const ADMIN: &str = "admin";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/account/clients",
            get(own_clients::list).post(own_clients::register),
        )
        .route("/account/clients/new", get(own_clients::form))
        .route("/account/clients/secret", post(own_clients::rotate))
        .route("/account/clients/delete", post(own_clients::delete))
        .route(
            "/account/tokens",
            get(own_tokens::list).post(own_tokens::create),
        )
        .route("/account/tokens/revoke", post(own_tokens::revoke))
        .route("/account/sessions", get(own_sessions::list))
        .route("/account/sessions/end", post(own_sessions::end))
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(audit::home))
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/new", get(users::form))
        .route("/admin/users/{name}", get(users::show))
        .route("/admin/users/{name}/change", post(users::change))
        .route("/admin/users/{name}/password", post(users::password))
        .route("/admin/users/{name}/delete", post(users::delete))
        .route("/admin/users/{name}/sessions/end", post(users::end_session))
        .route(
            "/admin/users/{name}/tokens/revoke",
            post(users::revoke_tokens),
        )
        .route(
            "/admin/users/{name}/tokens/revoke-one",
            post(users::revoke_token),
        )
        .route(
            "/admin/users/{name}/consents/revoke",
            post(users::revoke_consent),
        )
        .route("/admin/roles", get(roles::list).post(roles::create))
        .route("/admin/roles/{name}", post(roles::change))
        .route("/admin/roles/{name}/delete", post(roles::delete))
        .route("/admin/scopes", post(roles::describe))
        .route(
            "/admin/clients",
            get(admin_clients::list).post(admin_clients::create),
        )
        .route("/admin/clients/new", get(admin_clients::new_form))
        .route(
            "/admin/clients/edit",
            get(admin_clients::edit_form).post(admin_clients::change),
        )
        .route("/admin/clients/secret", post(admin_clients::rotate))
        .route("/admin/clients/delete", post(admin_clients::delete))
        .route("/admin/audit", get(audit::list))
        .route(
            "/admin/upstreams",
            get(upstreams::list).post(upstreams::add),
        )
        .route("/admin/upstreams/delete", post(upstreams::delete))
        .route("/admin/upstreams/link", post(upstreams::link))
        .route("/admin/upstreams/unlink", post(upstreams::unlink))
}

/// What every console page shows around its content: who is signed in, their form token, and
/// whether the administrators' part is theirs.
pub(crate) struct Chrome {
    pub instance: String,
    pub csrf_token: String,
    pub user: String,
    pub is_admin: bool,
}

impl Chrome {
    async fn of(state: &AppState, signed_in: &SignedIn) -> Result<Self, Response> {
        let user = &signed_in.session.user;
        let held = scopes_of(&*state.store, user)
            .await
            .map_err(|e| app_error_page(state, e))?;
        Ok(Self {
            instance: state.config.instance_name.clone(),
            csrf_token: signed_in.session.csrf_token.clone(),
            user: user.name.clone(),
            is_admin: held.contains(ADMIN),
        })
    }
}

/// A signed-in user on their own pages: their session, the chrome and who the audit log
/// names.
pub(crate) struct Member {
    pub signed_in: SignedIn,
    pub chrome: Chrome,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        // A printed password is replaced before anything else is done with the account.
        if signed_in.session.user.must_change_password {
            return Err(Redirect::to("/").into_response());
        }
        let chrome = Chrome::of(state, &signed_in).await?;
        let ClientAddr(addr) = ClientAddr::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientAddr(None));
        let actor = Actor {
            name: signed_in.session.user.name.clone(),
            client_addr: addr.as_deref().map(String::from),
        };
        Ok(Member {
            signed_in,
            chrome,
            actor,
        })
    }
}

/// An administrator in the console: a member whose roles hold `admin` (403 otherwise) and who
/// signed in less than `HELIOGATE_ADMIN_REAUTH` seconds ago (asked to sign in again
/// otherwise, and nothing is done).
pub(crate) struct ConsoleAdmin(pub Member);

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let member = Member::from_request_parts(parts, state).await?;
        if !member.chrome.is_admin {
            return Err(error_page(
                state,
                StatusCode::FORBIDDEN,
                "Not allowed",
                "These pages are for administrators: your roles do not give you the admin scope.",
            ));
        }
        if !state
            .app
            .signed_in_recently(member.signed_in.session.created_at)
        {
            // A form is not replayed after the sign-in: its page is shown again instead.
            let next = if parts.method == Method::GET {
                parts.uri.path_and_query().map_or("/admin/", |p| p.as_str())
            } else {
                "/admin/"
            };
            return Err(sign_in_again(next));
        }
        Ok(ConsoleAdmin(member))
    }
}

/// The sign-in page for a sign-in too old for what was asked, coming back to `next`.
pub(crate) fn sign_in_again(next: &str) -> Response {
    let location = login_location(next).replacen("/login?", "/login?again=1&", 1);
    Redirect::to(&location).into_response()
}

/// The page for a use case that failed on a console form: a refusal of the input goes back to
/// the form by the caller; anything else is an error page.
pub(crate) fn failed(state: &AppState, e: AppError) -> Response {
    app_error_page(state, e)
}

/// A query's value for `name`, if given and not empty.
pub(crate) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.into_owned())
    })
}

/// A link to the page after this one: `path?…&cursor=…` keeping the other parameters.
pub(crate) fn next_link(path: &str, params: &[(&str, Option<&str>)], cursor: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    query.append_pair("cursor", cursor);
    format!("{path}?{}", query.finish())
}

/// A time in seconds since the epoch as a page shows it: `2026-11-29 14:05 UTC`.
pub(crate) fn when(at: i64) -> String {
    let Ok(seconds) = u64::try_from(at) else {
        return at.to_string();
    };
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    let text = humantime::format_rfc3339_seconds(time).to_string();
    // 2026-11-29T14:05:09Z → 2026-11-29 14:05 UTC
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(minute)) => format!("{day} {minute} UTC"),
        _ => text,
    }
}

/// Lines of a text area, trimmed, without the empty ones.
pub(crate) fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Words of a field, separated by spaces or commas.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A form's fields as sent, for forms with repeated names (check boxes).
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every non-empty value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Which field of a form an error of the use case is about, from its words; `None` puts it at
/// the top of the form.
pub(crate) fn field_of(message: &str, fields: &[(&'static str, &str)]) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    fields
        .iter()
        .find(|(_, word)| lower.contains(word))
        .map(|(field, _)| *field)
}
