//! `/login/upstream/NAME` and its callback: a sign-in through an upstream identity provider.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login::SignIn;
use heliogate_app::upstream::{self, Callback, Finished};

use super::ending::{count_sign_in, finish_sign_in, second_factor_redirect};
use super::next_in;
use crate::error::{app_error_page, error_page};
use crate::proxy::ClientAddr;
use crate::session::{cookie, set_cookie};
use crate::AppState;

/// The cookie path of a sign-in at a provider: only its callback reads it.
const COOKIE_PATH: &str = "/login/upstream";

fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    error_page(state, status, "Sign-in failed", message)
}

/// Sends the browser to the provider, with the sign-in's `state` in a cookie of its own.
pub(super) async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let next = next_in(query.as_deref());
    let kek = state.config.oauth.key_encryption.as_ref();
    match upstream::begin_sign_in(&state.app, kek, &state.config.issuer, &name, &next).await {
        Ok(Ok(begun)) => {
            let mut response = Redirect::to(&begun.location).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &state,
                    state.config.upstream_cookie(),
                    &begun.state,
                    COOKIE_PATH,
                    Some(upstream::STATE_SECONDS),
                ),
            );
            response
        }
        Ok(Err(failure)) => refused(&state, StatusCode::BAD_GATEWAY, &failure.to_string()),
        Err(e) => app_error_page(&state, e),
    }
}

/// The provider's answer: the user signed in (or asked for their second factor), or told why
/// not. The sign-in's cookie is cleared either way.
pub(super) async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut answer = Callback {
        browser_state: cookie(&headers, state.config.upstream_cookie()).map(str::to_owned),
        client_addr: addr.as_deref().map(String::from),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        replaces: cookie(&headers, state.config.session_cookie()).map(str::to_owned),
        ..Callback::default()
    };
    for (key, value) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        let slot = match key.as_ref() {
            "state" => &mut answer.state,
            "code" => &mut answer.code,
            "iss" => &mut answer.iss,
            "error" => &mut answer.error,
            _ => continue,
        };
        // A parameter given twice is no answer a provider sends (RFC 6749 §3.1).
        if slot.is_some() {
            answer.state = None;
            break;
        }
        *slot = Some(value.into_owned());
    }
    let kek = state.config.oauth.key_encryption.as_ref();
    let finished = upstream::finish_sign_in(
        &state.app,
        kek,
        &state.config.login,
        &state.config.issuer,
        &name,
        answer,
    )
    .await;
    let mut response = match finished {
        Ok(Finished::SignedIn {
            signed: SignIn::SecondFactor { pending_id, .. },
            next,
        }) => second_factor_redirect(&state, &pending_id, &next),
        Ok(Finished::SignedIn { signed, next }) => {
            let signed = Ok(signed);
            count_sign_in(&state, &signed);
            finish_sign_in(&state, signed, &next)
        }
        Ok(Finished::Refused(failure)) => {
            state
                .metrics
                .sign_in(crate::metrics::SignInResult::refused, false);
            refused(&state, StatusCode::FORBIDDEN, &failure.to_string())
        }
        Err(e) => app_error_page(&state, e),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            state.config.upstream_cookie(),
            "",
            COOKIE_PATH,
            Some(0),
        ),
    );
    response
}
