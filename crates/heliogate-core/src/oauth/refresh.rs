//! Using a refresh token (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): each token works
//! once; a second use is a replay that revokes its whole family. A refresh may narrow the
//! scope, never widen it, and never beyond what the user's roles hold now.

use crate::oauth::{grant_scopes, OAuthError};
use crate::{ScopeSet, UnixTime};

/// What is stored of a refresh token.
#[derive(Debug, Clone, Copy)]
pub struct StoredRefresh<'a> {
    pub client_id: &'a str,
    /// Exchanged for its successor already.
    pub rotated: bool,
    pub revoked: bool,
    pub expires_at: UnixTime,
}

/// What a presented refresh token is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshUse {
    /// It may be exchanged now.
    Usable,
    /// It was exchanged before: someone holds a copy. Revoke the family, then refuse.
    Replayed,
    /// Refuse it: another client's, revoked or expired. Indistinguishable to the client.
    Invalid,
}

/// How `token` may be used by the authenticated client `client_id` at `now`.
pub fn check_refresh(token: &StoredRefresh<'_>, client_id: &str, now: UnixTime) -> RefreshUse {
    // §6: "the refresh token was issued to the authenticated client": another client's use
    // tells nothing about a copy, so it revokes nothing.
    if token.client_id != client_id {
        RefreshUse::Invalid
    } else if token.rotated {
        RefreshUse::Replayed
    } else if token.revoked || now >= token.expires_at {
        RefreshUse::Invalid
    } else {
        RefreshUse::Usable
    }
}

/// The scope of the access token a refresh issues: what was asked (the original grant's when
/// nothing was), within the original grant (§6: "MUST NOT include any scope not originally
/// granted"), within what the client may still ask for and what the user's roles hold now.
pub fn refresh_scope(
    requested: Option<&ScopeSet>,
    original: &ScopeSet,
    client_allowed: &ScopeSet,
    user_holds: &ScopeSet,
    known: &ScopeSet,
) -> Result<ScopeSet, OAuthError> {
    if requested.is_some_and(|r| !r.is_subset(original)) {
        return Err(OAuthError::invalid_scope(
            "a refresh may not widen the scope",
        ));
    }
    let narrowed = requested.unwrap_or(original);
    grant_scopes(
        Some(narrowed),
        &client_allowed.intersection(original),
        Some(user_holds),
        known,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::OAuthErrorCode;

    const NOW: UnixTime = 1_800_000_000;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap_or_default()
    }

    fn token() -> StoredRefresh<'static> {
        StoredRefresh {
            client_id: "app",
            rotated: false,
            revoked: false,
            expires_at: NOW + 60,
        }
    }

    #[test]
    fn a_live_token_of_the_client_is_usable_once() {
        assert_eq!(check_refresh(&token(), "app", NOW), RefreshUse::Usable);
        let rotated = StoredRefresh {
            rotated: true,
            ..token()
        };
        assert_eq!(check_refresh(&rotated, "app", NOW), RefreshUse::Replayed);
    }

    #[test]
    fn another_clients_use_is_refused_without_revoking_anything() {
        let rotated = StoredRefresh {
            rotated: true,
            ..token()
        };
        assert_eq!(check_refresh(&rotated, "thief", NOW), RefreshUse::Invalid);
        assert_eq!(check_refresh(&token(), "thief", NOW), RefreshUse::Invalid);
    }

    #[test]
    fn a_revoked_or_expired_token_is_refused() {
        let revoked = StoredRefresh {
            revoked: true,
            ..token()
        };
        assert_eq!(check_refresh(&revoked, "app", NOW), RefreshUse::Invalid);
        assert_eq!(
            check_refresh(&token(), "app", NOW + 60),
            RefreshUse::Invalid
        );
    }

    const KNOWN: &str = "admin openid read write";

    #[test]
    fn a_refresh_keeps_the_original_scope_by_default_and_may_narrow_it() {
        let all = set("read write");
        assert_eq!(
            refresh_scope(None, &all, &all, &all, &set(KNOWN)),
            Ok(set("read write"))
        );
        assert_eq!(
            refresh_scope(Some(&set("read")), &all, &all, &all, &set(KNOWN)),
            Ok(set("read"))
        );
    }

    #[test]
    fn a_refresh_never_widens_the_original_grant() {
        let refused = refresh_scope(
            Some(&set("read admin")),
            &set("read"),
            &set("read admin"),
            &set("read admin"),
            &set(KNOWN),
        );
        assert_eq!(
            refused.map_err(|e| e.code),
            Err(OAuthErrorCode::InvalidScope)
        );
    }

    #[test]
    fn a_refresh_loses_what_the_user_or_client_no_longer_holds() {
        let original = set("read write");
        assert_eq!(
            refresh_scope(None, &original, &original, &set("read"), &set(KNOWN)),
            Ok(set("read"))
        );
        assert_eq!(
            refresh_scope(None, &original, &set("write"), &original, &set(KNOWN)),
            Ok(set("write"))
        );
        // Nothing left is an error, not an empty token.
        assert!(refresh_scope(None, &original, &original, &set("admin"), &set(KNOWN)).is_err());
    }
}
