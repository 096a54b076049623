//! `/login/second-factor`: the step after the password for a user with a second factor, or
//! the enrolment a role requires of a user without one. The browser holds the pending sign-in
//! in a cookie of its own; the form's token is that id's tag under the installation's key, as
//! on the sign-in form.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login::{self, FactorStep, Proof, SignIn};
use heliogate_core::safe_next;
use serde::Deserialize;

use super::ending::{count_sign_in, finish_sign_in, retry_after_header, throttled_message};
use super::{next_in, page, qr_svg, PageForm};
use crate::error::app_error_page;
use crate::proxy::ClientAddr;
use crate::session::{cookie, csrf_refusal};
use crate::AppState;

pub(super) const FACTOR_FORM: &str = "second-factor-form";

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    instance: &'a str,
    csrf_token: &'a str,
    next: &'a str,
    /// Set when the user sets up an authenticator app here: its QR code and secret.
    enrolment: Option<(String, String)>,
    /// The user has a passkey to give instead of a code.
    passkey: bool,
    error: Option<String>,
}

/// The page for the pending sign-in `pending_id`, or back to the start when it is gone.
async fn render(
    state: &AppState,
    status: StatusCode,
    pending_id: &str,
    next: &str,
    error: Option<String>,
) -> Response {
    let kek = state.config.oauth.key_encryption.as_ref();
    let instance = &state.config.instance_name;
    let offer = match login::factor_page(&*state.store, kek, instance, pending_id).await {
        Ok(Some(offer)) => offer,
        Ok(None) => return finish_sign_in(state, Ok(SignIn::PendingExpired), next),
        Err(e) => return app_error_page(state, e),
    };
    let html = SecondFactorPage {
        instance,
        csrf_token: &state.config.server_key.tag(FACTOR_FORM, pending_id),
        next,
        enrolment: offer.enrolment.map(|e| (qr_svg(&e.uri), e.text)),
        passkey: offer.has_passkey && state.config.passkeys.is_some(),
        error,
    }
    .render();
    page(status, html)
}

pub(super) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let next = next_in(query.as_deref());
    let Some(pending_id) = cookie(&headers, state.config.mfa_cookie()) else {
        return Redirect::to("/login").into_response();
    };
    render(&state, StatusCode::OK, pending_id, &next, None).await
}

#[derive(Deserialize)]
pub(super) struct FactorForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn submit(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<FactorForm>,
) -> Response {
    let Some(pending_id) = cookie(&headers, state.config.mfa_cookie()) else {
        return Redirect::to("/login").into_response();
    };
    if !state
        .config
        .server_key
        .verify(FACTOR_FORM, pending_id, &form.csrf_token)
    {
        return csrf_refusal(&state);
    }
    let next = safe_next(Some(&form.next));
    let step = FactorStep {
        pending_id: pending_id.to_owned(),
        proof: Proof::Code(form.code.chars().take(64).collect()),
        client_addr: addr.as_deref().map(String::from),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        replaces: cookie(&headers, state.config.session_cookie()).map(str::to_owned),
    };
    let kek = state.config.oauth.key_encryption.as_ref();
    let rp = state.config.passkeys.as_deref();
    let signed = login::complete_sign_in(&*state.store, &state.config.login, kek, rp, step).await;
    count_sign_in(&state, &signed);
    match signed {
        Ok(SignIn::Refused { .. }) => {
            let error = "That code is wrong, or was used already.".to_owned();
            render(
                &state,
                StatusCode::UNAUTHORIZED,
                pending_id,
                &next,
                Some(error),
            )
            .await
        }
        Ok(SignIn::Throttled { retry_after }) => {
            let error = throttled_message(retry_after);
            let response = render(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                pending_id,
                &next,
                Some(error),
            )
            .await;
            retry_after_header(response, retry_after)
        }
        other => finish_sign_in(&state, other, &next),
    }
}
