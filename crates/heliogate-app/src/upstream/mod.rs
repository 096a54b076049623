//! Signing in through an upstream identity provider: heliogate as an OpenID Connect relying
//! party (discovery, the code flow with PKCE, `state` and `nonce`, the ID token verified
//! against the provider's keys, `iss` checked per RFC 9207), or a GitHub preset that reads
//! the user from GitHub's API. An identity is linked to a heliogate user by (issuer, subject)
//! only; a first sign-in may make a user or link one by a verified address, and the role map
//! gives roles at every sign-in, through the authority rules.
//!
//! `admin`: upstreams and links, as administrators manage them; `provider`: the calls to the
//! provider; `accounts`: which user an identity is, and their roles; `sign_in`: the round trip.

mod accounts;
mod admin;
mod provider;
mod sign_in;

use heliogate_core::upstream::{
    check_claim_name, IdTokenRefusal, Issuer, Preset, Provision, RoleMap, UpstreamName,
};
use heliogate_core::RoleName;
use heliogate_store::Upstream;

use crate::oidc::sealing::{self, KeyEncryptionKey};
use crate::{invalid, Result};

pub(crate) use admin::upstream_row;
pub use admin::{
    add_upstream, delete_upstream, link_identity, list_identities, list_upstreams,
    remove_own_identity, show_upstream, unlink_identity, AddUpstream, IdentityView, UpstreamView,
};
pub use provider::Providers;
pub use sign_in::{begin_sign_in, finish_sign_in, Begun, Callback, Finished, STATE_SECONDS};

/// Where a provider sends its users back: the redirect URI to register there.
pub fn callback_uri(issuer: &str, name: &str) -> String {
    format!(
        "{}/login/upstream/{name}/callback",
        issuer.trim_end_matches('/')
    )
}

/// What the secret of an upstream is sealed to.
pub fn secret_aad(name: &str) -> String {
    format!("upstream:{name}")
}

/// An upstream's settings, read from the store and checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub name: UpstreamName,
    pub preset: Preset,
    pub issuer: Issuer,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub provision: Provision,
    pub default_roles: Vec<RoleName>,
    pub role_claim: Option<String>,
    pub role_map: RoleMap,
    pub trust_mfa: bool,
}

impl Settings {
    /// The settings of a stored upstream, its secret opened with `kek`.
    pub(crate) fn read(stored: &Upstream, kek: Option<&KeyEncryptionKey>) -> Result<Self> {
        let client_secret = match &stored.client_secret {
            Some(sealed) => {
                let bytes = sealing::open(kek, &secret_aad(&stored.name), sealed)?;
                Some(String::from_utf8(bytes).map_err(invalid)?)
            }
            None => None,
        };
        let default_roles: Vec<String> =
            serde_json::from_str(&stored.default_roles).map_err(invalid)?;
        let role_map: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&stored.role_map).map_err(invalid)?;
        if let Some(claim) = &stored.role_claim {
            check_claim_name(claim).map_err(invalid)?;
        }
        Ok(Self {
            name: UpstreamName::parse(&stored.name).map_err(invalid)?,
            preset: Preset::parse(&stored.preset).map_err(invalid)?,
            issuer: Issuer::parse(&stored.issuer).map_err(invalid)?,
            client_id: stored.client_id.clone(),
            client_secret,
            scopes: stored
                .scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            provision: Provision::parse(&stored.provision).map_err(invalid)?,
            default_roles: default_roles
                .iter()
                .map(|r| RoleName::parse(r).map_err(invalid))
                .collect::<Result<_>>()?,
            role_claim: stored.role_claim.clone(),
            role_map: RoleMap::from_map(&role_map).map_err(invalid)?,
            trust_mfa: stored.trust_mfa,
        })
    }
}

/// Why a sign-in through an upstream did not go through: said to the person signing in (who
/// has proved nothing to heliogate yet, or has proved who they are upstream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("this sign-in was not started in this browser, was used already or has expired: start again")]
    UnknownState,
    #[error("the provider ended the sign-in ({0})")]
    ProviderError(String),
    #[error("the provider could not be reached")]
    Unreachable,
    #[error("the provider's answer was not understood")]
    Garbled,
    #[error("the provider's discovery document names another issuer")]
    WrongIssuer,
    #[error("the answer names another issuer than the provider (RFC 9207)")]
    MixUp,
    #[error("the provider refused the authorization code ({0})")]
    CodeRefused(String),
    #[error("the ID token's signature does not verify with the provider's keys")]
    BadSignature,
    #[error("{0}")]
    IdToken(IdTokenRefusal),
    #[error("no heliogate account is linked to this identity: ask an administrator to link it")]
    NotLinked,
    #[error(
        "the provider has not verified this identity's e-mail address, so it links to no account"
    )]
    UnverifiedEmail,
    #[error("no single enabled heliogate account has this identity's e-mail address")]
    NoAccountForEmail,
    #[error("no free user name could be made for this identity")]
    NoFreeName,
    #[error("this heliogate account is disabled")]
    Disabled,
}

impl Failure {
    /// A short name for the audit record.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownState => "unknown_state",
            Self::ProviderError(_) => "provider_error",
            Self::Unreachable => "unreachable",
            Self::Garbled => "garbled",
            Self::WrongIssuer => "wrong_issuer",
            Self::MixUp => "mix_up",
            Self::CodeRefused(_) => "code_refused",
            Self::BadSignature => "bad_signature",
            Self::IdToken(IdTokenRefusal::Issuer) => "id_token_issuer",
            Self::IdToken(IdTokenRefusal::Subject) => "id_token_subject",
            Self::IdToken(IdTokenRefusal::Audience) => "id_token_audience",
            Self::IdToken(IdTokenRefusal::Expired) => "id_token_expired",
            Self::IdToken(IdTokenRefusal::Time) => "id_token_time",
            Self::IdToken(IdTokenRefusal::Nonce) => "id_token_nonce",
            Self::NotLinked => "not_linked",
            Self::UnverifiedEmail => "unverified_email",
            Self::NoAccountForEmail => "no_account_for_email",
            Self::NoFreeName => "no_free_name",
            Self::Disabled => "disabled",
        }
    }
}
