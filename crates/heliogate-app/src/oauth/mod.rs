//! The OAuth 2 flows: authorization with consent, the token endpoint's grants, revocation,
//! introspection, and the access-token seam they share.

pub mod access_tokens;
pub mod authorize;
pub mod client_auth;
pub mod introspect;
pub mod revocation_feed;
pub mod revoke;
pub mod token;

use std::sync::Arc;

use heliogate_core::oauth::OAuthError;
use heliogate_store::{Client, StoreError};

use crate::cache::TtlCache;

pub use access_tokens::{AccessTokens, ActiveToken};
pub use client_auth::ClientCredentials;

/// What the flows share: lifetimes, the issuer, and the caches of the hot path.
#[derive(Debug, Clone)]
pub struct OAuthState {
    /// The issuer identifier: the `iss` of authorization responses (RFC 9207).
    pub issuer: String,
    pub refresh_token_ttl: i64,
    /// How long an ID token is valid.
    pub id_token_ttl: i64,
    /// The access-token seam, with its check cache.
    pub tokens: Arc<AccessTokens>,
    /// Clients as read for authentication, trusted for a second.
    pub clients: Arc<TtlCache<String, Client>>,
    /// The scopes the server knows, trusted for a second.
    pub known_scopes: Arc<TtlCache<(), heliogate_core::ScopeSet>>,
    /// The signing keys, read again every minute (see `oidc::keys`).
    pub keys: Arc<TtlCache<(), crate::oidc::KeyRing>>,
    /// Seals the signing keys at rest, when configured.
    pub key_encryption: Option<crate::oidc::sealing::KeyEncryptionKey>,
    /// The installation's key, which makes DPoP nonces (`dpop::nonce`): with it, a DPoP
    /// proof at the token endpoint must carry one (every server sets it).
    pub nonce_key: Option<heliogate_core::ServerKey>,
}

impl OAuthState {
    pub fn new(issuer: String, access_token_ttl: i64, refresh_token_ttl: i64) -> Self {
        Self {
            issuer,
            refresh_token_ttl,
            id_token_ttl: DEFAULT_ID_TOKEN_TTL,
            tokens: Arc::new(AccessTokens::new(access_token_ttl)),
            clients: Arc::new(TtlCache::new(std::time::Duration::from_secs(1), 10_000)),
            known_scopes: Arc::new(TtlCache::new(std::time::Duration::from_secs(1), 1)),
            keys: Arc::new(TtlCache::new(std::time::Duration::from_secs(60), 1)),
            key_encryption: None,
            nonce_key: None,
        }
    }
}

/// An ID token's lifetime unless configured: an hour, as the access token's default.
pub const DEFAULT_ID_TOKEN_TTL: i64 = 3600;

/// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED"; a
/// client redeems its code at once, so one minute is plenty.
pub const CODE_TTL: i64 = 60;

/// Why a protocol request failed: a protocol error for the client, or a failure of the server
/// (an outage, a bug, a change that raced this request), which every face answers alike.
#[derive(Debug, thiserror::Error)]
pub enum OAuthFailure {
    #[error(transparent)]
    Protocol(#[from] OAuthError),
    #[error(transparent)]
    App(crate::AppError),
}

impl From<StoreError> for OAuthFailure {
    fn from(e: StoreError) -> Self {
        crate::AppError::from(e).into()
    }
}

impl From<crate::AppError> for OAuthFailure {
    fn from(e: crate::AppError) -> Self {
        match e {
            // A value refused by a rule or by the database is a malformed request.
            crate::AppError::Invalid(m) => OAuthFailure::Protocol(OAuthError::invalid_request(m)),
            other => OAuthFailure::App(other),
        }
    }
}

pub type OAuthResult<T> = Result<T, OAuthFailure>;

pub(crate) use crate::{audit, event};
