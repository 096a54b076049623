//! How a sign-in ends, whichever way it went (password, second factor, passkey): the metrics
//! counted, the session's cookie set and the others cleared, the way on; or the answer to a
//! refused or throttled one.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login::SignIn;

use crate::error::app_error_page;
use crate::metrics::SignInResult;
use crate::session::set_cookie;
use crate::AppState;

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

/// On to the second step of a sign-in whose first step passed: the pending sign-in's id in
/// its cookie, the way on kept.
pub(super) fn second_factor_redirect(state: &AppState, pending_id: &str, next: &str) -> Response {
    let target = format!(
        "/login/second-factor?next={}",
        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            state.config.mfa_cookie(),
            pending_id,
            "/",
            Some(heliogate_app::login::MFA_PENDING_SECONDS),
        ),
    );
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
