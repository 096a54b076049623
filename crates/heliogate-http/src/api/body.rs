//! What the API reads besides the query: JSON bodies, strictly, and `If-Match` against the
//! `ETag` of what a change would overwrite.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use heliogate_app::admin::Changed;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::problem::Problem;

/// A JSON request body. Its type refuses unknown fields (`deny_unknown_fields`); any refusal
/// is a problem naming the field where the parser named one.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Not JSON",
                "send the body as application/json",
            )),
            Err(rejection) => Err(Problem::body(&rejection.body_text())),
        }
    }
}

/// The entity tag of a representation: the SHA-256 of its JSON, shortened.
pub(crate) fn etag<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(json);
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// A representation as JSON with its `ETag`.
pub(crate) fn represented<T: Serialize>(value: &T, status: StatusCode) -> Response {
    let tag = HeaderValue::from_str(&etag(value)).unwrap_or(HeaderValue::from_static("\"\""));
    (status, [(header::ETAG, tag)], Json(value)).into_response()
}

/// 201 for what was created at `location`, with its `ETag`.
pub(crate) fn created<T: Serialize>(value: &T, location: &str) -> Response {
    let mut response = represented(value, StatusCode::CREATED);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A change must say what it read (RFC 9110 §13.1.1): `If-Match` with the current `ETag` (or
/// `*`). Without it 428 (RFC 6585), with another 412: someone changed it since.
#[allow(clippy::result_large_err)] // answered at once, never carried far
pub(crate) fn check_if_match<T: Serialize>(
    headers: &HeaderMap,
    current: &T,
) -> Result<(), Problem> {
    let Some(given) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "If-Match required",
            "send If-Match with the ETag of what you read, so that no change is overwritten unseen",
        ));
    };
    let current = etag(current);
    let matches = given.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag == current || tag.strip_prefix("W/") == Some(current.as_str())
    });
    if matches {
        Ok(())
    } else {
        Err(changed_meanwhile())
    }
}

/// The answer to a change made on what was read: the thing as changed, with its `ETag`, or
/// 412 when someone changed it in between.
#[allow(clippy::result_large_err)] // answered at once, never carried far
pub(crate) fn answer_change<T: Serialize>(changed: Changed<T>) -> super::Answer {
    match changed {
        Changed::Done(now) => Ok(represented(&*now, StatusCode::OK)),
        Changed::Stale => Err(changed_meanwhile()),
    }
}

/// 412: what the change was made on is no longer what is there.
fn changed_meanwhile() -> Problem {
    Problem::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "Changed meanwhile",
        "it was changed since you read it: read it again, then change that",
    )
}
