//! The OAuth 2 flows: authorization with consent, the token endpoint's grants, revocation,
//! introspection, and the access-token seam they share.

pub mod authorize;
pub mod client_auth;
pub mod introspect;
pub mod token;
pub mod tokens;

use heliogate_core::oauth::OAuthError;
use heliogate_store::StoreError;

pub use client_auth::ClientCredentials;
pub use tokens::{AccessTokens, ActiveToken};

/// The lifetimes the flows use.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The issuer identifier: the `iss` of authorization responses (RFC 9207).
    pub issuer: String,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
}

/// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED"; a
/// client redeems its code at once, so one minute is plenty.
pub const CODE_TTL: i64 = 60;

/// Why a protocol request failed: a protocol error for the client, or an outage.
#[derive(Debug, thiserror::Error)]
pub enum OAuthFailure {
    #[error(transparent)]
    Protocol(#[from] OAuthError),
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
}

impl From<StoreError> for OAuthFailure {
    fn from(e: StoreError) -> Self {
        // The OAuth flows only read and write rows they just checked; a conflict or a missing
        // row here means the database changed under them, which the client may retry.
        OAuthFailure::Unavailable(e)
    }
}

impl From<crate::AppError> for OAuthFailure {
    fn from(e: crate::AppError) -> Self {
        match e {
            crate::AppError::Unavailable(e) => OAuthFailure::Unavailable(e),
            other => OAuthFailure::Protocol(OAuthError::invalid_request(other.to_string())),
        }
    }
}

pub type OAuthResult<T> = Result<T, OAuthFailure>;

/// Records an OAuth event in the audit log.
pub(crate) async fn audit(
    store: &dyn heliogate_store::Store,
    event: &str,
    actor: &str,
    subject: Option<&str>,
    addr: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    store
        .record(&heliogate_store::AuditEvent {
            at: crate::now(),
            event: event.into(),
            actor: Some(actor.into()),
            subject: subject.map(str::to_owned),
            client_addr: addr.map(str::to_owned),
            detail,
        })
        .await
}
