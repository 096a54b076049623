//! Browser sessions over HTTP: cookies, the `SignedIn` extractor that every signed-in page
//! takes, and the CSRF check of its forms.
//!
//! A page that needs a user takes `SignedIn` as an argument; there is no other way to reach
//! the session, so no handler can forget the check. A form handler then calls
//! `SignedIn::check_csrf` with the token its form carried: the synchronizer token stored with
//! the session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login;
use heliogate_store::Session;
use subtle::ConstantTimeEq;

use crate::error::{app_error_page, error_page};
use crate::AppState;

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Secure` when the issuer is https; with
/// `max_age` of `Some(0)` it deletes the cookie.
pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if state.config.secure_cookies() {
        cookie.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Constant-time equality of two tokens; an empty token never matches.
pub(crate) fn tokens_match(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// The signed-in user of this request, with their live session.
pub struct SignedIn {
    pub session: Session,
    /// The raw id from the cookie, to end or keep this session.
    pub session_id: String,
}

impl SignedIn {
    /// Refuses a form whose CSRF token is not this session's: 403, nothing changed.
    #[allow(clippy::result_large_err)] // a rejection is a full response by design
    pub fn check_csrf(&self, state: &AppState, presented: &str) -> Result<(), Response> {
        if tokens_match(&self.session.csrf_token, presented) {
            Ok(())
        } else {
            Err(csrf_refusal(state))
        }
    }
}

pub(crate) fn csrf_refusal(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form has expired or did not come from this site. Go back, reload the page and try again.",
    )
}

/// The sign-in page, coming back to `next` afterwards.
pub(crate) fn login_location(next: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/login?next={encoded}")
}

/// Where a stranger is sent: the sign-in page, coming back here afterwards.
fn to_login(parts: &Parts) -> String {
    let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    login_location(if parts.method == axum::http::Method::GET {
        here
    } else {
        "/"
    })
}

/// The signed-in user of a request, if any: for pages that serve strangers too.
pub(crate) async fn optional_session(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<SignedIn>, Response> {
    let Some(session_id) = cookie(headers, state.config.session_cookie()).map(str::to_owned) else {
        return Ok(None);
    };
    match login::current_session(&*state.store, &state.config.login, &session_id).await {
        Ok(session) => Ok(session.map(|session| SignedIn {
            session,
            session_id,
        })),
        Err(e) => Err(app_error_page(state, e)),
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let name = state.config.session_cookie();
        let Some(session_id) = cookie(&parts.headers, name).map(str::to_owned) else {
            return Err(Redirect::to(&to_login(parts)).into_response());
        };
        match login::current_session(&*state.store, &state.config.login, &session_id).await {
            Ok(Some(session)) => {
                // For the form that may follow (`CsrfForm`).
                parts
                    .extensions
                    .insert(SessionCsrf(session.csrf_token.clone()));
                Ok(SignedIn {
                    session,
                    session_id,
                })
            }
            Ok(None) => {
                let mut response = Redirect::to(&to_login(parts)).into_response();
                response.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(state, name, "", "/", Some(0)),
                );
                Err(response)
            }
            Err(e) => Err(app_error_page(state, e)),
        }
    }
}

/// The session's CSRF token, left in the request by the extractor that found the session.
#[derive(Clone)]
pub(crate) struct SessionCsrf(pub String);
