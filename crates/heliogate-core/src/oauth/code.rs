//! Redeeming an authorization code at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6).
//!
//! The store spends the code once; what is left to decide is whether the request that spent
//! it may have its tokens.

use crate::oauth::{pkce, OAuthError};
use crate::UnixTime;

/// What was stored with a code when it was issued.
#[derive(Debug, Clone, Copy)]
pub struct IssuedCode<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Whether the authorization request named the redirect URI.
    pub redirect_uri_given: bool,
    pub code_challenge: Option<&'a str>,
    pub expires_at: UnixTime,
}

/// What the token request presents with the code.
#[derive(Debug, Clone, Copy)]
pub struct CodeExchange<'a> {
    /// The authenticated client.
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// Whether `exchange` may have the tokens of `code` at `now`: an `invalid_grant` naming the
/// first rule it breaks otherwise.
pub fn check_code_exchange(
    code: &IssuedCode<'_>,
    exchange: &CodeExchange<'_>,
    now: UnixTime,
) -> Result<(), OAuthError> {
    // §4.1.3: "ensure that the authorization code was issued to the authenticated
    // confidential client, or if the client is public, ensure that the code was issued to
    // "client_id" in the request".
    if code.client_id != exchange.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    // §4.1.2: codes are short-lived; the expiry instant itself is already too late.
    if now >= code.expires_at {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    // §4.1.3: redirect_uri is REQUIRED if it was in the authorization request, "and their
    // values MUST be identical"; without it in the request, none is expected here.
    let redirect_matches = match exchange.redirect_uri {
        Some(uri) => uri == code.redirect_uri,
        None => !code.redirect_uri_given,
    };
    if !redirect_matches {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (code.code_challenge, exchange.code_verifier) {
        // RFC 7636 §4.6.
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "the PKCE code_verifier does not match",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant(
            "the PKCE code_verifier is missing",
        )),
        // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is refused.
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "no PKCE challenge was sent for this code",
        )),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::OAuthErrorCode;

    const NOW: UnixTime = 1_800_000_000;
    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn code() -> IssuedCode<'static> {
        IssuedCode {
            client_id: "app",
            redirect_uri: "https://app.example/cb",
            redirect_uri_given: true,
            code_challenge: Some(CHALLENGE),
            expires_at: NOW + 60,
        }
    }

    fn exchange() -> CodeExchange<'static> {
        CodeExchange {
            client_id: "app",
            redirect_uri: Some("https://app.example/cb"),
            code_verifier: Some(VERIFIER),
        }
    }

    fn refused(code: IssuedCode<'_>, exchange: CodeExchange<'_>, now: UnixTime) -> String {
        match check_code_exchange(&code, &exchange, now) {
            Err(e) => {
                assert_eq!(e.code, OAuthErrorCode::InvalidGrant);
                e.description
            }
            Ok(()) => String::from("accepted"),
        }
    }

    #[test]
    fn the_client_the_code_was_issued_to_redeems_it_with_its_verifier() {
        assert_eq!(check_code_exchange(&code(), &exchange(), NOW), Ok(()));
    }

    #[test]
    fn another_client_cannot_redeem_a_code() {
        let other = CodeExchange {
            client_id: "thief",
            ..exchange()
        };
        assert!(refused(code(), other, NOW).contains("another client"));
    }

    #[test]
    fn a_code_is_dead_from_its_expiry_on() {
        assert_eq!(check_code_exchange(&code(), &exchange(), NOW + 59), Ok(()));
        assert!(refused(code(), exchange(), NOW + 60).contains("expired"));
    }

    #[test]
    fn the_redirect_uri_must_be_repeated_exactly_when_it_was_given() {
        let missing = CodeExchange {
            redirect_uri: None,
            ..exchange()
        };
        assert!(refused(code(), missing, NOW).contains("redirect_uri"));
        let other = CodeExchange {
            redirect_uri: Some("https://app.example/cb/"),
            ..exchange()
        };
        assert!(refused(code(), other, NOW).contains("redirect_uri"));
        let not_given = IssuedCode {
            redirect_uri_given: false,
            ..code()
        };
        let absent = CodeExchange {
            redirect_uri: None,
            ..exchange()
        };
        assert_eq!(check_code_exchange(&not_given, &absent, NOW), Ok(()));
        assert_eq!(check_code_exchange(&not_given, &exchange(), NOW), Ok(()));
    }

    #[test]
    fn pkce_needs_the_right_verifier_exactly_when_a_challenge_was_sent() {
        let wrong = CodeExchange {
            code_verifier: Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ..exchange()
        };
        assert!(refused(code(), wrong, NOW).contains("does not match"));
        let missing = CodeExchange {
            code_verifier: None,
            ..exchange()
        };
        assert!(refused(code(), missing, NOW).contains("missing"));
        let no_challenge = IssuedCode {
            code_challenge: None,
            ..code()
        };
        assert!(refused(no_challenge, exchange(), NOW).contains("no PKCE challenge"));
        let neither = CodeExchange {
            code_verifier: None,
            ..exchange()
        };
        assert_eq!(check_code_exchange(&no_challenge, &neither, NOW), Ok(()));
    }
}
