//! `/device` (RFC 8628 §3.3): the page where a signed-in user types the code their device
//! shows, checks who asks for what, and allows or denies it. `/device?user_code=…` (the
//! `verification_uri_complete`) fills the code in; the user still confirms it (§3.3.1).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use heliogate_app::device::{self, Found};
use heliogate_app::login::session_sid;
use heliogate_app::oauth::authorize::SignedInUser;
use heliogate_app::scopes::describe_scopes;
use heliogate_core::oauth::device::display_user_code;
use serde::Deserialize;

use crate::error::app_error_page;
use crate::pages::{page, CsrfForm};
use crate::proxy::ClientAddr;
use crate::session::SignedIn;
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/device", get(form).post(submit))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Enter,
    Confirm,
    Done,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    instance: &'a str,
    csrf_token: &'a str,
    user: &'a str,
    stage: Stage,
    user_code: &'a str,
    client_name: &'a str,
    scopes: Vec<(String, String)>,
    message: &'a str,
}

impl<'a> DevicePage<'a> {
    fn new(state: &'a AppState, signed_in: &'a SignedIn, stage: Stage) -> Self {
        Self {
            instance: &state.config.instance_name,
            csrf_token: &signed_in.session.csrf_token,
            user: &signed_in.session.user.name,
            stage,
            user_code: "",
            client_name: "",
            scopes: Vec::new(),
            message: "",
        }
    }

    fn answer(self, status: StatusCode) -> Response {
        page(status, self.render())
    }
}

/// The code form, filled in from `?user_code=` when given (nothing is looked up yet).
async fn form(
    State(state): State<AppState>,
    signed_in: SignedIn,
    RawQuery(query): RawQuery,
) -> Response {
    if signed_in.session.user.must_change_password {
        return Redirect::to("/").into_response();
    }
    let typed = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "user_code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    // Only what could be a code is shown back.
    let shown: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(16)
        .collect();
    DevicePage {
        user_code: &shown,
        ..DevicePage::new(&state, &signed_in, Stage::Enter)
    }
    .answer(StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct DeviceForm {
    #[serde(default)]
    user_code: String,
    /// `approve` or `deny`; none: look the code up and ask.
    decision: Option<String>,
}

/// A typed code: looked up (a miss counts as a wrong guess) and shown with who asks for what;
/// or the answer to that question.
async fn submit(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<DeviceForm>,
) -> Response {
    if signed_in.session.user.must_change_password {
        return Redirect::to("/").into_response();
    }
    let store = &*state.store;
    let policy = &state.config.login;
    let user = &signed_in.session.user;
    let found = match form.decision.as_deref() {
        None => {
            device::find_pending(store, policy, &form.user_code, &user.id, addr.as_deref()).await
        }
        Some(decision @ ("approve" | "deny")) => {
            let sid = session_sid(&signed_in.session_id);
            let signed = SignedInUser {
                user,
                auth_time: signed_in.session.created_at,
                sid: &sid,
                amr: &signed_in.session.amr,
            };
            device::approve(
                store,
                policy,
                &form.user_code,
                signed,
                decision == "approve",
                addr.as_deref(),
            )
            .await
        }
        Some(_) => Ok(Found::Unknown),
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => return app_error_page(&state, e),
    };
    let again = |status, message: &str| {
        DevicePage {
            user_code: "",
            message,
            ..DevicePage::new(&state, &signed_in, Stage::Enter)
        }
        .answer(status)
    };
    match found {
        Found::Pending {
            authorization,
            code,
        } => {
            let scopes = authorization.scope.iter().map(|s| s.as_str());
            let scopes = match describe_scopes(store, scopes).await {
                Ok(scopes) => scopes,
                Err(e) => return app_error_page(&state, e),
            };
            let shown = display_user_code(&code);
            DevicePage {
                user_code: &shown,
                client_name: &authorization.client_name,
                scopes,
                ..DevicePage::new(&state, &signed_in, Stage::Confirm)
            }
            .answer(StatusCode::OK)
        }
        Found::Unknown => again(
            StatusCode::BAD_REQUEST,
            "That code is not valid: check it and type it again, or start again on your device.",
        ),
        Found::Throttled(seconds) => again(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many wrong codes. Try again in {seconds} seconds."),
        ),
        Found::NothingToGrant => again(
            StatusCode::FORBIDDEN,
            "Your account holds none of the access this device asks for.",
        ),
        Found::Approved(_) => DevicePage {
            message: "Your device is connected",
            ..DevicePage::new(&state, &signed_in, Stage::Done)
        }
        .answer(StatusCode::OK),
        Found::Denied => DevicePage {
            message: "The device was not allowed",
            ..DevicePage::new(&state, &signed_in, Stage::Done)
        }
        .answer(StatusCode::OK),
    }
}
