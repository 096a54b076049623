//! Server-rendered pages: sign-in, the account page, errors. Templates sit beside the code
//! that renders them; one stylesheet; one script, for passkeys (the pages work without it).

mod account;
mod ending;
mod login;
mod mfa;
mod passkeys;
mod second_factor;
mod upstream;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::de::DeserializeOwned;

use crate::error::error_page;
pub(crate) use crate::html::{form_redirecting_to, page};
use crate::session::{csrf_refusal, tokens_match, SessionCsrf};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/login", get(login::form).post(login::submit))
        .route(
            "/login/second-factor",
            get(second_factor::form).post(second_factor::submit),
        )
        .route("/account/totp", get(mfa::setup).post(mfa::confirm))
        .route("/account/recovery-codes", post(mfa::recovery_codes))
        .route("/account/mfa/remove", post(mfa::remove))
        .route("/logout", post(login::logout))
        .route(
            "/account/passkeys/options",
            post(passkeys::registration_options),
        )
        .route("/account/passkeys", post(passkeys::register))
        .route("/account/passkeys/remove", post(passkeys::remove))
        .route(
            "/login/second-factor/passkey/options",
            post(passkeys::second_factor_options),
        )
        .route(
            "/login/second-factor/passkey",
            post(passkeys::second_factor),
        )
        .route("/login/passkey/options", post(passkeys::sign_in_options))
        .route("/login/passkey", post(passkeys::sign_in))
        .route("/login/upstream/{name}", get(upstream::start))
        .route("/login/upstream/{name}/callback", get(upstream::callback))
        .route("/account/identities/remove", post(account::remove_identity))
        .route("/static/heliogate.css", get(stylesheet))
        .route("/static/passkeys.js", get(script))
}

/// Where to go after signing in: the query's `next`, if it is a path of ours.
pub(crate) fn next_in(query: Option<&str>) -> String {
    let next = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned())
    });
    heliogate_core::safe_next(next.as_deref())
}

/// A QR code of `text` as an inline SVG element (no script, no image request: the strict CSP
/// holds).
pub(crate) fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build();
            // The XML declaration has no place inside HTML.
            svg.find("<svg")
                .map_or(svg.clone(), |at| svg[at..].to_owned())
        }
        Err(_) => String::new(),
    }
}

/// A form body for a page: a malformed body, a wrong content type or an oversized request is
/// answered with a 400 page instead of a bare text error.
pub(crate) struct PageForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = form_bytes(req, state).await?;
        Ok(PageForm(decode_form(state, parts, bytes).await?))
    }
}

/// The form of a signed-in page that changes something: its `csrf_token` must be the session's
/// (`SessionCsrf`, left by `SignedIn`, `Member` or `ConsoleAdmin`, which come before it), or
/// the form is refused with 403 and nothing is done. The one way a page checks its token.
pub(crate) struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let expected = req.extensions().get::<SessionCsrf>().cloned();
        let (parts, bytes) = form_bytes(req, state).await?;
        let presented = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        match expected {
            Some(SessionCsrf(expected)) if tokens_match(&expected, &presented) => {}
            _ => return Err(csrf_refusal(state)),
        }
        Ok(CsrfForm(decode_form(state, parts, bytes).await?))
    }
}

/// A form with nothing but its token (which `CsrfForm` checks).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfOnly {}

/// A form's bytes, once: refused (a 400 page) when unreadable, too large, or holding a control
/// character in any field (a NUL byte, a line break) — before any of it reaches a rule, the
/// store or the log.
async fn form_bytes(
    req: Request,
    state: &AppState,
) -> Result<(axum::http::request::Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), state).await {
        Ok(bytes) => bytes,
        Err(rejection) => return Err(unreadable_form(state, rejection.status())),
    };
    let clean = url::form_urlencoded::parse(&bytes)
        .all(|(k, v)| !k.chars().chain(v.chars()).any(char::is_control));
    if !clean {
        tracing::info!("form refused: control characters");
        return Err(unreadable_form(state, StatusCode::BAD_REQUEST));
    }
    Ok((parts, bytes))
}

/// A form's fields as `T`.
async fn decode_form<T: DeserializeOwned + Send>(
    state: &AppState,
    parts: axum::http::request::Parts,
    bytes: Bytes,
) -> Result<T, Response> {
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    match Form::<T>::from_request(req, state).await {
        Ok(Form(value)) => Ok(value),
        Err(rejection) => {
            let status = rejection.status();
            tracing::info!(%status, reason = %rejection.body_text(), "form refused");
            let status = if status == StatusCode::PAYLOAD_TOO_LARGE {
                status
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(unreadable_form(state, status))
        }
    }
}

fn unreadable_form(state: &AppState, status: StatusCode) -> Response {
    error_page(
        state,
        status,
        "Not accepted",
        "The form could not be read. Go back and try again.",
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("passkeys.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("heliogate.css"),
    )
}
