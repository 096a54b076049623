//! Asking heliogate about a token: introspection (RFC 7662) with the service's own client, or
//! the original design's tokeninfo; and the order in which a guard checks a token.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{header, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::jwt::JwtCheck;
use crate::token_cache::Checked;
use crate::{Caller, Counters, Guard, FEED_CACHE_TTL};

/// How a guard reaches heliogate.
#[derive(Clone)]
pub(crate) struct Remote {
    pub http: reqwest::Client,
    pub tokeninfo: String,
    pub introspection: Option<String>,
    /// The service's own client, for introspection and the feed.
    pub client: Option<(String, String)>,
    pub issuer: String,
}

/// The verdict on a request's token.
pub(crate) enum Verdict {
    Live(Arc<Caller>),
    Dead,
    Unavailable,
}

/// One value or several (`aud` may be either).
#[derive(Deserialize, Default)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
struct Introspected {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    sub: Option<String>,
    username: Option<String>,
    exp: Option<u64>,
    #[serde(default)]
    aud: OneOrMany,
    token_type: Option<String>,
    iss: Option<String>,
    cnf: Option<crate::jwt::Confirmation>,
}

#[derive(Deserialize)]
struct TokenInfo {
    sub: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    client_id: String,
    exp: u64,
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they are joined.
fn form_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Remote {
    pub(crate) fn with_client(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.client {
            Some((id, secret)) => request.basic_auth(form_encoded(id), Some(form_encoded(secret))),
            None => request,
        }
    }

    /// What heliogate says about `token`; `None` when it could not be asked.
    pub(crate) async fn ask(&self, token: &str, audience: Option<&str>) -> Option<Checked> {
        let answer = match (&self.introspection, &self.client) {
            (Some(endpoint), Some(_)) => self.introspect(endpoint, token, audience).await,
            _ => self.tokeninfo(token).await,
        };
        let (caller, expires_at) = answer?;
        Some(Checked {
            caller: caller.map(Arc::new),
            at: Instant::now(),
            expires_at,
        })
    }

    async fn introspect(
        &self,
        endpoint: &str,
        token: &str,
        audience: Option<&str>,
    ) -> Option<(Option<Caller>, u64)> {
        let response = self
            .with_client(self.http.post(endpoint))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| tracing::warn!(error = %e, "heliogate-guard: introspection failed"))
            .ok()?;
        if response.status() != StatusCode::OK {
            tracing::error!(status = %response.status(), "heliogate-guard: introspection refused (is the client registered with --introspect, and its secret right?)");
            return None;
        }
        let answer: Introspected = response
            .json()
            .await
            .map_err(
                |e| tracing::warn!(error = %e, "heliogate-guard: unreadable introspection answer"),
            )
            .ok()?;
        let dead = Some((None, u64::MAX));
        let (Some(client_id), Some(exp)) = (answer.client_id, answer.exp) else {
            return dead;
        };
        let audience_list = answer.aud.into_vec();
        let usable = answer.active
            // A refresh token is reported to its own client; it is never a bearer credential.
            && answer.token_type.as_deref() != Some("refresh_token")
            && answer.iss.as_deref().is_none_or(|iss| iss == self.issuer)
            && exp > now()
            && audience.is_none_or(|ours| audience_list.is_empty() || audience_list.iter().any(|a| a == ours));
        if !usable {
            return dead;
        }
        let caller = Caller {
            sub: answer.sub.unwrap_or_else(|| client_id.clone()),
            username: answer.username,
            client_id,
            scopes: scopes_of(answer.scope.as_deref().unwrap_or_default()),
            audience: audience_list,
            expires_at: exp,
            jkt: answer.cnf.and_then(|c| c.jkt),
        };
        Some((Some(caller), exp))
    }

    async fn tokeninfo(&self, token: &str) -> Option<(Option<Caller>, u64)> {
        let response = self
            .http
            .get(&self.tokeninfo)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(|e| tracing::warn!(error = %e, "heliogate-guard: tokeninfo failed"))
            .ok()?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => return Some((None, u64::MAX)),
            status => {
                tracing::warn!(%status, "heliogate-guard: tokeninfo answered");
                return None;
            }
        }
        let info: TokenInfo = response.json().await.ok()?;
        if info.exp <= now() {
            return Some((None, u64::MAX));
        }
        let caller = Caller {
            sub: info.sub.unwrap_or_else(|| info.client_id.clone()),
            username: None,
            client_id: info.client_id,
            scopes: info.scope,
            audience: Vec::new(),
            expires_at: info.exp,
            // tokeninfo does not name the key; a DPoP-bound token is refused there when
            // presented as the guard presents it (Bearer), so it never gets here.
            jkt: None,
        };
        Some((Some(caller), info.exp))
    }
}

pub(crate) fn scopes_of(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Guard {
    /// The verdict on `token`: the revocation feed first, then a JWT verified here, then the
    /// cache or heliogate.
    pub(crate) async fn check(&self, token: &str) -> Verdict {
        let inner = &self.inner;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if inner.feed.is_some() && inner.revoked.contains(&key) {
            return Verdict::Dead;
        }
        let feed_live = self.feed_live();
        let ttl = if feed_live {
            inner.ttl.max(FEED_CACHE_TTL)
        } else {
            inner.ttl
        };
        let (answer, hit) = inner
            .cache
            .get_or_check(key, ttl, now(), || self.answer(token, feed_live))
            .await;
        if hit {
            Counters::add(&inner.stats.cache_hits);
        }
        match answer {
            None => Verdict::Unavailable,
            Some(Checked { caller: None, .. }) => Verdict::Dead,
            Some(Checked {
                caller: Some(caller),
                ..
            }) => Verdict::Live(caller),
        }
    }

    /// What a token is worth, found out (the cache keeps it): a JWT for this service is
    /// verified here; anything else is asked of heliogate. `None`: neither could be done.
    async fn answer(&self, token: &str, feed_live: bool) -> Option<Checked> {
        let inner = &self.inner;
        let audience = inner.audience.as_deref();
        let ask = || {
            Counters::add(&inner.stats.remote_checks);
            inner.remote.ask(token, audience)
        };
        let Some(audience) = audience.filter(|_| crate::jwt::is_jwt(token)) else {
            return ask().await;
        };
        let verified = match inner.keys.verify(token, &inner.issuer, audience).await {
            JwtCheck::Valid(caller) => {
                Counters::add(&inner.stats.jwt_verified);
                Checked {
                    expires_at: caller.expires_at,
                    caller: Some(Arc::new(caller)),
                    at: Instant::now(),
                }
            }
            JwtCheck::Invalid => {
                return Some(Checked {
                    caller: None,
                    at: Instant::now(),
                    expires_at: u64::MAX,
                })
            }
            JwtCheck::KeysUnavailable => return None,
        };
        if inner.feed.is_none() || feed_live {
            return Some(verified);
        }
        // The feed is down: heliogate is asked too, so that a revocation still reaches this
        // guard within the TTL. If it cannot be asked either, the signature stands, as it
        // would without a feed.
        Some(ask().await.unwrap_or(verified))
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
