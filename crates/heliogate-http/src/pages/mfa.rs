//! The account's second factors: `/account/totp` sets up an authenticator app,
//! `/account/recovery-codes` makes new recovery codes (shown once), `/account/mfa/remove`
//! removes both. Every form carries the session's CSRF token.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::mfa::{self, CodeCheck};
use heliogate_core::mfa::RecoveryCode;
use serde::Deserialize;

use super::{page, qr_svg, CsrfForm, CsrfOnly};
use crate::error::app_error_page;
use crate::proxy::ClientAddr;
use crate::session::SignedIn;
use crate::AppState;

#[derive(Template)]
#[template(path = "totp_setup.html")]
struct TotpSetupPage<'a> {
    instance: &'a str,
    csrf_token: &'a str,
    qr: String,
    text: String,
    error: Option<String>,
}

async fn render_setup(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let kek = state.config.oauth.key_encryption.as_ref();
    let user = &signed_in.session.user;
    let enrolment =
        match mfa::begin_totp(&*state.store, kek, &state.config.instance_name, user).await {
            Ok(enrolment) => enrolment,
            Err(heliogate_app::AppError::Conflict(_)) => return Redirect::to("/").into_response(),
            Err(e) => return app_error_page(state, e),
        };
    let html = TotpSetupPage {
        instance: &state.config.instance_name,
        csrf_token: &signed_in.session.csrf_token,
        qr: qr_svg(&enrolment.uri),
        text: enrolment.text,
        error,
    }
    .render();
    page(status, html)
}

pub(super) async fn setup(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    render_setup(&state, &signed_in, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    instance: &'a str,
    codes: Vec<RecoveryCode>,
    enrolled: bool,
}

fn show_codes(state: &AppState, codes: Vec<RecoveryCode>, enrolled: bool) -> Response {
    let html = RecoveryCodesPage {
        instance: &state.config.instance_name,
        codes,
        enrolled,
    }
    .render();
    page(StatusCode::OK, html)
}

/// Confirms the authenticator app with its first code; the user's recovery codes follow.
pub(super) async fn confirm(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let store = &*state.store;
    let user = &signed_in.session.user;
    let kek = state.config.oauth.key_encryption.as_ref();
    match mfa::check_code(store, kek, user, &form.code, addr.as_deref()).await {
        Ok(CodeCheck::Enrolled) => {
            match mfa::new_recovery_codes(store, user, addr.as_deref()).await {
                Ok(codes) => show_codes(&state, codes, true),
                Err(e) => app_error_page(&state, e),
            }
        }
        Ok(CodeCheck::Wrong) => {
            let error = "That code is wrong: enter the six digits the app shows now.".to_owned();
            render_setup(&state, &signed_in, StatusCode::BAD_REQUEST, Some(error)).await
        }
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => app_error_page(&state, e),
    }
}

/// New recovery codes, shown once; the old ones stop working.
pub(super) async fn recovery_codes(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(CsrfOnly {}): CsrfForm<CsrfOnly>,
) -> Response {
    let user = &signed_in.session.user;
    match mfa::new_recovery_codes(&*state.store, user, addr.as_deref()).await {
        Ok(codes) => show_codes(&state, codes, false),
        Err(e) => app_error_page(&state, e),
    }
}

/// Removes the authenticator app and the recovery codes, given a current code of either: a
/// session left open is not enough to take a second factor away.
pub(super) async fn remove(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let store = &*state.store;
    let user = &signed_in.session.user;
    let kek = state.config.oauth.key_encryption.as_ref();
    match mfa::check_code(store, kek, user, &form.code, addr.as_deref()).await {
        Ok(CodeCheck::Totp | CodeCheck::Recovery) => {
            match mfa::remove_own(store, user, addr.as_deref()).await {
                Ok(_) => Redirect::to("/?mfa=removed").into_response(),
                Err(e) => app_error_page(&state, e),
            }
        }
        Ok(_) => Redirect::to("/?mfa=wrong-code").into_response(),
        Err(e) => app_error_page(&state, e),
    }
}
