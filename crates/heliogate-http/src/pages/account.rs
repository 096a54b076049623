//! `/`: the signed-in user's account page, and changing their password.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login::{self, PasswordChange};
use heliogate_app::AppError;
use heliogate_app::{account, mfa};
use serde::Deserialize;

use super::{page, CsrfForm};
use crate::error::app_error_page;
use crate::proxy::ClientAddr;
use crate::session::SignedIn;
use crate::AppState;

/// What the page confirms after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    None,
    PasswordChanged,
    ApplicationRevoked,
    FactorsRemoved,
    WrongCode,
    PasskeyAdded,
    PasskeyRemoved,
    IdentityRemoved,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    instance: &'a str,
    csrf_token: &'a str,
    name: &'a str,
    email: Option<&'a str>,
    roles: &'a [String],
    scopes: &'a [String],
    /// The administrators' console is theirs.
    is_admin: bool,
    changed: bool,
    revoked: bool,
    /// The password was printed for this user: they choose their own before anything else.
    must_change: bool,
    apps: Vec<heliogate_store::Consent>,
    error: Option<String>,
    mfa: mfa::FactorStatus,
    /// The user's passkeys; `None` when passkeys cannot be used here (no domain name).
    passkeys: Option<Vec<heliogate_store::StoredPasskey>>,
    /// What the second-factor section confirms or refuses after a change.
    mfa_notice: Option<&'static str>,
    identities: Vec<heliogate_app::upstream::IdentityView>,
    /// What the identities section confirms or refuses after a change.
    identity_notice: Option<String>,
}

async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    notice: Notice,
    error: Option<String>,
) -> Response {
    render_with(state, signed_in, status, notice, error, None).await
}

async fn render_with(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    notice: Notice,
    error: Option<String>,
    identity_error: Option<String>,
) -> Response {
    let user = &signed_in.session.user;
    let with_passkeys = state.config.passkeys.is_some();
    let overview = match account::overview(&*state.store, user, with_passkeys).await {
        Ok(overview) => overview,
        Err(e) => return app_error_page(state, e),
    };
    let view = &overview.view;
    let mfa_notice = match notice {
        Notice::FactorsRemoved => Some("Your authenticator app and recovery codes were removed."),
        Notice::WrongCode => Some("That code is wrong: nothing was removed."),
        Notice::PasskeyAdded => Some("Your passkey was added."),
        Notice::PasskeyRemoved => Some("The passkey was removed."),
        _ => None,
    };
    let html = AccountPage {
        instance: &state.config.instance_name,
        csrf_token: &signed_in.session.csrf_token,
        name: &view.name,
        email: view.email.as_deref(),
        roles: &view.roles,
        scopes: &view.scopes,
        is_admin: view.scopes.iter().any(|s| s == "admin"),
        changed: notice == Notice::PasswordChanged,
        revoked: notice == Notice::ApplicationRevoked,
        must_change: user.must_change_password,
        apps: overview.applications,
        error,
        mfa: overview.factors,
        mfa_notice,
        passkeys: overview.passkeys,
        identities: overview.identities,
        identity_notice: identity_error.or_else(|| {
            (notice == Notice::IdentityRemoved).then(|| "The identity was unlinked.".to_owned())
        }),
    }
    .render();
    page(status, html)
}

pub(super) async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match query.as_deref() {
        Some("password=changed") => Notice::PasswordChanged,
        Some("application=revoked") => Notice::ApplicationRevoked,
        Some("mfa=removed") => Notice::FactorsRemoved,
        Some("mfa=wrong-code") => Notice::WrongCode,
        Some("passkey=added") => Notice::PasskeyAdded,
        Some("passkey=removed") => Notice::PasskeyRemoved,
        Some("identity=removed") => Notice::IdentityRemoved,
        _ => Notice::None,
    };
    render(&state, &signed_in, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    let change = PasswordChange {
        current: form.current,
        new: form.new,
        confirm: form.confirm,
    };
    let user = &signed_in.session.user;
    match login::change_own_password(
        &state.app,
        &state.config.login,
        &signed_in.session_id,
        user,
        change,
        addr.as_deref(),
    )
    .await
    {
        Ok(()) => Redirect::to("/?password=changed").into_response(),
        Err(AppError::Invalid(message)) => {
            render(
                &state,
                &signed_in,
                StatusCode::BAD_REQUEST,
                Notice::None,
                Some(message),
            )
            .await
        }
        Err(e) => app_error_page(&state, e),
    }
}

#[derive(Deserialize)]
pub(super) struct IdentityForm {
    #[serde(default)]
    upstream: String,
    #[serde(default)]
    subject: String,
}

/// Unlinks one of the user's identities at an upstream provider, unless it is their last way
/// to sign in.
pub(super) async fn remove_identity(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<IdentityForm>,
) -> Response {
    let user = &signed_in.session.user;
    match heliogate_app::upstream::remove_own_identity(
        &state.app,
        user,
        &form.upstream,
        &form.subject,
        addr.as_deref(),
    )
    .await
    {
        Ok(()) => Redirect::to("/?identity=removed").into_response(),
        Err(AppError::Conflict(message)) => {
            render_with(
                &state,
                &signed_in,
                StatusCode::CONFLICT,
                Notice::None,
                None,
                Some(message),
            )
            .await
        }
        Err(e) => app_error_page(&state, e),
    }
}
