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
    /// RFC 8693 §2.1: the token to exchange, and who acts.
    TokenExchange(Exchange<'a>),
}

/// RFC 8693 §3: the one token type heliogate takes and issues by exchange.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A token exchange request (RFC 8693 §2.1). The target is named by `resource` (and
/// `audience`), read with the other grants' resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange<'a> {
    pub subject_token: &'a str,
    /// The token of the party that acts, when it is not the client itself (§2.1 `actor_token`).
    pub actor_token: Option<&'a str>,
    pub scope: Option<ScopeSet>,
}

/// A token type parameter: absent where allowed, else an access token.
fn token_type(params: &Params, name: &str, required: bool) -> Result<(), OAuthError> {
    match param(params, name)? {
        None if !required => Ok(()),
        None => Err(OAuthError::invalid_request(format!(
            "parameter {name} is missing"
        ))),
        Some(ACCESS_TOKEN_TYPE) => Ok(()),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "{name} {other:?} is not supported: only {ACCESS_TOKEN_TYPE}"
        ))),
    }
}

impl<'a> Exchange<'a> {
    fn parse(params: &'a Params) -> Result<Self, OAuthError> {
        let subject_token = required(params, "subject_token")?;
        token_type(params, "subject_token_type", true)?;
        let actor_token = param(params, "actor_token")?;
        // §2.1: actor_token_type is required with an actor token and absent without one.
        match actor_token {
            Some(_) => token_type(params, "actor_token_type", true)?,
            None if param(params, "actor_token_type")?.is_some() => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type without actor_token",
                ))
            }
            None => {}
        }
        token_type(params, "requested_token_type", false)?;
        Ok(Exchange {
            subject_token,
            actor_token,
            scope: scope(params)?,
        })
    }
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
            GrantType::TokenExchange => TokenRequest::TokenExchange(Exchange::parse(params)?),
        })
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::DeviceCode { .. } => GrantType::DeviceCode,
            TokenRequest::TokenExchange(_) => GrantType::TokenExchange,
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
    fn rfc_8693_2_1_an_exchange_names_its_token_types() {
        let grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange";
        let access = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
        let params = Params::parse(&format!(
            "{grant}&subject_token=s&subject_token_type={access}&actor_token=a&actor_token_type={access}&scope=read"
        ));
        assert_eq!(
            parsed(&params),
            Ok(TokenRequest::TokenExchange(Exchange {
                subject_token: "s",
                actor_token: Some("a"),
                scope: ScopeSet::parse("read").ok(),
            }))
        );
        for refused in [
            format!("{grant}&subject_token=s"),
            format!("{grant}&subject_token_type={access}"),
            format!("{grant}&subject_token=s&subject_token_type=jwt"),
            format!("{grant}&subject_token=s&subject_token_type={access}&actor_token=a"),
            format!(
                "{grant}&subject_token=s&subject_token_type={access}&actor_token_type={access}"
            ),
            format!("{grant}&subject_token=s&subject_token_type={access}&requested_token_type=x"),
        ] {
            assert_eq!(
                code_of(&refused),
                OAuthErrorCode::InvalidRequest,
                "{refused}"
            );
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
