//! The access-token seam: every access token is minted and read back here, nowhere else.
//!
//! A token is opaque (a public id that sorts by issue time and 256 random bits) or, for a
//! client registered so, a JWT (RFC 9068) that a resource server can verify itself. Either is
//! stored only as its `TokenKey` (for a JWT, the SHA-256 of the whole JWT) and checked by
//! lookup, so introspection, tokeninfo, revocation and the account page treat both alike.

use std::sync::Arc;

use heliogate_core::oauth::resource::{self, Resource};
use heliogate_core::{ScopeSet, SigningAlg, TokenKey, UnixTime};
use heliogate_store::{NewAccessToken, Store, StoreError, PERSONAL_TOKENS_CLIENT};
use serde::Serialize;

use crate::cache::TtlCache;
use crate::oidc::KeyRing;
use crate::{new_token, new_token_id};

/// How a client's access tokens are minted.
#[derive(Debug, Clone, Copy)]
pub enum Format<'a> {
    Opaque,
    /// RFC 9068: signed with `alg`.
    Jwt {
        keys: &'a KeyRing,
        alg: SigningAlg,
        issuer: &'a str,
    },
}

/// An `aud`: one value as a string, several as an array (RFC 7519 §4.1.3, RFC 7662 §2.2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience<S> {
    One(S),
    Many(Vec<S>),
}

impl<S> Audience<S> {
    /// `None` for no value.
    pub fn of(values: impl IntoIterator<Item = S>) -> Option<Self> {
        let mut values: Vec<S> = values.into_iter().collect();
        match values.len() {
            0 => None,
            1 => values.pop().map(Self::One),
            _ => Some(Self::Many(values)),
        }
    }
}

/// RFC 9068 §2.2: the claims of a JWT access token.
#[derive(Serialize)]
struct JwtClaims<'a> {
    /// First, so that the token's key is read from the payload's first bytes (`TokenKey`).
    jti: String,
    iss: &'a str,
    /// The user, or for a client's own token the client (§2.2).
    sub: &'a str,
    aud: Audience<&'a str>,
    client_id: &'a str,
    scope: &'a str,
    iat: UnixTime,
    exp: UnixTime,
    /// RFC 9449 §6.1: the key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
    /// RFC 8693 §4.1: who acts for `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a serde_json::Value>,
}

/// RFC 7800 `cnf`, with RFC 9449's `jkt`.
#[derive(Serialize)]
pub struct Confirmation<'a> {
    pub jkt: &'a str,
}

/// The longest token `inspect` looks up: an RS256 JWT access token with a long scope fits.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a token was issued for.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub client_id: &'a str,
    pub user_id: Option<&'a str>,
    pub scope: &'a str,
    pub family_id: Option<&'a str>,
    /// The resource servers it is for (RFC 8707); none named: the client's own.
    pub audience: &'a [Resource],
    /// The thumbprint of the DPoP key it is bound to (RFC 9449 §6).
    pub jkt: Option<&'a str>,
    /// By exchange (RFC 8693): the token it ends with, who acts, and the latest it may expire
    /// (its subject token's expiry).
    pub exchanged: Option<Exchanged<'a>>,
    /// The sign-in session it is issued through: it ends when that session is ended.
    pub sid: Option<&'a str>,
}

/// What a token issued by exchange carries besides a grant's.
#[derive(Debug, Clone)]
pub struct Exchanged<'a> {
    pub subject_key: TokenKey,
    pub act: &'a serde_json::Value,
    pub not_after: UnixTime,
}

/// A live access token, as resource servers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub client_id: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub scope: ScopeSet,
    /// The resource servers it is for (RFC 8707).
    pub audience: Vec<Resource>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    /// The thumbprint of the DPoP key it is bound to: presented only with a proof of it.
    pub jkt: Option<String>,
    /// For a token issued by exchange: the key of the token it ends with, and who acts
    /// (RFC 8693 §4.1 `act`, JSON).
    pub subject_key: Option<Vec<u8>>,
    pub act: Option<String>,
}

/// How precisely the last use of a personal access token is kept, in seconds.
const LAST_USE_PRECISION: i64 = 60;

/// How long a token read from the database is trusted without reading it again.
const CHECK_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// At most this many live tokens are remembered.
const CHECK_CACHE_CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct AccessTokens {
    pub ttl: i64,
    checked: TtlCache<TokenKey, ActiveToken>,
}

impl AccessTokens {
    pub fn new(ttl: i64) -> Self {
        Self {
            ttl,
            checked: TtlCache::new(CHECK_CACHE_TTL, CHECK_CACHE_CAPACITY),
        }
    }

    /// Forgets what was checked, after a revocation on this node: it is seen here at once.
    pub fn forget_all(&self) {
        self.checked.clear();
    }

    /// A new token for `grant`: the string for the client, and the record to store.
    pub fn mint(
        &self,
        grant: &Grant<'_>,
        now: UnixTime,
        format: Format<'_>,
    ) -> crate::Result<(String, NewAccessToken)> {
        let expires_at = match &grant.exchanged {
            Some(exchanged) => (now + self.ttl).min(exchanged.not_after),
            None => now + self.ttl,
        };
        let token = match format {
            Format::Opaque => new_token(),
            Format::Jwt { keys, alg, issuer } => {
                // RFC 9068 §3: the resource servers named, else the client itself.
                let aud = Audience::of(grant.audience.iter().map(Resource::as_str))
                    .unwrap_or(Audience::One(grant.client_id));
                let claims = JwtClaims {
                    jti: new_token_id(),
                    iss: issuer,
                    sub: grant.user_id.unwrap_or(grant.client_id),
                    aud,
                    client_id: grant.client_id,
                    scope: grant.scope,
                    iat: now,
                    exp: expires_at,
                    cnf: grant.jkt.map(|jkt| Confirmation { jkt }),
                    act: grant.exchanged.as_ref().map(|e| e.act),
                };
                keys.sign(alg, "at+jwt", &claims)?
            }
        };
        let record = NewAccessToken {
            key: TokenKey::of(&token),
            client_id: grant.client_id.to_owned(),
            user_id: grant.user_id.map(str::to_owned),
            scope: grant.scope.to_owned(),
            family_id: grant.family_id.map(str::to_owned),
            audience: (!grant.audience.is_empty()).then(|| resource::join(grant.audience)),
            created_at: now,
            expires_at,
            jkt: grant.jkt.map(str::to_owned),
            subject_key: grant.exchanged.as_ref().map(|e| e.subject_key),
            act: grant.exchanged.as_ref().map(|e| e.act.to_string()),
            sid: grant.sid.map(str::to_owned),
        };
        Ok((token, record))
    }

    /// The token's grant, if the token is live at `now`.
    pub async fn inspect(
        &self,
        store: &dyn Store,
        token: &str,
        now: UnixTime,
    ) -> Result<Option<Arc<ActiveToken>>, StoreError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let key = TokenKey::of(token);
        if let Some(active) = self.checked.get(&key) {
            if now < active.expires_at {
                return Ok(Some(active));
            }
        }
        // Taken before the read: a revocation on this node clears the cache after its
        // commit, and a row read before that commit must not be cached after the clear.
        let generation = self.checked.generation();
        let found = store.access_token(&key).await?.filter(|t| t.is_live(now));
        // A personal access token's list shows when it was last used, to the minute: at most
        // one write a minute for a token in use, and none for any other token.
        if let Some(t) = &found {
            let stale = t
                .last_used_at
                .is_none_or(|at| now - at >= LAST_USE_PRECISION);
            if stale && t.client_id == PERSONAL_TOKENS_CLIENT {
                if let Err(e) = store.personal_token_used(&key, now).await {
                    tracing::warn!(error = %e, "the last use of a personal token was not recorded");
                }
            }
        }
        let active = found.map(|t| {
            Arc::new(ActiveToken {
                client_id: t.client_id,
                user_id: t.user_id,
                username: t.username,
                scope: t.scope,
                audience: t.audience.0,
                issued_at: t.created_at,
                expires_at: t.expires_at,
                jkt: t.jkt,
                subject_key: t.subject_key,
                act: t.act,
            })
        });
        if let Some(active) = &active {
            self.checked
                .insert_unless_cleared(key, Arc::clone(active), generation);
        }
        Ok(active)
    }
}
