//! `/oauth/tokeninfo`: the original design's token check, which resource servers of the
//! original infrastructure and Connexion's `x-tokenInfoUrl` speak. The token comes as
//! `access_token` in the query or form, or as `Authorization: Bearer` (RFC 6750 §2), and in
//! one of these ways only.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::now;
use heliogate_core::oauth::Params;
use serde::Serialize;

use super::{no_store, OAuthErrorResponse};
use crate::error::error_json;
use crate::metrics::CheckEndpoint;
use crate::AppState;
use heliogate_app::oauth::OAuthFailure;

/// The original design's answer for a live token.
#[derive(Serialize)]
struct TokenInfo<'a> {
    uid: Option<&'a str>,
    sub: Option<&'a str>,
    scope: Vec<&'a str>,
    client_id: &'a str,
    token_type: &'static str,
    exp: i64,
    expires_in: i64,
}

/// The bearer token of a request (RFC 6750 §2): the `Authorization: Bearer` header or an
/// `access_token` parameter of `sources`, in one way only; else the answer to send.
#[allow(clippy::result_large_err)] // a refusal is a full response by design
pub(crate) fn presented_token(
    headers: &HeaderMap,
    sources: &[&Params],
) -> Result<String, Response> {
    // Every place the token may come from; more than one token is a malformed request.
    let mut found: Vec<String> = bearer(headers).into_iter().collect();
    for params in sources {
        let all = params
            .pairs()
            .iter()
            // An empty parameter counts as absent (RFC 6749 §3.1).
            .filter(|(name, value)| name == "access_token" && !value.is_empty());
        found.extend(all.map(|(_, token)| token.clone()));
    }
    match found.as_slice() {
        [token] => Ok(token.clone()),
        [] => Err(unauthorized("invalid_request", "no access token was sent")),
        _ => Err(no_store(error_json(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the access token in one way only",
        ))),
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// RFC 6750 §3.1: 401 with `WWW-Authenticate: Bearer`, naming the error.
pub(crate) fn unauthorized(error: &str, description: &str) -> Response {
    let mut response = error_json(StatusCode::UNAUTHORIZED, error, description);
    let challenge = format!("Bearer realm=\"heliogate\", error=\"{error}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    no_store(response)
}

async fn answer(state: &AppState, headers: &HeaderMap, sources: &[&Params]) -> Response {
    let token = match presented_token(headers, sources) {
        Ok(token) => token,
        Err(answer) => return answer,
    };
    let tokens = &state.config.oauth.tokens;
    let now = now();
    let inspected = tokens.inspect(&*state.store, &token, now).await;
    if let Ok(found) = &inspected {
        state
            .metrics
            .token_checked(CheckEndpoint::tokeninfo, found.is_some());
    }
    match inspected {
        Ok(Some(active)) => {
            let scope = active.scope.iter().map(|s| s.as_str()).collect();
            let info = TokenInfo {
                uid: active.user_id.as_deref(),
                sub: active.user_id.as_deref(),
                scope,
                client_id: &active.client_id,
                token_type: "Bearer",
                exp: active.expires_at,
                expires_in: (active.expires_at - now).max(0),
            };
            no_store(Json(info).into_response())
        }
        Ok(None) => unauthorized(
            "invalid_token",
            "the access token is unknown, expired or revoked",
        ),
        Err(e) => OAuthErrorResponse(OAuthFailure::from(e)).into_response(),
    }
}

pub(super) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = Params::parse(query.as_deref().unwrap_or_default());
    answer(&state, &headers, &[&query]).await
}

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = Params::parse(query.as_deref().unwrap_or_default());
    let form = Params::parse(&String::from_utf8_lossy(&body));
    answer(&state, &headers, &[&query, &form]).await
}
