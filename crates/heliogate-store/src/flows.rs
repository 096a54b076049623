//! The records of the flows that wait on a person or come in two steps: device authorizations
//! (RFC 8628) and pushed authorization requests (RFC 9126).

use heliogate_core::oauth::device::DeviceStatus;
use heliogate_core::oauth::resource::StoredResources;
use heliogate_core::{ScopeSet, SecretHash, UnixTime};

/// A device authorization to store: both codes only as hashes.
#[derive(Debug, Clone)]
pub struct NewDeviceAuthorization {
    pub device_code_hash: SecretHash,
    pub user_code_hash: SecretHash,
    pub client_id: String,
    /// The scope asked for, canonical (what the user may approve is decided at approval).
    pub scope: String,
    /// The resource servers asked for (RFC 8707), separated by spaces.
    pub resources: Option<String>,
    pub interval: i64,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A stored device authorization.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceAuthorization {
    pub client_id: String,
    /// The client's name, for the page that asks the user.
    pub client_name: String,
    /// Asked for while pending; granted once approved.
    #[sqlx(try_from = "String")]
    pub scope: ScopeSet,
    #[sqlx(try_from = "Option<String>")]
    pub resources: StoredResources,
    #[sqlx(try_from = "String")]
    pub status: DeviceStatus,
    /// The user who approved it, and the sign-in the approval rests on.
    pub user_id: Option<String>,
    pub auth_time: Option<UnixTime>,
    pub sid: Option<String>,
    pub amr: Option<String>,
    pub poll_interval: i64,
    pub last_poll: Option<UnixTime>,
    /// The token family its tokens were issued in, once redeemed.
    pub family_id: Option<String>,
    pub expires_at: UnixTime,
}

/// A user's answer to a device authorization.
#[derive(Debug, Clone)]
pub enum DeviceDecision<'a> {
    Approve {
        user_id: &'a str,
        /// What the user granted: at most what was asked and what they hold.
        scope: &'a ScopeSet,
        auth_time: UnixTime,
        sid: &'a str,
        amr: &'a str,
    },
    Deny,
}

/// A pushed authorization request, while it may be used.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushedRequest {
    pub client_id: String,
    /// The parameters as the client sent them, form-encoded.
    pub params: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The session that was asked to sign in afresh for it (`prompt=login`): another one is
    /// the fresh sign-in.
    pub stale_sid: Option<String>,
}

/// A back-channel logout to deliver (OpenID Connect Back-Channel Logout 1.0): queued by the
/// store when a live session in which the client received an ID token ends.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogoutDelivery {
    pub id: i64,
    pub client_id: String,
    /// The session that ended (the ID token's `sid`) and its user (`sub`).
    pub sid: String,
    pub subject: String,
    /// The logout token's `jti`: the same on every attempt, so that a relying party that
    /// took an earlier one sees the retry as the same logout.
    pub jti: String,
    /// This attempt's number, from 1.
    pub attempts: i64,
    pub created_at: UnixTime,
}
