//! OAuth 2 error codes, as sent on the wire.

use std::fmt;

/// The `error` values of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1 and RFC 7009 §2.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (RFC 6749 §5.2): answered with 401.
    InvalidClient,
    /// The grant (code, refresh token) is invalid, expired, revoked, or was issued to another
    /// client (RFC 6749 §5.2).
    InvalidGrant,
    /// The client may not use this grant type or response type.
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    /// The scope is malformed or unknown.
    InvalidScope,
    /// The resource owner denied the request (RFC 6749 §4.1.2.1).
    AccessDenied,
    /// The token is unknown, expired or revoked (RFC 6750 §3.1).
    InvalidToken,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    ServerError,
    TemporarilyUnavailable,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and nobody is signed in (or not recently
    /// enough for `max_age`).
    LoginRequired,
    /// `prompt=none`, and the user would have to be asked for consent.
    ConsentRequired,
    /// Core §6: request objects (`request`, `request_uri`) are not supported.
    RequestNotSupported,
    RequestUriNotSupported,
    /// Core §3.1.2.6: the `registration` parameter is not supported.
    RegistrationNotSupported,
    /// RFC 8707 §2: the `resource` is malformed, or not one this client may ask for.
    InvalidTarget,
    /// RFC 8628 §3.5: the user has not answered yet; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; wait five more seconds between polls.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    /// RFC 9449 §5.1: the DPoP proof is missing, malformed or does not fit the request.
    InvalidDpopProof,
    /// RFC 9449 §8: send a proof again with the server's nonce (given in `DPoP-Nonce`).
    UseDpopNonce,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::InvalidToken => "invalid_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidTarget => "invalid_target",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its human-readable `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

/// An `error_description` as RFC 6749 §5.2 allows it: printable ASCII without `"` and `\`
/// (`%x20-21 / %x23-5B / %x5D-7E`). A quote becomes `'`, a backslash `/`, anything else
/// outside the set `?`, so that a message quoting the client's input stays valid.
pub fn description_chars(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description_chars(&description.into()),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_descriptions_hold_only_the_characters_rfc_6749_allows() {
        let error = OAuthError::invalid_request("unknown scope \"r\u{e9}ad\\x\"\n");
        assert_eq!(error.description, "unknown scope 'r?ad/x'?");
        assert!(error
            .description
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)));
    }
}
