//! `/oauth/tokeninfo`: the original design's token check, which resource servers of the
//! original infrastructure and Connexion's `x-tokenInfoUrl` speak. The token comes as
//! `access_token` in the query or form, or as `Authorization: Bearer` (RFC 6750 §2), and in
//! one of these ways only.

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use heliogate_app::now;
use heliogate_app::oauth::token::token_type;
use heliogate_core::oauth::Params;
use heliogate_core::scope::ScopeSet;
use serde::Serialize;

use super::{dpop_proof, no_store, no_store_json, OAuthErrorResponse};
use crate::error::error_json;
use crate::metrics::CheckEndpoint;
use crate::AppState;
use heliogate_app::dpop::{accept, Presentation, Presented, Refused, Scheme};

/// The original design's answer for a live token.
#[derive(Serialize)]
struct TokenInfo<'a> {
    uid: Option<&'a str>,
    sub: Option<&'a str>,
    /// Its scopes as a list.
    #[serde(serialize_with = "scope_list")]
    scope: &'a ScopeSet,
    client_id: &'a str,
    token_type: &'static str,
    exp: i64,
    expires_in: i64,
}

fn scope_list<S: serde::Serializer>(scope: &ScopeSet, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(scope.iter().map(|s| s.as_str()))
}

/// An access token as a request presented it, with its DPoP proof; borrowed from the request.
pub(crate) struct PresentedToken<'r> {
    pub token: &'r str,
    pub scheme: Scheme,
    pub proof: Option<String>,
}

impl PresentedToken<'_> {
    /// What the token's check needs: the request's method and path (the `htu` of a proof).
    pub(crate) fn for_request<'a>(&'a self, method: &'a str, path: &'a str) -> Presented<'a> {
        Presented {
            token: self.token,
            scheme: self.scheme,
            proof: self.proof.as_deref(),
            method,
            path,
        }
    }
}

/// The access token of a request (RFC 6750 §2, RFC 9449 §7.1): the `Authorization: Bearer`
/// or `Authorization: DPoP` header, or an `access_token` parameter of `sources`, in one way
/// only; else the answer to send.
#[allow(clippy::result_large_err)] // a refusal is a full response by design
pub(crate) fn presented_token<'r>(
    headers: &'r HeaderMap,
    sources: &[&'r Params],
) -> Result<PresentedToken<'r>, Response> {
    // Every place the token may come from; more than one token is a malformed request.
    let from_parameters = sources.iter().flat_map(|params| {
        params
            .pairs()
            .iter()
            // An empty parameter counts as absent (RFC 6749 §3.1).
            .filter(|(name, value)| name == "access_token" && !value.is_empty())
            .map(|(_, token)| (Scheme::Bearer, token.as_str()))
    });
    let mut found = authorization(headers).into_iter().chain(from_parameters);
    let (first, second) = (found.next(), found.next());
    let proof = match dpop_proof(headers) {
        Ok(proof) => proof,
        Err(e) => return Err(unauthorized(e.code.as_str(), &e.description)),
    };
    match (first, second) {
        (Some((scheme, token)), None) => Ok(PresentedToken {
            token,
            scheme,
            proof,
        }),
        (None, _) => Err(unauthorized("invalid_request", "no access token was sent")),
        (Some(_), Some(_)) => Err(no_store(error_json(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the access token in one way only",
        ))),
    }
}

/// The token of an `Authorization: Bearer` or `Authorization: DPoP` header.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim()))
}

/// RFC 9449 §7.1's challenge, naming the error and the algorithms a proof may use.
pub(crate) fn dpop_challenge(error: &str) -> String {
    format!(
        "DPoP realm=\"heliogate\", error=\"{error}\", algs=\"{}\"",
        heliogate_dpop::ALGORITHMS.join(" ")
    )
}

/// RFC 9449 §7.1: a token refused for how it was presented, with a `DPoP` challenge that
/// names the algorithms a proof may use.
pub(crate) fn refused(refused: &Refused) -> Response {
    let mut response = error_json(
        StatusCode::UNAUTHORIZED,
        refused.code.as_str(),
        &refused.description,
    );
    if let Ok(value) = HeaderValue::from_str(&dpop_challenge(refused.code.as_str())) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    no_store(response)
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

async fn answer(
    state: &AppState,
    method: &str,
    headers: &HeaderMap,
    sources: &[&Params],
) -> Response {
    let presented = match presented_token(headers, sources) {
        Ok(presented) => presented,
        Err(answer) => return answer,
    };
    let now = now();
    let request = presented.for_request(method, "/oauth/tokeninfo");
    let inspected = accept(&*state.store, &state.config.oauth, &request).await;
    if let Ok(found) = &inspected {
        let active = matches!(found, Presentation::Accepted(_));
        state
            .metrics
            .token_checked(CheckEndpoint::tokeninfo, active);
    }
    match inspected {
        Ok(Presentation::Refused(refusal)) => refused(&refusal),
        Ok(Presentation::Accepted(active)) => {
            let info = TokenInfo {
                uid: active.user_id.as_deref(),
                sub: active.user_id.as_deref(),
                scope: &active.scope,
                client_id: &active.client_id,
                token_type: token_type(active.jkt.as_deref()),
                exp: active.expires_at,
                expires_in: (active.expires_at - now).max(0),
            };
            no_store_json(StatusCode::OK, &info)
        }
        Ok(Presentation::Inactive) => unauthorized(
            "invalid_token",
            "the access token is unknown, expired or revoked",
        ),
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}

/// The whole request, read in place: this is the hot path of resource servers, and a
/// `HeaderMap` or `RawQuery` extractor would copy what is only read.
pub(super) async fn get(State(state): State<AppState>, request: Request) -> Response {
    let query = Params::parse(request.uri().query().unwrap_or_default());
    answer(&state, "GET", request.headers(), &[&query]).await
}

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = Params::parse(query.as_deref().unwrap_or_default());
    let form = Params::parse_bytes(&body);
    answer(&state, "POST", &headers, &[&query, &form]).await
}
