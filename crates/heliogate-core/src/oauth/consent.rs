//! Whether the user must be asked (RFC 6749 §10.2, OpenID Connect Core §3.1.2.4).

use crate::ScopeSet;

/// Whether a consent remembered for this user and client covers every scope about to be
/// granted, so that the user need not be asked again.
pub fn consent_covers(remembered: Option<&ScopeSet>, granting: &ScopeSet) -> bool {
    remembered.is_some_and(|r| granting.is_subset(r))
}

/// Who is asking, as far as consent is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentAsker {
    /// A public client: anyone who knows its id can present it (RFC 8252 §8.6: any local
    /// process can claim a loopback redirect URI).
    pub public: bool,
    /// An administrator vouched for the client.
    pub trusted: bool,
    /// The request said `prompt=consent`.
    pub prompt_consent: bool,
}

/// Whether the user must be asked now. A remembered consent answers for a confidential or a
/// trusted client only: for any other public client the user is asked every time (RFC 6749
/// §10.2: the server cannot know that it is really the client); `prompt=consent` always asks.
pub fn must_ask(remembered: Option<&ScopeSet>, granting: &ScopeSet, asker: ConsentAsker) -> bool {
    asker.prompt_consent
        || (asker.public && !asker.trusted)
        || !consent_covers(remembered, granting)
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
    fn an_untrusted_public_client_or_prompt_consent_asks_every_time() {
        let (read, remembered) = (set("read"), set("read"));
        let asker = |public, trusted, prompt_consent| ConsentAsker {
            public,
            trusted,
            prompt_consent,
        };
        assert!(!must_ask(
            Some(&remembered),
            &read,
            asker(false, false, false)
        ));
        assert!(must_ask(
            Some(&remembered),
            &read,
            asker(true, false, false)
        ));
        assert!(!must_ask(
            Some(&remembered),
            &read,
            asker(true, true, false)
        ));
        assert!(must_ask(
            Some(&remembered),
            &read,
            asker(false, false, true)
        ));
        assert!(must_ask(Some(&remembered), &read, asker(true, true, true)));
        assert!(must_ask(None, &read, asker(false, true, false)));
    }

    #[test]
    fn a_new_scope_or_no_consent_asks_again() {
        assert!(!consent_covers(Some(&set("read")), &set("read write")));
        assert!(!consent_covers(None, &set("read")));
    }
}
