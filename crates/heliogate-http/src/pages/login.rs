//! `/login` and `/logout`.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login::{self, LoginAttempt, SignIn};
use heliogate_app::new_secret;
use heliogate_core::safe_next;
use serde::Deserialize;

use super::{app_error_page, next_in, page, CsrfForm, PageForm};
use crate::metrics::SignInResult;
use crate::session::{cookie, csrf_refusal, set_cookie, ClientAddr, SignedIn};
use crate::AppState;

/// The sign-in form has no session to bind a CSRF token to yet, so it gets a pre-login
/// session: a random id in a cookie of its own, and in the form that id's tag under the
/// installation's key. A foreign site cannot sign a browser in to an account of its choosing:
/// it can neither read the browser's id nor make a tag for an id it planted.
pub(super) const LOGIN_FORM: &str = "login-form";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    instance: &'a str,
    csrf_token: &'a str,
    next: &'a str,
    username: &'a str,
    error: Option<String>,
    /// An application asked for a second factor (`acr_values=mfa`): it is asked for after
    /// the password, or set up, whatever the user's roles say.
    mfa: bool,
    /// A signed-in user is asked to sign in again (a stale administrator, `prompt=login`).
    again: bool,
    /// Passkeys can sign in here.
    passkeys: bool,
}

/// What the sign-in form shows and carries.
struct Shown<'a> {
    next: &'a str,
    username: &'a str,
    mfa: bool,
    again: bool,
}

fn render(
    state: &AppState,
    status: StatusCode,
    pre_login: &str,
    shown: Shown<'_>,
    error: Option<String>,
) -> Response {
    let html = LoginPage {
        instance: &state.config.instance_name,
        csrf_token: &state.config.server_key.tag(LOGIN_FORM, pre_login),
        next: shown.next,
        username: shown.username,
        error,
        mfa: shown.mfa,
        again: shown.again,
        passkeys: state.config.passkeys.is_some(),
    }
    .render();
    let mut response = page(status, html);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            state.config.pre_login_cookie(),
            pre_login,
            "/",
            Some(3600),
        ),
    );
    response
}

/// The pre-login session id the browser already holds, or a new one.
fn pre_login(state: &AppState, headers: &HeaderMap) -> String {
    cookie(headers, state.config.pre_login_cookie())
        .filter(|t| {
            t.len() == 43
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(new_secret, str::to_owned)
}

pub(super) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let next = next_in(query.as_deref());
    // `again`: an application asked for a fresh sign-in; the form is shown to a signed-in
    // user too, and signing in replaces the session.
    let flag = |name: &str| {
        query.as_deref().is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == name && v == "1")
        })
    };
    let (again, mfa) = (flag("again"), flag("mfa"));
    if let Some(id) = cookie(&headers, state.config.session_cookie()).filter(|_| !again) {
        if let Ok(Some(_)) = login::current_session(&*state.store, &state.config.login, id).await {
            return Redirect::to(&next).into_response();
        }
    }
    let shown = Shown {
        next: &next,
        username: "",
        mfa,
        again,
    };
    render(
        &state,
        StatusCode::OK,
        &pre_login(&state, &headers),
        shown,
        None,
    )
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    mfa: String,
}

pub(super) async fn submit(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let bound = cookie(&headers, state.config.pre_login_cookie()).is_some_and(|id| {
        state
            .config
            .server_key
            .verify(LOGIN_FORM, id, &form.csrf_token)
    });
    if !bound {
        return csrf_refusal(&state);
    }
    let next = safe_next(Some(&form.next));
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let attempt = LoginAttempt {
        name: form.username.clone(),
        password: form.password,
        client_addr: addr,
        user_agent,
        replaces: cookie(&headers, state.config.session_cookie()).map(str::to_owned),
        require_mfa: form.mfa == "1",
    };
    let pre_login = pre_login(&state, &headers);
    let shown = Shown {
        next: &next,
        username: &form.username,
        mfa: form.mfa == "1",
        again: false,
    };
    let signed = login::sign_in(&*state.store, &state.config.login, attempt).await;
    count_sign_in(&state, &signed);
    match signed {
        Ok(SignIn::SecondFactor { pending_id, .. }) => {
            let target = format!(
                "/login/second-factor?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            let mut response = Redirect::to(&target).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &state,
                    state.config.mfa_cookie(),
                    &pending_id,
                    "/",
                    Some(login::MFA_PENDING_SECONDS),
                ),
            );
            response
        }
        Ok(SignIn::Refused { .. }) => {
            let error = "Wrong user name or password.".to_owned();
            render(
                &state,
                StatusCode::UNAUTHORIZED,
                &pre_login,
                shown,
                Some(error),
            )
        }
        Ok(SignIn::Throttled { retry_after }) => {
            let error = throttled_message(retry_after);
            retry_after_header(
                render(
                    &state,
                    StatusCode::TOO_MANY_REQUESTS,
                    &pre_login,
                    shown,
                    Some(error),
                ),
                retry_after,
            )
        }
        other => finish_sign_in(&state, other, &next),
    }
}

/// Counts a sign-in's outcome in the metrics.
pub(super) fn count_sign_in(state: &AppState, signed: &Result<SignIn, heliogate_app::AppError>) {
    match signed {
        Ok(SignIn::SignedIn { .. }) => state.metrics.sign_in(SignInResult::succeeded, false),
        Ok(SignIn::Refused { locked }) => state.metrics.sign_in(SignInResult::refused, *locked),
        Ok(SignIn::Throttled { .. }) => state.metrics.sign_in(SignInResult::throttled, false),
        _ => {}
    }
}

pub(super) fn throttled_message(retry_after: i64) -> String {
    format!("Too many failed attempts. Try again in {retry_after} seconds.")
}

pub(super) fn retry_after_header(mut response: Response, retry_after: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The answer to a sign-in that ended: a session's cookie and the way on, or back to the
/// start when the pending sign-in is gone. Every sign-in cookie before it is cleared.
pub(super) fn finish_sign_in(
    state: &AppState,
    signed: Result<SignIn, heliogate_app::AppError>,
    next: &str,
) -> Response {
    match signed {
        Ok(SignIn::SignedIn { session_id, user }) => {
            // A printed password is replaced first: the account page, whatever was asked.
            let next = if user.must_change_password { "/" } else { next };
            let mut response = Redirect::to(next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(state, state.config.session_cookie(), &session_id, "/", None),
            );
            for ended in [state.config.pre_login_cookie(), state.config.mfa_cookie()] {
                headers.append(
                    header::SET_COOKIE,
                    set_cookie(state, ended, "", "/", Some(0)),
                );
            }
            response
        }
        Ok(_) => {
            let mut response = Redirect::to("/login").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(state, state.config.mfa_cookie(), "", "/", Some(0)),
            );
            response
        }
        Err(e) => app_error_page(state, e),
    }
}

/// A form with nothing but its token (which `CsrfForm` checks).
#[derive(Deserialize)]
pub(super) struct CsrfOnly {}

pub(super) async fn logout(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(CsrfOnly {}): CsrfForm<CsrfOnly>,
) -> Response {
    let user = &signed_in.session.user.name;
    if let Err(e) =
        login::sign_out(&*state.store, &signed_in.session_id, user, addr.as_deref()).await
    {
        return app_error_page(&state, e);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, state.config.session_cookie(), "", "/", Some(0)),
    );
    response
}
