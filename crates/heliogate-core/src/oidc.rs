//! OpenID Connect Core 1.0 rules: the claims of an ID token and of the UserInfo answer, by
//! scope, as pure functions of what the store knows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{ScopeSet, UnixTime};

/// Core §3.1.3.6: the base64url of the left half of the SHA-256 of the access token, for the
/// SHA-256 algorithms heliogate signs with (RS256, ES256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// What the store knows of a user that claims may tell.
#[derive(Debug, Clone, Copy)]
pub struct UserFacts<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub roles: &'a [String],
    pub updated_at: UnixTime,
}

/// The claims about the user that the granted scopes release (Core §5.4), plus heliogate's
/// `roles` under the `roles` scope. `sub` always.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserClaims {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// An administrator typed the address; nobody proved that the user reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl UserClaims {
    pub fn released(user: UserFacts<'_>, scope: &ScopeSet) -> Self {
        let profile = scope.contains("profile");
        // An address stored before addresses were checked as they are now is released only if
        // it passes today's rule.
        let released = user
            .email
            .filter(|e| scope.contains("email") && crate::Email::parse(e).is_ok());
        Self {
            sub: user.id.to_owned(),
            // heliogate keeps one name per user: it is both.
            name: profile.then(|| user.name.to_owned()),
            preferred_username: profile.then(|| user.name.to_owned()),
            updated_at: profile.then_some(user.updated_at),
            email: released.map(str::to_owned),
            email_verified: released.map(|_| false),
            roles: scope.contains("roles").then(|| user.roles.to_vec()),
        }
    }
}

/// The authentication class of a sign-in with a password alone.
pub const ACR_PASSWORD: &str = "pwd";
/// The authentication class of a sign-in with a second factor; a client asks for it with
/// `acr_values=mfa`.
pub const ACR_MFA: &str = "mfa";

/// Whether an `amr` list (space-separated, RFC 8176) includes a second factor.
pub fn has_second_factor(amr: &str) -> bool {
    amr.split(' ').any(|m| m == ACR_MFA)
}

/// The authentication class that an `amr` list (RFC 8176) amounts to.
pub fn acr_of(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa") {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// The claims every ID token has (Core §2, §3.1.3.6), then the user's.
#[derive(Debug, Clone, Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub aud: String,
    /// The client the token was issued to: the audience, said again for RPs that check it.
    pub azp: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the user authenticated (RFC 8176): `pwd`; `pwd otp mfa` with a second factor.
    pub amr: Vec<String>,
    /// The class of the authentication (`ACR_PASSWORD` or `ACR_MFA`).
    pub acr: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(flatten)]
    pub user: UserClaims,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // OpenID Connect Core §A.3's example access token and at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn each_scope_releases_its_claims_only() {
        let roles = vec!["reader".to_owned()];
        let user = UserFacts {
            id: "u1",
            name: "alice",
            email: Some("alice@example.org"),
            roles: &roles,
            updated_at: 7,
        };
        let scope = |s: &str| ScopeSet::parse(s).unwrap_or_default();
        let bare = UserClaims::released(user, &scope("openid"));
        assert_eq!(bare.sub, "u1");
        assert!(bare.name.is_none() && bare.email.is_none() && bare.roles.is_none());
        let all = UserClaims::released(user, &scope("openid profile email roles"));
        assert_eq!(all.preferred_username.as_deref(), Some("alice"));
        assert_eq!(all.updated_at, Some(7));
        assert_eq!(all.email.as_deref(), Some("alice@example.org"));
        assert_eq!(all.email_verified, Some(false));
        assert_eq!(all.roles, Some(roles.clone()));
        let no_email = UserFacts {
            email: None,
            ..user
        };
        let claims = UserClaims::released(no_email, &scope("openid email"));
        assert!(claims.email.is_none() && claims.email_verified.is_none());
    }

    #[test]
    fn a_second_factor_is_read_from_amr() {
        assert!(has_second_factor("pwd otp mfa"));
        assert!(!has_second_factor("pwd"));
        assert!(!has_second_factor(""));
        assert!(!has_second_factor("mfax"));
    }
}
