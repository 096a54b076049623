//! The OAuth 2 endpoints: authorization with consent, token, revocation, introspection,
//! tokeninfo and server metadata.

mod authorize;
pub(crate) mod discovery;
mod endpoints;
mod revocations;
pub(crate) mod tokeninfo;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use heliogate_app::oauth::{ClientCredentials, OAuthFailure};
use heliogate_core::oauth::{form_decode, OAuthError, OAuthErrorCode, Params};

use crate::error::{error_json, Answer};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/oauth/authorize",
            get(authorize::start).post(authorize::post),
        )
        .route("/oauth/token", post(endpoints::token))
        .route(
            "/oauth/device_authorization",
            post(endpoints::device_authorization),
        )
        .route("/oauth/par", post(endpoints::par))
        .route("/oauth/revoke", post(endpoints::revoke))
        .route("/oauth/introspect", post(endpoints::introspect))
        .route("/oauth/revocations", get(revocations::follow))
        .route(
            "/oauth/tokeninfo",
            get(tokeninfo::get).post(tokeninfo::post),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route("/account/applications/revoke", post(authorize::withdraw))
}

/// Answers with `no-store`: every OAuth answer carries or concerns a credential (RFC 6749
/// §5.1, RFC 6750 §5.3).
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The headers a JSON answer ends with: its type, length and `no_store`'s two, and those the
/// security headers' layer adds.
const JSON_ANSWER_HEADERS: usize = 4 + crate::security_headers::ADDED;

/// The body's first allocation: a token answer or a token check fits.
const JSON_ANSWER_BYTES: usize = 512;

/// `value` as a JSON answer with `status`, never cached (`no_store`), made at its final size:
/// axum's `Json` starts the body at 128 bytes and the header map at six headers, and both
/// were grown (reallocated and copied) for every token issued and every token checked.
pub(crate) fn no_store_json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let mut body = Vec::with_capacity(JSON_ANSWER_BYTES);
    if let Err(e) = serde_json::to_writer(&mut body, value) {
        tracing::error!(error = %e, "an answer could not be written as JSON");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut headers = HeaderMap::with_capacity(JSON_ANSWER_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut response = (status, axum::body::Body::from(body)).into_response();
    *response.headers_mut() = headers;
    no_store(response)
}

/// An OAuth error as RFC 6749 §5.2 answers it: JSON, 400, or 401 with `WWW-Authenticate` for
/// a failed client authentication; an outage is a 503 with the same shape.
pub(crate) struct OAuthErrorResponse(pub OAuthFailure);

impl From<OAuthFailure> for OAuthErrorResponse {
    fn from(e: OAuthFailure) -> Self {
        Self(e)
    }
}

impl From<OAuthError> for OAuthErrorResponse {
    fn from(e: OAuthError) -> Self {
        Self(OAuthFailure::Protocol(e))
    }
}

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        let response = match self.0 {
            OAuthFailure::Protocol(error) => {
                let status = if error.code == OAuthErrorCode::InvalidClient {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                let mut response = error_json(status, error.code.as_str(), &error.description);
                if status == StatusCode::UNAUTHORIZED {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"heliogate\""),
                    );
                }
                response
            }
            OAuthFailure::App(e) => Answer::for_oauth(&e).json(),
        };
        no_store(response)
    }
}

/// A form-encoded request to a back-channel endpoint: its parameters and the client
/// credentials it carries. A wrong content type, an unreadable or oversized body, or a
/// malformed `Authorization: Basic` is refused before any handler runs.
pub(crate) struct OAuthBody {
    pub params: Params,
    pub credentials: ClientCredentials,
    /// The `DPoP` header: a proof (RFC 9449 §4).
    pub proof: Option<String>,
}

/// The request's DPoP proof (RFC 9449 §4.1: one `DPoP` header at most); more than one, or
/// one that is not text, is refused.
pub(crate) fn dpop_proof(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let mut values = headers.get_all("dpop").iter();
    let refuse = || OAuthError::new(OAuthErrorCode::InvalidDpopProof, "send one DPoP proof");
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value
            .to_str()
            .map(|v| Some(v.trim().to_owned()))
            .map_err(|_| refuse()),
        (Some(_), Some(_)) => Err(refuse()),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Form-decodes one part of a Basic credential (RFC 6749 §2.3.1): up to a `&`, as the form
/// decoder reads the first pair.
fn credential_part(part: &str) -> String {
    form_decode(part.split('&').next().unwrap_or_default())
}

/// `Authorization: Basic` credentials: `Ok(None)` without the header or with another scheme.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((credential_part(id), credential_part(secret))))
}

impl FromRequest<AppState> for OAuthBody {
    type Rejection = Response;

    #[allow(clippy::result_large_err)] // a rejection is a whole response by design
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let refuse = |e: OAuthError| OAuthErrorResponse::from(e).into_response();
        if !is_form(req.headers()) {
            return Err(refuse(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )));
        }
        let basic = basic_credentials(req.headers()).map_err(refuse)?;
        let proof = dpop_proof(req.headers()).map_err(refuse)?;
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            refuse(OAuthError::invalid_request(
                "the request body is too large or unreadable",
            ))
        })?;
        let params = Params::parse_bytes(&body);
        let one = |name: &str| {
            params.get(name).map(|v| v.map(str::to_owned)).map_err(|_| {
                refuse(OAuthError::invalid_request(format!(
                    "parameter {name} is repeated"
                )))
            })
        };
        let credentials = ClientCredentials {
            basic,
            client_id: one("client_id")?,
            client_secret: one("client_secret")?,
        };
        Ok(OAuthBody {
            params,
            credentials,
            proof,
        })
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any `Authorization` header: no credentials, a typed refusal, or an id and a secret.
        #[test]
        fn basic_credentials_are_parsed_or_refused(value in "(Basic |basic |Bearer )?[ -~]{0,80}") {
            let mut headers = HeaderMap::new();
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                headers.insert(header::AUTHORIZATION, v);
            }
            let _ = basic_credentials(&headers);
        }

        /// The shortcut for a part with nothing to decode answers as the decoder does.
        #[test]
        fn credential_parts_decode_as_forms_do(part in "[ -~]{0,40}") {
            let decoded: String = url::form_urlencoded::parse(format!("v={part}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            prop_assert_eq!(credential_part(&part), decoded);
        }

        #[test]
        fn base64_of_anything_is_parsed_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let value = format!("Basic {}", STANDARD.encode(&bytes));
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, axum::http::HeaderValue::from_str(&value).unwrap_or(axum::http::HeaderValue::from_static("Basic")));
            // Credentials only from UTF-8 holding the separator; anything else is refused.
            let valid = std::str::from_utf8(&bytes).is_ok_and(|text| text.contains(':'));
            prop_assert_eq!(basic_credentials(&headers).is_ok_and(|c| c.is_some()), valid);
        }
    }
}
