//! A token request (RFC 6749 §4.1.3, §4.4.2, §6), read once from its parameters by the rules of
//! §3.1 and §3.2: a parameter sent without a value is omitted, one sent twice is refused. The
//! grant functions take the typed request; nothing reads the parameters again.

use crate::oauth::{OAuthError, Params};
use crate::{GrantType, ScopeSet};

/// What the client asked for, by grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest<'a> {
    /// §4.1.3, with RFC 7636's verifier.
    AuthorizationCode {
        code: &'a str,
        redirect_uri: Option<&'a str>,
        code_verifier: Option<&'a str>,
    },
    /// §6: the scope asked for, at most the original.
    RefreshToken {
        refresh_token: &'a str,
        scope: Option<ScopeSet>,
    },
    /// §4.4.2.
    ClientCredentials { scope: Option<ScopeSet> },
    /// RFC 8628 §3.4: the device code the client polls with.
    DeviceCode { device_code: &'a str },
}

/// The grant a request names: one heliogate has, or the name it does not know (answered after
/// the client is authenticated, RFC 6749 §5.2 `unsupported_grant_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant<'a> {
    Known(GrantType),
    Unknown(&'a str),
}

fn param<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, OAuthError> {
    params
        .get(name)
        .map_err(|r| OAuthError::invalid_request(format!("parameter {} is repeated", r.0)))
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    param(params, name)?
        .ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
}

fn scope(params: &Params) -> Result<Option<ScopeSet>, OAuthError> {
    param(params, "scope")?
        .map(|s| ScopeSet::parse(s).map_err(|e| OAuthError::invalid_scope(e.to_string())))
        .transpose()
}

/// The request's `grant_type`: required, once.
pub fn grant(params: &Params) -> Result<Grant<'_>, OAuthError> {
    let named = required(params, "grant_type")?;
    Ok(GrantType::from_wire(named).map_or(Grant::Unknown(named), Grant::Known))
}

impl<'a> TokenRequest<'a> {
    /// The request for `grant`, with what that grant needs.
    pub fn parse(params: &'a Params, grant: GrantType) -> Result<Self, OAuthError> {
        Ok(match grant {
            GrantType::AuthorizationCode => TokenRequest::AuthorizationCode {
                code: required(params, "code")?,
                redirect_uri: param(params, "redirect_uri")?,
                code_verifier: param(params, "code_verifier")?,
            },
            GrantType::RefreshToken => TokenRequest::RefreshToken {
                refresh_token: required(params, "refresh_token")?,
                scope: scope(params)?,
            },
            GrantType::ClientCredentials => TokenRequest::ClientCredentials {
                scope: scope(params)?,
            },
            GrantType::DeviceCode => TokenRequest::DeviceCode {
                device_code: required(params, "device_code")?,
            },
        })
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::OAuthErrorCode;

    fn parsed(params: &Params) -> Result<TokenRequest<'_>, OAuthError> {
        match grant(params)? {
            Grant::Known(g) => TokenRequest::parse(params, g),
            Grant::Unknown(name) => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                name.to_owned(),
            )),
        }
    }

    fn code_of(text: &str) -> OAuthErrorCode {
        parsed(&Params::parse(text)).map_or_else(|e| e.code, |r| unreachable!("{r:?}"))
    }

    #[test]
    fn rfc_6749_3_2_empty_is_omitted_and_repeated_is_refused() {
        let params = Params::parse("grant_type=authorization_code&code=c&redirect_uri=");
        assert_eq!(
            parsed(&params),
            Ok(TokenRequest::AuthorizationCode {
                code: "c",
                redirect_uri: None,
                code_verifier: None
            })
        );
        for text in [
            "grant_type=authorization_code&code=a&code=b",
            "grant_type=refresh_token&grant_type=refresh_token",
            "grant_type=&code=c",
        ] {
            assert_eq!(code_of(text), OAuthErrorCode::InvalidRequest, "{text}");
        }
    }

    #[test]
    fn each_grant_takes_what_it_needs() {
        assert_eq!(
            code_of("grant_type=refresh_token&code=x"),
            OAuthErrorCode::InvalidRequest
        );
        let params = Params::parse("grant_type=refresh_token&refresh_token=r&scope=read");
        assert_eq!(
            parsed(&params).map(|r| r.grant_type()),
            Ok(GrantType::RefreshToken)
        );
        assert_eq!(
            code_of("grant_type=client_credentials&scope=a%22b"),
            OAuthErrorCode::InvalidScope
        );
        assert_eq!(
            code_of("grant_type=password&username=u"),
            OAuthErrorCode::UnsupportedGrantType
        );
        // RFC 8628 §3.4: the grant is named by its URI, never by the short name.
        assert_eq!(
            code_of("grant_type=device_code&device_code=d"),
            OAuthErrorCode::UnsupportedGrantType
        );
        let params = Params::parse(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=d",
        );
        assert_eq!(
            parsed(&params),
            Ok(TokenRequest::DeviceCode { device_code: "d" })
        );
    }
}
