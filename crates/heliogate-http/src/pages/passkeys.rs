//! The passkey ceremonies behind `passkeys.js`: registering one on the account page, using one
//! as the second factor after the password, and signing in with one alone. Each is two JSON
//! posts (options, then the authenticator's answer), each carrying the page's token in
//! `X-CSRF-Token`: the session's, the pending sign-in's tag, or the sign-in form's tag.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use heliogate_app::login::{self, FactorStep, PasskeySignIn, Proof, SignIn};
use heliogate_app::passkeys;
use heliogate_app::AppError;
use heliogate_core::safe_next;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::ending::{count_sign_in, finish_sign_in};
use super::login::LOGIN_FORM;
use super::second_factor::FACTOR_FORM;
use super::CsrfForm;
use crate::error::app_error_page;
use crate::proxy::ClientAddr;
use crate::session::{cookie, csrf_refusal, tokens_match, SignedIn};
use crate::AppState;

/// A JSON answer the script shows: `{"error": …}` with a status.
fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A failed use case as the one table answers it (`error::Answer`), in the shape the script
/// reads.
fn answer_error(e: AppError) -> Response {
    let answer = crate::error::Answer::of(&e);
    answer.finish(refusal(answer.status, &answer.message))
}

/// What every passkey request answers when passkeys cannot be used here.
fn no_passkeys() -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "Passkeys need heliogate to be reached by a domain name.",
    )
}

fn csrf_header(headers: &HeaderMap) -> &str {
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn forbidden() -> Response {
    refusal(StatusCode::FORBIDDEN, "Reload the page and try again.")
}

/// A sign-in that ended, as the script takes it: the cookies of `finish_sign_in`, and where
/// to go in the body instead of a redirect.
fn signed_in_answer(state: &AppState, signed: Result<SignIn, AppError>, next: &str) -> Response {
    match signed {
        Ok(SignIn::Refused { .. }) => {
            refusal(StatusCode::UNAUTHORIZED, "That passkey was not accepted.")
        }
        Ok(SignIn::Throttled { retry_after }) => refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed attempts. Try again in {retry_after} seconds."),
        ),
        Err(e) => answer_error(e),
        other => {
            let redirected = finish_sign_in(state, other, next);
            let to = redirected
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("/")
                .to_owned();
            let mut response = Json(json!({ "redirect": to })).into_response();
            for cookie in redirected.headers().get_all(header::SET_COOKIE) {
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, cookie.clone());
            }
            response
        }
    }
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

// Registering, on the account page.

pub(super) async fn registration_options(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
) -> Response {
    if !tokens_match(&signed_in.session.csrf_token, csrf_header(&headers)) {
        return forbidden();
    }
    let Some(rp) = state.config.passkeys.as_deref() else {
        return no_passkeys();
    };
    match passkeys::begin_registration(&*state.store, rp, &signed_in.session.user).await {
        Ok((ceremony, options)) => {
            Json(json!({ "ceremony": ceremony, "options": options })).into_response()
        }
        Err(e) => answer_error(e),
    }
}

#[derive(Deserialize)]
pub(super) struct Registration {
    ceremony: String,
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

pub(super) async fn register(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    headers: HeaderMap,
    Json(registration): Json<Registration>,
) -> Response {
    if !tokens_match(&signed_in.session.csrf_token, csrf_header(&headers)) {
        return forbidden();
    }
    let Some(rp) = state.config.passkeys.as_deref() else {
        return no_passkeys();
    };
    match passkeys::finish_registration(
        &*state.store,
        rp,
        &signed_in.session.user,
        &registration.ceremony,
        &registration.name,
        &registration.credential,
        addr.as_deref(),
    )
    .await
    {
        Ok(()) => Json(json!({ "redirect": "/?passkey=added" })).into_response(),
        Err(e) => answer_error(e),
    }
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    credential_id: String,
}

pub(super) async fn remove(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> Response {
    let user = &signed_in.session.user;
    match passkeys::remove(&*state.store, user, &form.credential_id, addr.as_deref()).await {
        Ok(_) => Redirect::to("/?passkey=removed").into_response(),
        Err(e) => app_error_page(&state, e),
    }
}

// The second factor after a password.

/// The pending sign-in the browser holds, if its token is the one its page carried.
fn pending<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    let pending = cookie(headers, state.config.mfa_cookie())?;
    state
        .config
        .server_key
        .verify(FACTOR_FORM, pending, csrf_header(headers))
        .then_some(pending)
}

pub(super) async fn second_factor_options(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let Some(pending_id) = pending(&state, &headers) else {
        return forbidden();
    };
    let Some(rp) = state.config.passkeys.as_deref() else {
        return no_passkeys();
    };
    let store = &*state.store;
    let user = match login::pending_user(store, pending_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return refusal(StatusCode::UNAUTHORIZED, "Sign in again."),
        Err(e) => return answer_error(e),
    };
    match passkeys::begin_authentication(store, rp, &user).await {
        Ok(Some((ceremony, options))) => {
            Json(json!({ "ceremony": ceremony, "options": options })).into_response()
        }
        Ok(None) => refusal(StatusCode::NOT_FOUND, "You have no passkey."),
        Err(e) => answer_error(e),
    }
}

#[derive(Deserialize)]
pub(super) struct Assertion {
    ceremony: String,
    credential: Box<PublicKeyCredential>,
    #[serde(default)]
    next: String,
}

pub(super) async fn second_factor(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Json(assertion): Json<Assertion>,
) -> Response {
    let Some(pending_id) = pending(&state, &headers) else {
        return forbidden();
    };
    let next = safe_next(Some(&assertion.next));
    let step = FactorStep {
        pending_id: pending_id.to_owned(),
        proof: Proof::Passkey {
            ceremony: assertion.ceremony,
            credential: assertion.credential,
        },
        client_addr: addr.as_deref().map(String::from),
        user_agent: user_agent(&headers),
        replaces: cookie(&headers, state.config.session_cookie()).map(str::to_owned),
    };
    let kek = state.config.oauth.key_encryption.as_ref();
    let rp = state.config.passkeys.as_deref();
    let signed = login::complete_sign_in(&*state.store, &state.config.login, kek, rp, step).await;
    count_sign_in(&state, &signed);
    signed_in_answer(&state, signed, &next)
}

// Signing in with a passkey alone.

/// Whether the sign-in form's token, bound to the browser's pre-login cookie, came along.
fn from_the_sign_in_form(state: &AppState, headers: &HeaderMap) -> bool {
    cookie(headers, state.config.pre_login_cookie()).is_some_and(|id| {
        state
            .config
            .server_key
            .verify(LOGIN_FORM, id, csrf_header(headers))
    })
}

pub(super) async fn sign_in_options(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !from_the_sign_in_form(&state, &headers) {
        return forbidden();
    }
    let Some(rp) = state.config.passkeys.as_deref() else {
        return no_passkeys();
    };
    match passkeys::begin_sign_in(rp) {
        Ok((ceremony, options)) => {
            Json(json!({ "ceremony": ceremony, "options": options })).into_response()
        }
        Err(e) => answer_error(e),
    }
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Json(assertion): Json<Assertion>,
) -> Response {
    if !from_the_sign_in_form(&state, &headers) {
        return csrf_refusal(&state);
    }
    let Some(rp) = state.config.passkeys.as_deref() else {
        return no_passkeys();
    };
    let next = safe_next(Some(&assertion.next));
    let attempt = PasskeySignIn {
        ceremony: assertion.ceremony,
        credential: assertion.credential,
        client_addr: addr.as_deref().map(String::from),
        user_agent: user_agent(&headers),
        replaces: cookie(&headers, state.config.session_cookie()).map(str::to_owned),
    };
    let signed = login::sign_in_with_passkey(&*state.store, &state.config.login, rp, attempt).await;
    count_sign_in(&state, &signed);
    signed_in_answer(&state, signed, &next)
}
