//! `/oauth/logout`, the `end_session_endpoint` (OpenID Connect RP-Initiated Logout 1.0).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login;
use heliogate_app::oidc::logout::{decide_logout, Logout};
use heliogate_core::oauth::Params;

use crate::error::{app_error_page, error_page};
use crate::pages::{form_redirecting_to, page};
use crate::proxy::ClientAddr;
use crate::session::{optional_session, set_cookie, SignedIn};
use crate::AppState;

/// What the confirmation form carries back.
const CARRIED: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    instance: &'a str,
    csrf_token: &'a str,
    user: &'a str,
    client_name: Option<String>,
    fields: Vec<(String, String)>,
}

pub(super) async fn get(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default());
    answer(&state, addr.as_deref(), &headers, &params, false).await
}

pub(super) async fn post(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Not accepted",
            "The form is not valid UTF-8.",
        );
    };
    let params = Params::parse(text);
    let confirmed = params.get("confirm").ok().flatten() == Some("yes");
    answer(&state, addr.as_deref(), &headers, &params, confirmed).await
}

async fn answer(
    state: &AppState,
    addr: Option<&str>,
    headers: &HeaderMap,
    params: &Params,
    confirmed: bool,
) -> Response {
    let signed_in = match optional_session(headers, state).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    // The confirmation form is this session's: its token must match.
    if confirmed {
        if let Some(s) = &signed_in {
            let token = params.get("csrf_token").ok().flatten().unwrap_or_default();
            if let Err(refusal) = s.check_csrf(state, token) {
                return refusal;
            }
        }
    }
    let user = signed_in.as_ref().map(|s| &s.session.user);
    let decision = decide_logout(&*state.store, &state.config.oauth, params, user).await;
    match decision {
        Ok(Logout::Refused(message)) => {
            error_page(state, StatusCode::BAD_REQUEST, "Cannot sign out", &message)
        }
        Ok(Logout::Confirm { client_name, then }) => match &signed_in {
            Some(s) if !confirmed => confirm_page(state, s, params, client_name),
            _ => sign_out(state, signed_in.as_ref(), addr, then).await,
        },
        Ok(Logout::SignOut { then }) => sign_out(state, signed_in.as_ref(), addr, then).await,
        Err(e) => app_error_page(state, e),
    }
}

fn confirm_page(
    state: &AppState,
    signed_in: &SignedIn,
    params: &Params,
    client_name: Option<String>,
) -> Response {
    let fields = CARRIED
        .iter()
        .filter_map(|name| {
            let value = params.get(name).ok().flatten()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let html = LogoutPage {
        instance: &state.config.instance_name,
        csrf_token: &signed_in.session.csrf_token,
        user: &signed_in.session.user.name,
        client_name,
        fields,
    }
    .render();
    let back = params.get("post_logout_redirect_uri").ok().flatten();
    form_redirecting_to(page(StatusCode::OK, html), back)
}

async fn sign_out(
    state: &AppState,
    signed_in: Option<&SignedIn>,
    addr: Option<&str>,
    then: Option<String>,
) -> Response {
    if let Some(s) = signed_in {
        let name = &s.session.user.name;
        if let Err(e) = login::sign_out(&state.app, &s.session_id, name, addr).await {
            return app_error_page(state, e);
        }
    }
    let mut response = signed_out(state, then);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, state.config.session_cookie(), "", "/", Some(0)),
    );
    response
}

fn signed_out(state: &AppState, then: Option<String>) -> Response {
    match then {
        Some(to) => Redirect::to(&to).into_response(),
        None => error_page(
            state,
            StatusCode::OK,
            "Signed out",
            "You are signed out. You may close this window.",
        ),
    }
}
