//! Calling a downstream service for the caller (RFC 8693): the guard exchanges the token its
//! route was called with for one for the downstream resource server, with the service's own
//! client (registered in heliogate with `--grant-type token_exchange --resource …`), and keeps
//! it until shortly before it expires.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{Error, Guard};

/// The token a guarded route was called with, for [`Guard::exchange`]; it never prints.
#[derive(Clone)]
pub struct CallerToken(pub(crate) String);

impl std::fmt::Debug for CallerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerToken([redacted])")
    }
}

/// A handler takes it beside its `Caller`; on a route without a guard there is none.
impl<S: Send + Sync> FromRequestParts<S> for CallerToken {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<CallerToken>()
            .cloned()
            .unwrap_or(CallerToken(String::new())))
    }
}

/// How long before its expiry an exchanged token is exchanged again: a token handed to a
/// downstream call has this long to be used.
const RENEW_BEFORE: Duration = Duration::from_secs(30);
/// The most exchanged tokens kept.
const MAX_KEPT: usize = 10_000;

/// Exchanged tokens by (caller's token, resource, scope), with when to stop using them.
#[derive(Default)]
pub(crate) struct Exchanged(Mutex<HashMap<[u8; 32], (String, Instant)>>);

#[derive(Deserialize)]
struct Answer {
    access_token: String,
    expires_in: u64,
}

fn key(token: &str, resource: &str, scope: Option<&str>) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [token, resource, scope.unwrap_or("")] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

impl Guard {
    /// A token for `resource` (a resource server registered for this service's client), acting
    /// for the caller whose token is `caller`, with `scope` (none: all the caller's token and
    /// the client share); the same one again until 30 s before it expires. It ends when the
    /// caller's token ends. Needs [`introspection_client`](Guard::introspection_client): the
    /// exchange is made with that client.
    pub async fn exchange(
        &self,
        caller: &CallerToken,
        resource: &str,
        scope: Option<&str>,
    ) -> Result<String, Error> {
        let inner = &self.inner;
        let key = key(&caller.0, resource, scope);
        let now = Instant::now();
        if let Ok(kept) = inner.exchanged.0.lock() {
            if let Some((token, until)) = kept.get(&key) {
                if now < *until {
                    return Ok(token.clone());
                }
            }
        }
        let remote = &inner.remote;
        let Some((client_id, secret)) = &remote.client else {
            return Err(Error::Exchange(
                "the guard has no client to exchange with (introspection_client)".into(),
            ));
        };
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", caller.0.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", resource),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = remote
            .http
            .post(&inner.token_endpoint)
            .basic_auth(client_id, Some(secret))
            .form(&form)
            .send()
            .await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Exchange(format!(
                "heliogate answered {status}: {body}"
            )));
        }
        let answer: Answer = response.json().await?;
        let lifetime = Duration::from_secs(answer.expires_in);
        if let Ok(mut kept) = inner.exchanged.0.lock() {
            if kept.len() >= MAX_KEPT {
                kept.retain(|_, (_, until)| now < *until);
            }
            if kept.len() < MAX_KEPT && lifetime > RENEW_BEFORE {
                kept.insert(
                    key,
                    (answer.access_token.clone(), now + lifetime - RENEW_BEFORE),
                );
            }
        }
        Ok(answer.access_token)
    }
}
