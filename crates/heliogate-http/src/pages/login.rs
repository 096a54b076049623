//! `/login` and `/logout`.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login::{self, LoginAttempt, SignIn};
use heliogate_app::new_secret;
use heliogate_core::safe_next;
use serde::Deserialize;

use super::ending::{
    count_sign_in, finish_sign_in, retry_after_header, second_factor_redirect, throttled_message,
};
use super::{next_in, page, CsrfForm, CsrfOnly, PageForm};
use crate::error::app_error_page;
use crate::proxy::ClientAddr;
use crate::session::{cookie, csrf_refusal, set_cookie, SignedIn};
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
    /// The upstream providers one can sign in with: (name, display name).
    upstreams: Vec<(String, String)>,
    /// `next`, encoded for a query.
    next_query: String,
}

/// What the sign-in form shows and carries.
struct Shown<'a> {
    next: &'a str,
    username: &'a str,
    mfa: bool,
    again: bool,
}

async fn render(
    state: &AppState,
    status: StatusCode,
    pre_login: &str,
    shown: Shown<'_>,
    error: Option<String>,
) -> Response {
    // A database that cannot be read now shows the form without them: the password form
    // stands alone.
    let upstreams = heliogate_app::upstream::list_upstreams(&*state.store)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|u| (u.name, u.display_name))
        .collect();
    let html = LoginPage {
        instance: &state.config.instance_name,
        csrf_token: &state.config.server_key.tag(LOGIN_FORM, pre_login),
        next: shown.next,
        username: shown.username,
        error,
        mfa: shown.mfa,
        again: shown.again,
        passkeys: state.config.passkeys.is_some(),
        upstreams,
        next_query: url::form_urlencoded::byte_serialize(shown.next.as_bytes()).collect(),
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
    .await
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
        client_addr: addr.as_deref().map(String::from),
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
            second_factor_redirect(&state, &pending_id, &next)
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
            .await
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
                )
                .await,
                retry_after,
            )
        }
        other => finish_sign_in(&state, other, &next),
    }
}

pub(super) async fn logout(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(CsrfOnly {}): CsrfForm<CsrfOnly>,
) -> Response {
    let user = &signed_in.session.user.name;
    if let Err(e) = login::sign_out(&state.app, &signed_in.session_id, user, addr.as_deref()).await
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
