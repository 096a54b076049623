//! The one table from a failed use case to what the client is told, and its three renderings:
//! JSON (`HttpError`), the RFC 6749 §5.2 body of the OAuth endpoints (`oauth::OAuthErrorResponse`)
//! and the HTML page (`pages::app_error_page`).

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::AppError;
use heliogate_core::oauth::error::description_chars;
use serde_json::json;

use crate::html::page;
use crate::AppState;

/// What the client is told about a failure. Outages and bugs are logged where the answer is
/// made, with their source chain; their details never leave.
pub(crate) struct Answer {
    pub status: StatusCode,
    /// The machine-readable code: `invalid_request`, `not_found`, `conflict`,
    /// `temporarily_unavailable` or `server_error`.
    pub code: &'static str,
    /// A page's heading.
    pub title: &'static str,
    pub message: String,
    /// Seconds until a refused request may be tried again.
    pub retry_after: Option<i64>,
}

impl Answer {
    pub fn of(e: &AppError) -> Self {
        let (status, code, title, message) = match e {
            AppError::Invalid(m) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Not accepted",
                m.clone(),
            ),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", "Not found", m.clone()),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "conflict", "Not possible", m.clone()),
            AppError::TooManyAttempts(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many failed attempts",
                e.to_string(),
            ),
            AppError::Reauthenticate(m) => (
                StatusCode::FORBIDDEN,
                "reauthentication_required",
                "Sign in again",
                m.clone(),
            ),
            AppError::Busy(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Busy",
                m.clone(),
            ),
            AppError::Unavailable(e) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(e), "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "Temporarily unavailable",
                    "heliogate cannot reach its database right now; try again in a moment".into(),
                )
            }
            AppError::Internal(e) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(e), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Something went wrong",
                    "heliogate failed to handle this request; the failure was logged".into(),
                )
            }
        };
        let retry_after = match e {
            AppError::TooManyAttempts(seconds) => Some((*seconds).max(1)),
            _ => None,
        };
        Self {
            status,
            code,
            title,
            message,
            retry_after,
        }
    }

    /// The same answer for an OAuth endpoint, whose errors are RFC 6749's: a missing row or a
    /// conflict there means the request raced a change (a client deleted a moment ago), which
    /// is the client's malformed request, not a resource of its own.
    pub fn for_oauth(e: &AppError) -> Self {
        let mut answer = Self::of(e);
        answer.message = description_chars(&answer.message);
        match answer.status {
            StatusCode::NOT_FOUND | StatusCode::CONFLICT => Self {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_request",
                ..answer
            },
            _ => answer,
        }
    }

    /// When to come back, as the status asks: after a 503 (a second) or a 429.
    pub fn retry_after(&self) -> Option<HeaderValue> {
        match self.retry_after {
            Some(seconds) => Some(HeaderValue::from(seconds)),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => {
                Some(HeaderValue::from_static("1"))
            }
            None => None,
        }
    }

    /// Adds what the status asks for (`retry_after`).
    pub fn finish(&self, mut response: Response) -> Response {
        if let Some(retry_after) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }

    /// `{"error": …, "error_description": …}` with the status.
    pub fn json(&self) -> Response {
        self.finish(error_json(self.status, self.code, &self.message))
    }
}

/// The body every JSON error is: `{"error": …, "error_description": …}` (RFC 6749 §5.2's
/// shape, which the other JSON endpoints share), with `status`.
pub(crate) fn error_json(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    (status, Json(body)).into_response()
}

/// An error as the JSON endpoints answer it.
#[derive(Debug)]
pub struct HttpError(pub AppError);

impl From<AppError> for HttpError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        Answer::of(&self.0).json()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    instance: &'a str,
    title: &'a str,
    message: &'a str,
}

/// A page for a refusal the caller words itself.
pub(crate) fn error_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    page(
        status,
        ErrorPage {
            instance: &state.config.instance_name,
            title,
            message,
        }
        .render(),
    )
}

/// The page for a use case that failed; internal details go to the log only.
pub(crate) fn app_error_page(state: &AppState, e: AppError) -> Response {
    let answer = Answer::of(&e);
    answer.finish(error_page(
        state,
        answer.status,
        answer.title,
        &answer.message,
    ))
}
