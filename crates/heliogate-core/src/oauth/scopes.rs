//! Which scopes a token gets (RFC 6749 §3.3).

use crate::oauth::OAuthError;
use crate::scope::{Scope, ScopeSet};

/// The scopes to grant: what was requested (the client's allowed scopes when nothing was),
/// narrowed to what the client may ask for and, when the token acts for a user, to what the
/// user's roles hold (OpenID Connect scopes need no role). For a client acting for itself, the
/// OpenID Connect scopes mean nothing and are dropped.
///
/// A scope the server does not know is `invalid_scope`; so is a request that nothing is left
/// of, since a token without scope would be of no use. A narrowed grant is reported through
/// the token response's `scope`.
pub fn grant_scopes(
    requested: Option<&ScopeSet>,
    client_allowed: &ScopeSet,
    user_holds: Option<&ScopeSet>,
    known: &ScopeSet,
) -> Result<ScopeSet, OAuthError> {
    let requested = match requested {
        Some(r) if !r.is_empty() => r.clone(),
        _ => client_allowed.clone(),
    };
    if let Some(unknown) = requested.iter().find(|s| !known.contains(s.as_str())) {
        return Err(OAuthError::invalid_scope(format!(
            "unknown scope {:?}",
            unknown.as_str()
        )));
    }
    let granted: ScopeSet = requested
        .iter()
        .filter(|s| client_allowed.contains(s.as_str()))
        .filter(|s| match user_holds {
            Some(holds) => s.is_oidc() || holds.contains(s.as_str()),
            None => !s.is_oidc(),
        })
        .cloned()
        .collect::<Vec<Scope>>()
        .into_iter()
        .collect();
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes may be granted",
        ));
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap_or_default()
    }

    const KNOWN: &str = "admin email execute offline_access openid profile read write";

    #[test]
    fn a_grant_is_the_request_narrowed_by_client_and_user() {
        let granted = grant_scopes(
            Some(&set("read write admin")),
            &set("read write"),
            Some(&set("read")),
            &set(KNOWN),
        );
        assert_eq!(granted.map(|g| g.to_string()), Ok("read".into()));
    }

    #[test]
    fn no_request_means_the_clients_scopes() {
        let granted = grant_scopes(
            None,
            &set("read write"),
            Some(&set("read write execute")),
            &set(KNOWN),
        );
        assert_eq!(granted.map(|g| g.to_string()), Ok("read write".into()));
    }

    #[test]
    fn oidc_scopes_need_no_role_but_a_user() {
        let client = set("openid read");
        let for_user = grant_scopes(
            Some(&set("openid read")),
            &client,
            Some(&set("read")),
            &set(KNOWN),
        );
        assert_eq!(for_user.map(|g| g.to_string()), Ok("openid read".into()));
        let for_client = grant_scopes(Some(&set("openid read")), &client, None, &set(KNOWN));
        assert_eq!(for_client.map(|g| g.to_string()), Ok("read".into()));
    }

    #[test]
    fn an_unknown_or_empty_grant_is_invalid_scope() {
        let unknown = grant_scopes(Some(&set("read launch")), &set("read"), None, &set(KNOWN));
        assert_eq!(unknown.map_err(|e| e.code.as_str()), Err("invalid_scope"));
        let empty = grant_scopes(Some(&set("write")), &set("read"), None, &set(KNOWN));
        assert_eq!(empty.map_err(|e| e.code.as_str()), Err("invalid_scope"));
    }
}
