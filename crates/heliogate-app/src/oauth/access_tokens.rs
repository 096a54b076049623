//! The access-token seam: every access token is minted and read back here, nowhere else.
//!
//! Tokens are opaque: a public id that sorts by issue time and 256 random bits, stored only as
//! their `TokenKey` (the id and the SHA-256 of the token), checked by lookup. A
//! self-contained format (JWT access tokens, RFC 9068) would change `mint` and `inspect` and
//! nothing outside this file.

use std::sync::Arc;

use heliogate_core::{SecretHash, TokenKey, UnixTime};
use heliogate_store::{NewAccessToken, Store, StoreError};

use crate::cache::TtlCache;
use crate::new_token;

/// What a token was issued for.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub client_id: &'a str,
    pub user_id: Option<&'a str>,
    pub scope: &'a str,
    pub family_id: Option<&'a str>,
    pub code_hash: Option<SecretHash>,
}

/// A live access token, as resource servers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub client_id: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// Space-delimited.
    pub scope: String,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

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
    pub fn mint(&self, grant: &Grant<'_>, now: UnixTime) -> (String, NewAccessToken) {
        let token = new_token();
        let record = NewAccessToken {
            key: TokenKey::of(&token),
            client_id: grant.client_id.to_owned(),
            user_id: grant.user_id.map(str::to_owned),
            scope: grant.scope.to_owned(),
            family_id: grant.family_id.map(str::to_owned),
            code_hash: grant.code_hash,
            created_at: now,
            expires_at: now + self.ttl,
        };
        (token, record)
    }

    /// The token's grant, if the token is live at `now`.
    pub async fn inspect(
        &self,
        store: &dyn Store,
        token: &str,
        now: UnixTime,
    ) -> Result<Option<Arc<ActiveToken>>, StoreError> {
        if token.is_empty() || token.len() > 512 {
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
        let found = store.access_token(&key).await?;
        let active = found.filter(|t| t.is_live(now)).map(|t| {
            Arc::new(ActiveToken {
                client_id: t.client_id,
                user_id: t.user_id,
                username: t.username,
                scope: t.scope,
                issued_at: t.created_at,
                expires_at: t.expires_at,
            })
        });
        if let Some(active) = &active {
            self.checked
                .insert_unless_cleared(key, Arc::clone(active), generation);
        }
        Ok(active)
    }
}
