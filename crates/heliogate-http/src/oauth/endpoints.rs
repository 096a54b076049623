//! The back-channel endpoints: token (RFC 6749 §3.2), revocation (RFC 7009) and
//! introspection (RFC 7662).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use heliogate_app::dpop::nonce;
use heliogate_app::oauth::token::token_request;
use heliogate_app::oauth::{introspect, revoke, OAuthResult};
use heliogate_app::{device, now, par};

use super::{no_store, no_store_json, OAuthBody, OAuthErrorResponse};
use crate::metrics::CheckEndpoint;
use crate::proxy::ClientAddr;
use crate::AppState;

pub(super) async fn token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: OAuthBody,
) -> Response {
    let config = &state.config.oauth;
    let response = match token_request(
        &*state.store,
        config,
        &body.params,
        &body.credentials,
        body.proof.as_deref(),
        addr.as_deref(),
    )
    .await
    {
        Ok(answer) => {
            state.metrics.token_issued(answer.grant_type.as_str());
            no_store_json(StatusCode::OK, &answer)
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    };
    // RFC 9449 §8: a client that sends proofs gets the nonce its next proof is to carry.
    match (&body.proof, &config.nonce_key) {
        (Some(_), Some(key)) => with_nonce(response, &nonce::current(key, now())),
        _ => response,
    }
}

fn with_nonce(mut response: Response, nonce: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(nonce) {
        response.headers_mut().insert("dpop-nonce", value);
    }
    response
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1).
pub(super) async fn device_authorization(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: OAuthBody,
) -> Response {
    let config = &state.config.oauth;
    let (params, credentials) = (&body.params, &body.credentials);
    let started =
        device::device_authorization(&*state.store, config, params, credentials, addr.as_deref());
    json_answer(started.await, StatusCode::OK)
}

/// A back-channel endpoint's JSON answer with `status`, or its OAuth error; never cached.
fn json_answer<T: serde::Serialize>(result: OAuthResult<T>, status: StatusCode) -> Response {
    match result {
        Ok(answer) => no_store_json(status, &answer),
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}

/// `POST /oauth/par` (RFC 9126 §2): 201 with the `request_uri`.
pub(super) async fn par(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: OAuthBody,
) -> Response {
    let config = &state.config.oauth;
    let (params, credentials) = (&body.params, &body.credentials);
    let pushed = par::push(&*state.store, config, params, credentials, addr.as_deref());
    json_answer(pushed.await, StatusCode::CREATED)
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: OAuthBody,
) -> Response {
    match revoke::revoke(
        &*state.store,
        &state.config.oauth,
        &body.params,
        &body.credentials,
        addr.as_deref(),
    )
    .await
    {
        Ok(()) => no_store(().into_response()),
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}

pub(super) async fn introspect(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: OAuthBody,
) -> Response {
    match introspect::introspect(
        &*state.store,
        &state.config.oauth,
        &body.params,
        &body.credentials,
        addr.as_deref(),
    )
    .await
    {
        Ok(answer) => {
            state
                .metrics
                .token_checked(CheckEndpoint::introspect, answer.is_active());
            no_store_json(StatusCode::OK, &answer)
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}
