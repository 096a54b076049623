//! Whether the user must be asked (RFC 6749 §10.2, OpenID Connect Core §3.1.2.4).

use crate::ScopeSet;

/// Whether a consent remembered for this user and client covers every scope about to be
/// granted, so that the user need not be asked again.
pub fn consent_covers(remembered: Option<&ScopeSet>, granting: &ScopeSet) -> bool {
    remembered.is_some_and(|r| granting.is_subset(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap_or_default()
    }

    #[test]
    fn a_remembered_consent_covers_the_same_or_fewer_scopes() {
        assert!(consent_covers(Some(&set("read write")), &set("read")));
        assert!(consent_covers(Some(&set("read")), &set("read")));
    }

    #[test]
    fn a_new_scope_or_no_consent_asks_again() {
        assert!(!consent_covers(Some(&set("read")), &set("read write")));
        assert!(!consent_covers(None, &set("read")));
    }
}
