//! Signing in through an upstream identity provider: what an upstream's settings may be, what an
//! ID token from it must say before heliogate believes it, and how an upstream identity becomes
//! a heliogate user's name and roles.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::{RoleName, UnixTime};

/// The password hash of a user made by a sign-in through an upstream: no password matches it
/// (it is no PHC string), and a sign-in with a password checks it as it would an unknown
/// user's, at the same cost, until an administrator or the user sets one.
pub const NO_PASSWORD: &str = "!none";

/// How far an upstream's clock may be from ours, in seconds, when its tokens' times are judged.
pub const CLOCK_SKEW: i64 = 120;

/// How old an upstream's ID token may be (its `iat`) when it arrives, in seconds: a sign-in
/// takes the user minutes at most.
pub const MAX_ID_TOKEN_AGE: i64 = 600;

/// Why an upstream's settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("an upstream's name must be 1 to 32 lowercase letters, digits and inner hyphens (got {0:?})")]
    BadName(String),
    #[error("an issuer must be an https URL without query or fragment (http only on the loopback address), got {0:?}")]
    BadIssuer(String),
    #[error("provision must be off, create or link-email (got {0:?})")]
    BadProvision(String),
    #[error("a role map entry must be VALUE=ROLE (got {0:?})")]
    BadRoleMap(String),
    #[error("a role claim must be a claim name of 1 to 64 characters (got {0:?})")]
    BadClaim(String),
    #[error("the preset must be oidc or github (got {0:?})")]
    BadPreset(String),
}

/// An upstream's name: it is part of its callback URL (`/login/upstream/NAME/callback`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UpstreamName(String);

impl UpstreamName {
    pub fn parse(s: &str) -> Result<Self, UpstreamError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(UpstreamError::BadName(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UpstreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upstream's issuer identifier (OpenID Connect Discovery §2): https, no query, no
/// fragment; plain http only on the loopback address, for a provider on the same machine.
/// Kept as given, without a trailing slash added or taken away: `iss` must equal it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(s: &str) -> Result<Self, UpstreamError> {
        let bad = || UpstreamError::BadIssuer(s.to_owned());
        let url = url::Url::parse(s).map_err(|_| bad())?;
        let loopback = matches!(
            url.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost");
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        if !scheme_ok
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.host_str().is_none_or(str::is_empty)
            || s.len() > 512
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where its discovery document is (OpenID Connect Discovery §4): the issuer's path with
    /// `/.well-known/openid-configuration` appended.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.0.trim_end_matches('/')
        )
    }
}

/// How the provider speaks: OpenID Connect, or GitHub's plain OAuth 2 with its user API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Oidc,
    /// GitHub (the issuer `https://github.com`) or a GitHub Enterprise Server (its base URL):
    /// no ID token; the user is read from the REST API with the access token.
    Github,
}

impl Preset {
    pub fn parse(s: &str) -> Result<Self, UpstreamError> {
        match s {
            "oidc" => Ok(Self::Oidc),
            "github" => Ok(Self::Github),
            other => Err(UpstreamError::BadPreset(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Github => "github",
        }
    }
}

/// What a first sign-in by an identity nobody linked yet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// Nothing: only identities an administrator linked sign in.
    Off,
    /// A new heliogate user is made for it.
    Create,
    /// It is linked to the user with the same address, when the provider vouches for the
    /// address (`email_verified`) and exactly one enabled user has it.
    LinkEmail,
}

impl Provision {
    pub fn parse(s: &str) -> Result<Self, UpstreamError> {
        match s {
            "off" => Ok(Self::Off),
            "create" => Ok(Self::Create),
            "link-email" => Ok(Self::LinkEmail),
            other => Err(UpstreamError::BadProvision(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Create => "create",
            Self::LinkEmail => "link-email",
        }
    }
}

/// A claim's name, as `--role-claim` names one.
pub fn check_claim_name(s: &str) -> Result<(), UpstreamError> {
    if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
        return Err(UpstreamError::BadClaim(s.to_owned()));
    }
    Ok(())
}

/// Which heliogate role each value of the role claim gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap(BTreeMap<String, RoleName>);

impl RoleMap {
    /// From `VALUE=ROLE` entries (the command line's); the value is everything before the
    /// last `=` (a group's path may hold one).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, UpstreamError> {
        let mut map = BTreeMap::new();
        for entry in entries {
            let entry = entry.as_ref();
            let (value, role) = entry
                .rsplit_once('=')
                .ok_or_else(|| UpstreamError::BadRoleMap(entry.to_owned()))?;
            map.insert(value.to_owned(), role.to_owned());
        }
        Self::from_map(&map)
    }

    /// From claim values to role names (a settings file's, the API's, the store's).
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Self, UpstreamError> {
        let mut checked = BTreeMap::new();
        for (value, role) in map {
            let bad = || UpstreamError::BadRoleMap(format!("{value}={role}"));
            if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
                return Err(bad());
            }
            let role = RoleName::parse(role).map_err(|_| bad())?;
            checked.insert(value.clone(), role);
        }
        Ok(Self(checked))
    }

    /// Claim values to role names, as `from_map` takes them.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(value, role)| (value.clone(), role.to_string()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every role the map can give.
    pub fn roles(&self) -> BTreeSet<RoleName> {
        self.0.values().cloned().collect()
    }

    /// The roles the claim's values give now.
    pub fn roles_for<S: AsRef<str>>(&self, values: &[S]) -> BTreeSet<RoleName> {
        values
            .iter()
            .filter_map(|v| self.0.get(v.as_ref()).cloned())
            .collect()
    }
}

/// A user's roles after a sign-in through an upstream whose map gave `before` at the last
/// sign-in and gives `now`: what the map took away goes, what it gives comes, and roles an
/// administrator gave otherwise stay.
pub fn roles_after_sign_in(
    current: &[RoleName],
    before: &BTreeSet<RoleName>,
    now: &BTreeSet<RoleName>,
) -> Vec<RoleName> {
    let mut roles: BTreeSet<RoleName> = current
        .iter()
        .filter(|r| !before.contains(*r) || now.contains(*r))
        .cloned()
        .collect();
    roles.extend(now.iter().cloned());
    roles.into_iter().collect()
}

/// What an upstream's ID token claims, as far as heliogate checks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub azp: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub nonce: Option<String>,
}

/// What a sign-in expects its ID token to say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: UnixTime,
}

/// Why an upstream's ID token was not believed (its signature aside).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenRefusal {
    #[error("the ID token's issuer is not the provider's")]
    Issuer,
    #[error("the ID token has no subject")]
    Subject,
    #[error("the ID token is for another client")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet, or was issued too long ago")]
    Time,
    #[error("the ID token answers another sign-in (nonce)")]
    Nonce,
}

/// OpenID Connect Core §3.1.3.7: the issuer exact; the audience naming us, and an `azp` (when
/// there are others in it, or when given) that is us; `exp` after now and `iat` recent and not
/// in the future, each with `CLOCK_SKEW` of grace; `nonce` the one this sign-in sent.
pub fn check_id_token(
    claims: &IdTokenClaims,
    expected: Expected<'_>,
) -> Result<(), IdTokenRefusal> {
    if claims.iss.as_deref() != Some(expected.issuer) {
        return Err(IdTokenRefusal::Issuer);
    }
    if claims
        .sub
        .as_deref()
        .is_none_or(|s| s.is_empty() || s.len() > 255)
    {
        return Err(IdTokenRefusal::Subject);
    }
    let for_us = claims.aud.iter().any(|a| a == expected.client_id);
    let azp_ok = match &claims.azp {
        Some(azp) => azp == expected.client_id,
        None => claims.aud.len() == 1,
    };
    if !for_us || !azp_ok {
        return Err(IdTokenRefusal::Audience);
    }
    let now = expected.now;
    match claims.exp {
        Some(exp) if exp + CLOCK_SKEW > now => {}
        _ => return Err(IdTokenRefusal::Expired),
    }
    match claims.iat {
        Some(iat) if iat <= now + CLOCK_SKEW && iat >= now - MAX_ID_TOKEN_AGE - CLOCK_SKEW => {}
        _ => return Err(IdTokenRefusal::Time),
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(IdTokenRefusal::Time);
    }
    let sent = expected.nonce.as_bytes();
    let got = claims.nonce.as_deref().unwrap_or_default().as_bytes();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(sent, got)) {
        return Err(IdTokenRefusal::Nonce);
    }
    Ok(())
}

/// The `amr` of a session signed in through an upstream (RFC 8176): `fed`, then the methods
/// the upstream named that RFC 8176 knows.
pub fn federated_amr<S: AsRef<str>>(upstream: &[S]) -> String {
    const KNOWN: &[&str] = &[
        "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pwd", "rba",
        "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia",
    ];
    let mut amr = vec!["fed"];
    for method in upstream {
        let method = method.as_ref();
        if let Some(known) = KNOWN.iter().find(|k| **k == method) {
            if !amr.contains(known) {
                amr.push(known);
            }
        }
    }
    amr.join(" ")
}

/// Whether an upstream says it asked for a second factor: `mfa` among its `amr`, or an `acr`
/// that names multi-factor authentication.
pub fn upstream_shows_mfa<S: AsRef<str>>(amr: &[S], acr: Option<&str>) -> bool {
    const MULTI_FACTOR_ACR: &[&str] = &[
        "mfa",
        "phr",
        "phrh",
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical",
    ];
    amr.iter().any(|m| m.as_ref() == "mfa") || acr.is_some_and(|a| MULTI_FACTOR_ACR.contains(&a))
}

/// The names to try, in order, for a user made on a first sign-in: the provider's preferred
/// user name (or the address's local part) with what a name may not hold made `-`, then with
/// `-2`, `-3`, … appended.
pub fn user_name_candidates(preferred: Option<&str>, email: Option<&str>) -> Vec<String> {
    let source = preferred
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| {
            email
                .and_then(|e| e.split_once('@'))
                .map(|(l, _)| l.to_owned())
        })
        .unwrap_or_default();
    let cleaned: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut base: String = cleaned
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(56)
        .collect();
    if base.is_empty() {
        base = "user".to_owned();
    }
    let mut names = vec![base.clone()];
    names.extend((2..=50).map(|n| format!("{base}-{n}")));
    names
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::UserName;

    fn claims() -> IdTokenClaims {
        IdTokenClaims {
            iss: Some("https://idp.example".into()),
            sub: Some("248289761001".into()),
            aud: vec!["heliogate".into()],
            azp: None,
            exp: Some(1_000_300),
            iat: Some(1_000_000),
            nbf: None,
            nonce: Some("n-0S6_WzA2Mj".into()),
        }
    }

    fn expected(now: UnixTime) -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "heliogate",
            nonce: "n-0S6_WzA2Mj",
            now,
        }
    }

    #[test]
    fn a_good_id_token_passes_and_each_wrong_claim_is_named() {
        assert_eq!(check_id_token(&claims(), expected(1_000_010)), Ok(()));
        let cases: Vec<(IdTokenClaims, IdTokenRefusal)> = vec![
            (
                IdTokenClaims {
                    iss: Some("https://idp.example/".into()),
                    ..claims()
                },
                IdTokenRefusal::Issuer,
            ),
            (
                IdTokenClaims {
                    sub: None,
                    ..claims()
                },
                IdTokenRefusal::Subject,
            ),
            (
                IdTokenClaims {
                    aud: vec!["other".into()],
                    ..claims()
                },
                IdTokenRefusal::Audience,
            ),
            (
                IdTokenClaims {
                    aud: vec!["heliogate".into(), "other".into()],
                    ..claims()
                },
                IdTokenRefusal::Audience,
            ),
            (
                IdTokenClaims {
                    aud: vec!["heliogate".into()],
                    azp: Some("other".into()),
                    ..claims()
                },
                IdTokenRefusal::Audience,
            ),
            (
                IdTokenClaims {
                    nonce: Some("another".into()),
                    ..claims()
                },
                IdTokenRefusal::Nonce,
            ),
            (
                IdTokenClaims {
                    nonce: None,
                    ..claims()
                },
                IdTokenRefusal::Nonce,
            ),
            (
                IdTokenClaims {
                    iat: Some(1_000_010 + CLOCK_SKEW + 1),
                    ..claims()
                },
                IdTokenRefusal::Time,
            ),
            (
                IdTokenClaims {
                    nbf: Some(1_000_010 + CLOCK_SKEW + 1),
                    ..claims()
                },
                IdTokenRefusal::Time,
            ),
        ];
        for (claims, refusal) in cases {
            assert_eq!(
                check_id_token(&claims, expected(1_000_010)),
                Err(refusal),
                "{claims:?}"
            );
        }
        let several = IdTokenClaims {
            aud: vec!["heliogate".into(), "other".into()],
            azp: Some("heliogate".into()),
            ..claims()
        };
        assert_eq!(check_id_token(&several, expected(1_000_010)), Ok(()));
    }

    #[test]
    fn expiry_and_age_allow_the_skew_and_no_more() {
        let exp = 1_000_300;
        assert_eq!(
            check_id_token(&claims(), expected(exp + CLOCK_SKEW - 1)),
            Ok(())
        );
        assert_eq!(
            check_id_token(&claims(), expected(exp + CLOCK_SKEW)),
            Err(IdTokenRefusal::Expired)
        );
        let old = IdTokenClaims {
            exp: Some(3_000_000),
            ..claims()
        };
        let too_late = 1_000_000 + MAX_ID_TOKEN_AGE + CLOCK_SKEW + 1;
        assert_eq!(
            check_id_token(&old, expected(too_late)),
            Err(IdTokenRefusal::Time)
        );
        assert_eq!(check_id_token(&old, expected(too_late - 1)), Ok(()));
    }

    #[test]
    fn issuers_are_https_or_loopback_http() {
        for good in [
            "https://login.example",
            "https://login.example/realms/corp",
            "http://127.0.0.1:8080",
            "http://localhost:3000/oidc",
            "http://[::1]:9000",
        ] {
            assert!(Issuer::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://login.example",
            "https://login.example/?a=b",
            "https://login.example/#x",
            "https://user:pw@login.example",
            "ftp://login.example",
            "login.example",
            "",
        ] {
            assert!(Issuer::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Issuer::parse("https://a.example/realms/x/")
                .unwrap()
                .discovery_url(),
            "https://a.example/realms/x/.well-known/openid-configuration"
        );
    }

    #[test]
    fn names_settings_and_role_maps_parse() {
        assert!(UpstreamName::parse("corp-sso2").is_ok());
        for bad in ["", "Corp", "-corp", "corp-", "a/b", &"a".repeat(33)] {
            assert!(UpstreamName::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Provision::parse("link-email"), Ok(Provision::LinkEmail));
        assert!(Provision::parse("auto").is_err());
        let map = RoleMap::parse(&["data-team=writer", "/org/a=b=reader"]).unwrap();
        assert_eq!(
            map.to_map(),
            BTreeMap::from([
                ("/org/a=b".to_owned(), "reader".to_owned()),
                ("data-team".to_owned(), "writer".to_owned()),
            ])
        );
        assert!(RoleMap::parse(&["no-role"]).is_err());
        assert!(RoleMap::parse(&["=writer"]).is_err());
        assert!(RoleMap::parse(&["team=bad role"]).is_err());
        let writer = RoleName::parse("writer").unwrap();
        assert_eq!(
            map.roles_for(&["data-team", "other"]),
            BTreeSet::from([writer])
        );
    }

    #[test]
    fn a_lost_group_takes_its_role_and_nothing_else() {
        let role = |n: &str| RoleName::parse(n).unwrap();
        let current = vec![role("reader"), role("writer"), role("ops")];
        let before = BTreeSet::from([role("writer"), role("ops")]);
        let now = BTreeSet::from([role("ops"), role("auditor")]);
        assert_eq!(
            roles_after_sign_in(&current, &before, &now),
            vec![role("auditor"), role("ops"), role("reader")]
        );
    }

    #[test]
    fn amr_and_mfa_from_the_upstream() {
        assert_eq!(
            federated_amr(&["pwd", "otp", "mfa", "x y"]),
            "fed pwd otp mfa"
        );
        assert_eq!(federated_amr::<&str>(&[]), "fed");
        assert!(upstream_shows_mfa(&["pwd", "mfa"], None));
        assert!(upstream_shows_mfa::<&str>(&[], Some("phr")));
        assert!(!upstream_shows_mfa(&["pwd"], Some("0")));
    }

    #[test]
    fn made_names_are_valid_user_names() {
        let names = user_name_candidates(Some("Zoë Müller"), None);
        assert_eq!(names[0], "Zo--M-ller");
        assert_eq!(names[1], "Zo--M-ller-2");
        assert_eq!(user_name_candidates(None, Some("ann@x.example"))[0], "ann");
        assert_eq!(user_name_candidates(Some("  "), None)[0], "user");
        assert_eq!(user_name_candidates(Some("__!"), None)[0], "user");
        for name in user_name_candidates(Some(&"é".repeat(100)), None) {
            assert!(UserName::parse(&name).is_ok(), "{name}");
        }
    }
}
