//! The back-channel endpoints: token (RFC 6749 §3.2), revocation (RFC 7009) and
//! introspection (RFC 7662).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::oauth::token::token_request;
use heliogate_app::oauth::{introspect, revoke};

use super::{no_store, OAuthBody, OAuthErrorResponse};
use crate::metrics::CheckEndpoint;
use crate::proxy::ClientAddr;
use crate::AppState;

pub(super) async fn token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: OAuthBody,
) -> Response {
    let config = &state.config.oauth;
    match token_request(
        &*state.store,
        config,
        &body.params,
        &body.credentials,
        addr.as_deref(),
    )
    .await
    {
        Ok(answer) => {
            state.metrics.token_issued(answer.grant_type.as_str());
            no_store(Json(answer).into_response())
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
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
                .token_checked(CheckEndpoint::introspect, answer.active);
            no_store(Json(answer).into_response())
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}
