//! RFC 9457 problem details: every error of the API, with a stable `type` per kind of error.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use heliogate_app::AppError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Answer;

/// Where the problem types are named; each is a fragment of this (`…#not_found`).
const TYPES: &str = "https://heliogate.dev/problems";

/// An error answer (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// Names the kind of error; stable.
    #[serde(rename = "type")]
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields of the request that were refused, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    challenge: Option<String>,
    #[serde(skip)]
    retry_after: Option<HeaderValue>,
}

/// One refused field of a request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            r#type: format!("{TYPES}#{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 400 for one field of the request.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut problem = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Not accepted",
            format!("{field}: {message}"),
        );
        problem.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        problem
    }

    /// 400 for a query string that did not fit the operation's parameters, naming the
    /// parameter when the parser did (`name: why`).
    pub fn query(text: &str) -> Self {
        let why = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(text);
        match why.split_once(": ") {
            Some((field, _)) if !field.contains(' ') => Self::field(field, why),
            _ => Self::field("query", why),
        }
    }

    /// 400 for a JSON body that did not fit the operation's, naming the field when the parser
    /// did (`path: why`, or an unknown field in backquotes).
    pub fn body(text: &str) -> Self {
        let why = text
            .strip_prefix("Failed to deserialize the JSON body into the target type: ")
            .or_else(|| text.strip_prefix("Failed to parse the request body as JSON: "))
            .unwrap_or(text);
        let unknown = why
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field);
        match (unknown, why.split_once(": ")) {
            (Some(field), _) => Self::field(field, why),
            (None, Some((field, _))) if !field.contains(' ') => Self::field(field, why),
            _ => Self::field("body", why),
        }
    }

    /// With an RFC 6750 `WWW-Authenticate` challenge.
    pub fn challenge(mut self, challenge: String) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// A failed use case, as the other faces of the server answer it.
    pub fn of(e: &AppError) -> Self {
        let answer = Answer::of(e);
        let mut problem = Self::new(
            answer.status,
            answer.code,
            answer.title,
            answer.message.clone(),
        );
        problem.retry_after = answer.retry_after();
        problem
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        Self::of(&e)
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after.take();
        let challenge = self.challenge.take();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = retry_after {
            headers.insert(header::RETRY_AFTER, value);
        }
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
