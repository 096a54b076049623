//! One error type for every endpoint, mapped once to a status and a body.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::AppError;
use serde_json::json;

/// An error as the HTTP layer answers it. Internal details are logged here and never sent.
#[derive(Debug)]
pub struct HttpError(pub AppError);

impl From<AppError> for HttpError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self.0 {
            AppError::Invalid(m) => (StatusCode::BAD_REQUEST, "invalid_request", m.clone()),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            AppError::Unavailable(e) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(e), "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the service is temporarily unavailable".into(),
                )
            }
        };
        let mut response = (
            status,
            Json(json!({ "error": code, "error_description": message })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}
