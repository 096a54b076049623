//! The answers a guard gives instead of the route's (RFC 6750 §3), and how it reads the token.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The longest token a guard reads; longer ones are refused without a call.
const MAX_TOKEN_LEN: usize = 8192;

/// Why a request did not reach its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No bearer token: 401 without an error code (§3.1: the client may not know it needs one).
    NoToken,
    /// Two `Authorization` headers, or a token with characters RFC 6750 §2.1 does not allow.
    Malformed,
    /// Unknown, expired, revoked, or for another audience.
    InvalidToken,
    /// A live token without these scopes.
    InsufficientScope(String),
    /// heliogate could not be asked: nobody passes.
    Unavailable,
    /// A handler asked for the caller on a route without a guard.
    NotGuarded,
    /// RFC 9449 §7.1: a DPoP-bound token without a good proof, or presented as a bearer
    /// token; or an unbound one presented as DPoP.
    Dpop(&'static str),
}

/// How the token came (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

impl Refusal {
    pub(crate) fn into_response(self) -> Response {
        let (status, challenge, body) = match &self {
            Refusal::NoToken => (StatusCode::UNAUTHORIZED, "Bearer".to_owned(), None),
            Refusal::Malformed => (
                StatusCode::BAD_REQUEST,
                r#"Bearer error="invalid_request""#.to_owned(),
                Some(r#"{"error":"invalid_request"}"#.to_owned()),
            ),
            Refusal::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                r#"Bearer error="invalid_token""#.to_owned(),
                Some(r#"{"error":"invalid_token"}"#.to_owned()),
            ),
            Refusal::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                format!(r#"Bearer error="insufficient_scope", scope="{scope}""#),
                Some(
                    serde_json::json!({"error": "insufficient_scope", "scope": scope}).to_string(),
                ),
            ),
            Refusal::Unavailable => {
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"error":"temporarily_unavailable"}"#,
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return response;
            }
            Refusal::NotGuarded => {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            Refusal::Dpop(error) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    r#"DPoP error="{error}", algs="{}""#,
                    heliogate_dpop::ALGORITHMS.join(" ")
                ),
                Some(serde_json::json!({ "error": error }).to_string()),
            ),
        };
        let mut response = match body {
            Some(body) => {
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            None => status.into_response(),
        };
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The access token of a request and how it came (RFC 6750 §2.1: the `Authorization` header,
/// `Bearer`, or RFC 9449 §7.1's `DPoP`; tokens in the query or the body are not read, as
/// §2.3 and RFC 9700 advise).
pub(crate) fn presented_token(headers: &HeaderMap) -> Result<(Scheme, &str), Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::NoToken);
    };
    if values.next().is_some() {
        return Err(Refusal::Malformed);
    }
    let value = value.to_str().map_err(|_| Refusal::Malformed)?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(Refusal::NoToken);
    };
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(Refusal::NoToken);
    };
    let token = token.trim_start_matches(' ');
    if token.len() > MAX_TOKEN_LEN {
        return Err(Refusal::InvalidToken);
    }
    if is_b64token(token) {
        Ok((scheme, token))
    } else {
        Err(Refusal::Malformed)
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn bearer_token(headers: &HeaderMap) -> Result<&str, Refusal> {
        match presented_token(headers)? {
            (Scheme::Bearer, token) => Ok(token),
            (Scheme::Dpop, _) => Err(Refusal::NoToken),
        }
    }

    #[test]
    fn rfc_9449_7_1_a_dpop_token_is_read_from_its_scheme() {
        assert_eq!(
            presented_token(&with(&["DPoP abc"])),
            Ok((Scheme::Dpop, "abc"))
        );
        assert_eq!(
            presented_token(&with(&["dpop a b"])),
            Err(Refusal::Malformed)
        );
    }

    #[test]
    fn rfc_6750_section_2_1_the_token_is_read_from_one_bearer_header() {
        assert_eq!(
            bearer_token(&with(&["Bearer abc.DEF-_~+/=="])),
            Ok("abc.DEF-_~+/==")
        );
        assert_eq!(bearer_token(&with(&["bearer  abc"])), Ok("abc"));
        assert_eq!(bearer_token(&with(&[])), Err(Refusal::NoToken));
        assert_eq!(bearer_token(&with(&["Basic YTpi"])), Err(Refusal::NoToken));
        assert_eq!(
            bearer_token(&with(&["Bearer a", "Bearer b"])),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            bearer_token(&with(&["Bearer a b"])),
            Err(Refusal::Malformed)
        );
        assert_eq!(bearer_token(&with(&["Bearer ="])), Err(Refusal::Malformed));
        assert_eq!(
            bearer_token(&with(&["Bearer a=b"])),
            Err(Refusal::Malformed)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(bearer_token(&with(&[&long])), Err(Refusal::InvalidToken));
    }
}
