//! `GET /oauth/revocations`: the revocation feed as server-sent events, for resource servers
//! (clients registered with `--introspect`, authenticated with `client_secret_basic`).
//!
//! ```text
//! event: revoked
//! id: 42
//! data: [{"sha256":"<base64url of SHA-256(token)>","exp":1800000060}]
//!
//! event: ready
//! data: {}
//! ```
//! A new subscriber gets every token ended and not yet expired, then `ready`, then each
//! revocation as it commits. `id` is the last entry of a `revoked` event: a subscriber that
//! reconnects sends it as `Last-Event-ID` and misses nothing. A comment every 15 seconds keeps
//! idle connections (and the subscriber's liveness check) alive.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use heliogate_app::oauth::revocation_feed::{authorize_subscriber, FeedFull, FeedItem};
use heliogate_app::oauth::ClientCredentials;
use heliogate_core::oauth::OAuthError;
use serde_json::json;

use super::{basic_credentials, no_store, OAuthErrorResponse};
use crate::error::error_json;
use crate::proxy::ClientAddr;
use crate::AppState;

/// How often an idle feed sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn follow(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
) -> Response {
    let basic = match basic_credentials(&headers) {
        Ok(basic) => basic,
        Err(e) => return OAuthErrorResponse::from(e).into_response(),
    };
    let credentials = ClientCredentials {
        basic,
        ..ClientCredentials::default()
    };
    let subscriber = match authorize_subscriber(
        &*state.store,
        &state.config.oauth,
        &credentials,
        addr.as_deref(),
    )
    .await
    {
        Ok(subscriber) => subscriber,
        Err(e) => return OAuthErrorResponse(e).into_response(),
    };
    let after = match headers.get("last-event-id") {
        None => 0,
        Some(value) => match value.to_str().ok().and_then(|v| v.parse::<i64>().ok()) {
            Some(seq) if seq >= 0 => seq,
            _ => {
                return OAuthErrorResponse::from(OAuthError::invalid_request(
                    "Last-Event-ID must be an id the feed sent",
                ))
                .into_response()
            }
        },
    };
    let subscription = match state
        .feed
        .subscribe(subscriber.client.client_id.as_str(), after)
    {
        Ok(subscription) => subscription,
        Err(full) => return refused(full),
    };
    let events = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let item = subscription.recv().await?;
        Some((Ok::<_, Infallible>(event(&item)), subscription))
    });
    no_store(
        Sse::new(events)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response(),
    )
}

/// Past the bounds: 429 for a client that follows as many streams as it may (it has one open
/// already), 503 when the node does; both with `Retry-After`.
fn refused(full: FeedFull) -> Response {
    let (status, description) = match full {
        FeedFull::Client(max) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("this client follows {max} streams already; close one first"),
        ),
        FeedFull::Node(max) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("this node follows {max} streams, its most; try again shortly or another node"),
        ),
    };
    let mut response = error_json(status, "temporarily_unavailable", &description);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    no_store(response)
}

fn event(item: &FeedItem) -> Event {
    match item {
        FeedItem::CaughtUp => Event::default().event("ready").data("{}"),
        FeedItem::Revoked(entries) => {
            let tokens: Vec<_> = entries
                .iter()
                .map(|e| json!({"sha256": URL_SAFE_NO_PAD.encode(&e.token_sha256), "exp": e.expires_at}))
                .collect();
            let last = entries.last().map_or(0, |e| e.seq);
            Event::default()
                .event("revoked")
                .id(last.to_string())
                .data(serde_json::Value::from(tokens).to_string())
        }
    }
}
