//! OAuth 2 clients: their kind, grant types and redirect URIs (RFC 6749 §2, §3.1.2; RFC 8252).

use std::fmt;
use std::str::FromStr;

use crate::scope::Scope;

/// The grant types heliogate implements. There is deliberately no implicit and no password
/// grant (RFC 9700 §2.1.2, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1, with PKCE (RFC 7636).
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4; confidential clients only.
    ClientCredentials,
    /// RFC 8628: a device without a browser polls while its user approves elsewhere.
    DeviceCode,
    /// RFC 8693: a service exchanges a token it was given for one to call another service;
    /// confidential clients only.
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
        GrantType::TokenExchange,
    ];

    /// The name a registration, the store and the console use.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "device_code",
            GrantType::TokenExchange => "token_exchange",
        }
    }

    /// The `grant_type` a token request sends (an extension grant's is a URI, RFC 6749 §4.5).
    pub fn wire_name(self) -> &'static str {
        match self {
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            other => other.as_str(),
        }
    }

    /// The grant a token request's `grant_type` names.
    pub fn from_wire(name: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|g| g.wire_name() == name)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = ClientSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| ClientSpecError::UnknownGrantType(s.to_owned()))
    }
}

/// The JWS algorithm a client's ID tokens and JWT access tokens are signed with. RS256 is the
/// default (OpenID Connect Registration §2); ES256 is smaller and faster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SigningAlg {
    #[default]
    Rs256,
    Es256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Rs256, SigningAlg::Es256];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
        }
    }
}

impl FromStr for SigningAlg {
    type Err = ClientSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SigningAlg::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ClientSpecError::UnknownSigningAlg(s.to_owned()))
    }
}

/// What a client's access tokens are: opaque (checked at heliogate) or JWTs that a resource
/// server can verify itself (RFC 9068), which heliogate checks and revokes alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccessTokenFormat {
    #[default]
    Opaque,
    Jwt,
}

impl AccessTokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessTokenFormat::Opaque => "opaque",
            AccessTokenFormat::Jwt => "jwt",
        }
    }
}

impl FromStr for AccessTokenFormat {
    type Err = ClientSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opaque" => Ok(AccessTokenFormat::Opaque),
            "jwt" => Ok(AccessTokenFormat::Jwt),
            other => Err(ClientSpecError::UnknownTokenFormat(other.to_owned())),
        }
    }
}

/// RFC 6749 §2.1: whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Confidential,
    Public,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientSpecError {
    #[error(
        "unknown grant type {0:?} (known: authorization_code, refresh_token, client_credentials, device_code, token_exchange)"
    )]
    UnknownGrantType(String),
    #[error("unknown signing algorithm {0:?} (known: RS256, ES256)")]
    UnknownSigningAlg(String),
    #[error("unknown access token format {0:?} (known: opaque, jwt)")]
    UnknownTokenFormat(String),
    #[error("invalid redirect URI {uri:?}: {reason}")]
    BadRedirectUri { uri: String, reason: &'static str },
    #[error("invalid back-channel logout URI {uri:?}: {reason}")]
    BadLogoutUri { uri: String, reason: &'static str },
    #[error("invalid resource {uri:?}: {reason}")]
    BadResource { uri: String, reason: &'static str },
    #[error("the client name must be 1 to 200 printable characters")]
    BadName,
    #[error("the authorization_code grant needs at least one --redirect-uri")]
    NoRedirectUri,
    #[error("redirect URIs serve only the authorization_code grant")]
    RedirectWithoutCode,
    #[error("a public client cannot use the client_credentials grant (RFC 6749 §4.4)")]
    PublicClientCredentials,
    #[error("a public client cannot exchange tokens (RFC 8693 §2.1: the exchanging client authenticates)")]
    PublicTokenExchange,
    #[error("the refresh_token grant needs the authorization_code or device_code grant")]
    RefreshWithoutCode,
    #[error("a public client needs the authorization_code or device_code grant")]
    PublicWithoutCode,
    #[error("a client id is 1 to {} visible ASCII characters", ClientId::MAX_LEN)]
    BadClientId,
}

/// A client identifier (RFC 6749 §2.2): 1 to 128 visible ASCII characters (Appendix A.1's
/// `VSCHAR` without the space). heliogate issues 32 hexadecimal digits; longer ones come from
/// installations imported from elsewhere. Anything else is no client's id, so it is refused at
/// the edge before it reaches the store or the audit log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Self, ClientSpecError> {
        if s.is_empty() || s.len() > Self::MAX_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClientSpecError::BadClientId);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute URI of at most 2000 characters, without white space and without a fragment:
/// what a redirect URI (RFC 6749 §3.1.2) and a resource indicator (RFC 8707 §2) have in common.
/// The reason when it is not one.
pub(crate) fn absolute_uri(s: &str) -> Result<url::Url, &'static str> {
    if s.len() > 2000 {
        return Err("longer than 2000 characters");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains white space or control characters");
    }
    let url = url::Url::parse(s).map_err(|_| "not an absolute URI")?;
    if url.fragment().is_some() || s.contains('#') {
        return Err("must not have a fragment");
    }
    Ok(url)
}

/// A redirect URI as registered: kept as the exact string given, because authorization
/// requests must match it exactly (RFC 9700 §4.1.3), after checking that it is one we may
/// send a code to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedirectUri(String);

/// A stored redirect URI, read back: checked again.
impl TryFrom<String> for RedirectUri {
    type Error = ClientSpecError;

    fn try_from(s: String) -> Result<Self, ClientSpecError> {
        Self::parse(&s)
    }
}

impl RedirectUri {
    /// Accepts an absolute URI without fragment or user info (RFC 6749 §3.1.2) that is either
    /// `https`, `http` on a loopback host (RFC 8252 §7.3), or a private-use scheme with a
    /// period in it, as native apps use (RFC 8252 §7.1).
    pub fn parse(s: &str) -> Result<Self, ClientSpecError> {
        let bad = |reason| ClientSpecError::BadRedirectUri {
            uri: s.to_owned(),
            reason,
        };
        let url = absolute_uri(s).map_err(bad)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry user info"));
        }
        match url.scheme() {
            "https" if url.host().is_some() => Ok(Self(s.to_owned())),
            "http" if is_loopback(&url) => Ok(Self(s.to_owned())),
            "http" => Err(bad("http is allowed only for loopback hosts; use https")),
            scheme if scheme.contains('.') => Ok(Self(s.to_owned())),
            "https" => Err(bad("has no host")),
            _ => Err(bad(
                "scheme must be https, loopback http, or a private-use reverse-domain scheme",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an authorization request's `redirect_uri` names this registered URI: the same
    /// string, except that for a loopback IP literal any port is accepted (RFC 8252 §7.3).
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        let (Ok(registered), Ok(requested)) =
            (url::Url::parse(&self.0), url::Url::parse(requested))
        else {
            return false;
        };
        let loopback_ip = matches!(registered.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(registered.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        if registered.scheme() != "http" || !loopback_ip {
            return false;
        }
        let mut without_port = requested.clone();
        if without_port.set_port(registered.port()).is_err() {
            return false;
        }
        without_port == registered && requested.fragment().is_none()
    }
}

/// Where a relying party takes logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.2):
/// an absolute `https` URI, or `http` on a loopback host for development; no fragment, no user
/// info. The server itself calls it, so no private-use scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutUri(String);

impl TryFrom<String> for LogoutUri {
    type Error = ClientSpecError;

    fn try_from(s: String) -> Result<Self, ClientSpecError> {
        Self::parse(&s)
    }
}

impl LogoutUri {
    /// A redirect URI's rules (`RedirectUri::parse`), less the private-use schemes.
    pub fn parse(s: &str) -> Result<Self, ClientSpecError> {
        let bad = |reason| ClientSpecError::BadLogoutUri {
            uri: s.to_owned(),
            reason,
        };
        match RedirectUri::parse(s) {
            Ok(uri)
                if url::Url::parse(&uri.0)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https")) =>
            {
                Ok(Self(uri.0))
            }
            Ok(_) => Err(bad("must be https, or http on a loopback host")),
            Err(ClientSpecError::BadRedirectUri { reason, .. }) => Err(bad(reason)),
            Err(e) => Err(e),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a URL names this machine: a loopback address, or `localhost`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A client's registration, checked for consistency. Whether its scopes are known to the
/// server is checked against the store by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<Scope>,
}

impl ClientSpec {
    /// Builds a registration. With no grant types given, a client with redirect URIs gets
    /// `authorization_code` and `refresh_token`, one without gets `client_credentials`.
    pub fn new(
        name: &str,
        kind: ClientKind,
        redirect_uris: Vec<RedirectUri>,
        mut grant_types: Vec<GrantType>,
        mut scopes: Vec<Scope>,
    ) -> Result<Self, ClientSpecError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(ClientSpecError::BadName);
        }
        if grant_types.is_empty() {
            grant_types = if redirect_uris.is_empty() && kind == ClientKind::Confidential {
                vec![GrantType::ClientCredentials]
            } else {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            };
        }
        grant_types.sort();
        grant_types.dedup();
        scopes.sort();
        scopes.dedup();
        let mut redirect_uris = redirect_uris;
        redirect_uris.dedup();
        let has = |g| grant_types.contains(&g);
        if kind == ClientKind::Public {
            if has(GrantType::ClientCredentials) {
                return Err(ClientSpecError::PublicClientCredentials);
            }
            if has(GrantType::TokenExchange) {
                return Err(ClientSpecError::PublicTokenExchange);
            }
            if !has(GrantType::AuthorizationCode) && !has(GrantType::DeviceCode) {
                return Err(ClientSpecError::PublicWithoutCode);
            }
        }
        if has(GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(ClientSpecError::NoRedirectUri);
        }
        if !has(GrantType::AuthorizationCode) && !redirect_uris.is_empty() {
            return Err(ClientSpecError::RedirectWithoutCode);
        }
        if has(GrantType::RefreshToken)
            && !has(GrantType::AuthorizationCode)
            && !has(GrantType::DeviceCode)
        {
            return Err(ClientSpecError::RefreshWithoutCode);
        }
        Ok(Self {
            name: name.to_owned(),
            kind,
            redirect_uris,
            grant_types,
            scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_visible_ascii_of_bounded_length() {
        assert!(ClientId::parse("0123456789abcdef0123456789abcdef").is_ok());
        assert!(ClientId::parse(&"x".repeat(ClientId::MAX_LEN)).is_ok());
        for bad in ["", "a b", "a\u{0}b", "caf\u{e9}", "tab\t", &"x".repeat(129)] {
            assert_eq!(
                ClientId::parse(bad),
                Err(ClientSpecError::BadClientId),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_logout_uri_is_https_or_loopback_http() {
        for good in [
            "https://app.example.org/backchannel",
            "https://app.example.org:8443/logout?from=op",
            "http://127.0.0.1:9000/logout",
            "http://localhost/logout",
        ] {
            assert!(LogoutUri::parse(good).is_ok(), "{good:?} was refused");
        }
        for bad in [
            "http://app.example.org/logout",
            "https://app.example.org/logout#x",
            "https://user:pw@app.example.org/logout",
            "org.example.app:/logout",
            "/logout",
            "javascript:alert(1)",
        ] {
            assert!(
                matches!(
                    LogoutUri::parse(bad),
                    Err(ClientSpecError::BadLogoutUri { .. })
                ),
                "{bad:?} was accepted"
            );
        }
    }

    fn uri(s: &str) -> RedirectUri {
        RedirectUri::parse(s).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn redirect_uris_follow_rfc_6749_section_3_1_2_and_rfc_8252() {
        for good in [
            "https://app.example.org/callback",
            "https://app.example.org/cb?x=1",
            "http://127.0.0.1/cb",
            "http://[::1]:8000/cb",
            "http://localhost:3000/cb",
            "org.example.app:/oauth2redirect",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good:?} was refused");
        }
        for bad in [
            "",
            "/relative",
            "http://app.example.org/cb",
            "https://app.example.org/cb#frag",
            "https://user:pw@app.example.org/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://app.example.org/c b",
            " https://app.example.org/cb",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn matching_is_exact_except_a_loopback_ip_port() {
        let web = uri("https://app.example.org/cb");
        assert!(web.matches("https://app.example.org/cb"));
        assert!(!web.matches("https://app.example.org/cb/"));
        assert!(!web.matches("https://APP.example.org/cb"));
        assert!(!web.matches("https://app.example.org/cb?x=1"));
        let native = uri("http://127.0.0.1/cb");
        assert!(native.matches("http://127.0.0.1:51234/cb"));
        assert!(!native.matches("http://127.0.0.1:51234/other"));
        assert!(!native.matches("http://127.0.0.2:51234/cb"));
        let named = uri("http://localhost:3000/cb");
        assert!(!named.matches("http://localhost:3001/cb"));
    }

    #[test]
    fn grant_types_must_fit_the_client_kind() {
        let cb = || vec![uri("https://a.example/cb")];
        let spec = ClientSpec::new("svc", ClientKind::Confidential, vec![], vec![], vec![]);
        assert_eq!(
            spec.map(|s| s.grant_types),
            Ok(vec![GrantType::ClientCredentials])
        );
        let spec = ClientSpec::new("web", ClientKind::Public, cb(), vec![], vec![]);
        assert_eq!(
            spec.map(|s| s.grant_types),
            Ok(vec![GrantType::AuthorizationCode, GrantType::RefreshToken])
        );
        assert_eq!(
            ClientSpec::new(
                "x",
                ClientKind::Public,
                cb(),
                vec![GrantType::ClientCredentials],
                vec![]
            ),
            Err(ClientSpecError::PublicClientCredentials)
        );
        assert_eq!(
            ClientSpec::new(
                "x",
                ClientKind::Confidential,
                vec![],
                vec![GrantType::AuthorizationCode],
                vec![]
            ),
            Err(ClientSpecError::NoRedirectUri)
        );
        assert_eq!(
            ClientSpec::new("x", ClientKind::Public, vec![], vec![], vec![]),
            Err(ClientSpecError::NoRedirectUri)
        );
        assert_eq!(
            "implicit".parse::<GrantType>(),
            Err(ClientSpecError::UnknownGrantType("implicit".into()))
        );
    }

    #[test]
    fn a_device_needs_no_redirect_uri_and_may_be_public() {
        let device = vec![GrantType::DeviceCode, GrantType::RefreshToken];
        let spec = ClientSpec::new("cli", ClientKind::Public, vec![], device, vec![]);
        assert_eq!(
            spec.map(|s| s.grant_types),
            Ok(vec![GrantType::RefreshToken, GrantType::DeviceCode])
        );
        assert_eq!(
            GrantType::from_wire("urn:ietf:params:oauth:grant-type:device_code"),
            Some(GrantType::DeviceCode)
        );
        assert_eq!(GrantType::from_wire("device_code"), None);
        assert_eq!(
            "device_code".parse::<GrantType>(),
            Ok(GrantType::DeviceCode)
        );
    }
}
