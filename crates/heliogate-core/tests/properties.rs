//! Every parser of untrusted input, fed what an attacker could send: it never panics, and it
//! answers with a typed refusal or a value that keeps its promises. The number of cases is
//! proptest's (256 a property; `PROPTEST_CASES` raises it), so the run is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heliogate_core::oauth::authorize::{validate_authorize, RegisteredClient};
use heliogate_core::oauth::pkce::{is_valid_challenge, is_valid_verifier, verify_s256};
use heliogate_core::oauth::resource::Resource;
use heliogate_core::oauth::Params;
use heliogate_core::{
    describe_user_agent, safe_next, ClientId, Email, GrantType, RedirectUri, RoleName, Scope,
    ScopeSet, ServerKey, TokenKey, UserName,
};
use proptest::prelude::*;

/// Text as it arrives: any characters, with the ones parsers split on or decode made common.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-z0-9%&=+:/?#@.\\\\\"'<>\u{0}\n\r\t-]{0,64}",
        "(https?|HTTP|javascript|data|file)://[a-z0-9.:@/?#%\\[\\]-]{0,40}",
    ]
}

proptest! {
    #[test]
    fn form_and_query_bodies_parse_to_pairs(text in hostile()) {
        let params = Params::parse(&text);
        for (name, _) in params.pairs() {
            // A repeated name is a typed refusal, never the first or last value silently.
            let count = params.pairs().iter().filter(|(n, _)| n == name).count();
            prop_assert_eq!(params.get(name).is_err(), count > 1);
        }
        let _ = params.check_text();
    }

    #[test]
    fn scopes_round_trip_or_are_refused(text in hostile()) {
        if let Ok(set) = ScopeSet::parse(&text) {
            let wire = set.to_string();
            prop_assert_eq!(ScopeSet::parse(&wire), Ok(set.clone()));
            prop_assert!(wire.bytes().all(|b| b == b' ' || (0x21..=0x7e).contains(&b)));
        }
        let _ = Scope::parse(&text);
    }

    #[test]
    fn redirect_uris_and_resources_have_no_fragment(text in hostile()) {
        if let Ok(uri) = RedirectUri::parse(&text) {
            prop_assert!(!uri.as_str().contains('#'));
        }
        if let Ok(resource) = Resource::parse(&text) {
            prop_assert!(!resource.as_str().contains('#'));
        }
    }

    #[test]
    fn pkce_values_are_checked_without_panicking(verifier in hostile(), challenge in hostile()) {
        let _ = is_valid_verifier(&verifier);
        let _ = is_valid_challenge(&challenge);
        prop_assert!(!verify_s256(&verifier, &challenge) || is_valid_verifier(&verifier));
    }

    #[test]
    fn names_and_addresses_are_refused_or_clean(text in hostile()) {
        if let Ok(email) = Email::parse(&text) {
            prop_assert_eq!(email.as_str().matches('@').count(), 1);
            prop_assert!(!email.as_str().contains(['<', '>', '"', ' ', '\n']));
        }
        for ok in [
            UserName::parse(&text).is_ok(),
            RoleName::parse(&text).is_ok(),
            ClientId::parse(&text).is_ok(),
        ] {
            prop_assert!(!ok || !text.chars().any(char::is_control));
        }
        let _ = text.parse::<GrantType>();
    }

    #[test]
    fn where_to_go_after_signing_in_stays_here(next in hostile()) {
        let to = safe_next(Some(&next));
        // A path on this server: no other origin a browser could read into it (a backslash
        // matters only in the path; the query may carry one).
        let path = to.split(['?', '#']).next().unwrap_or_default();
        prop_assert!(to.starts_with('/'));
        prop_assert!(!to.starts_with("//") && !path.contains('\\'));
        prop_assert!(!to.chars().any(|c| c.is_control() || c.is_whitespace()));
        let _ = describe_user_agent(Some(&next));
    }

    #[test]
    fn tokens_and_tags_are_looked_up_not_trusted(token in hostile(), tag in hostile()) {
        let _ = TokenKey::of(&token);
        let key = ServerKey::decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        prop_assert_eq!(key.verify("form", &token, &tag), tag == key.tag("form", &token));
        prop_assert!(key.verify("form", &token, &key.tag("form", &token)));
    }

    #[test]
    fn authorization_requests_are_answered_not_panicked_on(query in hostile(), extra in hostile()) {
        let client = RegisteredClient {
            client_id: "app".into(),
            pkce_required: true,
            redirect_uris: vec![RedirectUri::parse("https://app.example/cb").unwrap()],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: ScopeSet::parse("openid read").unwrap(),
            resources: vec![],
        };
        let text = format!("client_id=app&response_type=code&{query}&{extra}");
        let _ = validate_authorize(&Params::parse(&text), Some(&client));
        let _ = validate_authorize(&Params::parse(&query), Some(&client));
    }
}
