//! Validating an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 9700 §2.1).
//!
//! The order matters: the client and the redirect URI are checked first, and while either is
//! in doubt the user is shown an error page, never redirected (RFC 6749 §4.1.2.1), so that
//! heliogate cannot be used as an open redirector. Everything after that is reported to the
//! client at its validated redirect URI.

use crate::client::{GrantType, RedirectUri};
use crate::oauth::pkce;
use crate::oauth::resource::{requested_resources, Resource};
use crate::oauth::{OAuthError, OAuthErrorCode};
use crate::scope::ScopeSet;
use crate::UnixTime;

use crate::oauth::params::Params;

/// A registered client, as far as the protocol rules need it.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    /// Whether the client must send PKCE: every client, unless an administrator let a
    /// confidential one omit it.
    pub pkce_required: bool,
    pub redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    /// The resource servers it may ask tokens for (RFC 8707).
    pub resources: Vec<Resource>,
}

/// A valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    /// Where the answer goes: the `redirect_uri` sent, or the only one registered.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was sent: then the token request must send it too (§4.1.3).
    pub redirect_uri_given: bool,
    pub scope: Option<ScopeSet>,
    pub state: Option<String>,
    /// The `S256` PKCE challenge, when sent.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    /// OpenID Connect `max_age`: the longest time since the user signed in, in seconds.
    pub max_age: Option<i64>,
    /// The resource servers named (RFC 8707 §2.1), each registered for the client.
    pub resources: Vec<Resource>,
    /// `acr_values` leaves `mfa` as the only class heliogate offers among its values: the
    /// sign-in must have had a second factor. (`pwd mfa` is satisfied by a password; values
    /// heliogate does not offer are voluntary, Core §3.1.2.1.)
    pub mfa_requested: bool,
}

/// OpenID Connect Core §3.1.2.1: what `prompt` asks of the sign-in and the consent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show nothing: answer at once, or with an error.
    pub none: bool,
    /// Sign in again, even with a session.
    pub login: bool,
    /// Ask for consent even if it was given before.
    pub consent: bool,
    /// Let the user choose the account: heliogate shows the sign-in form, where any account
    /// can sign in.
    pub select_account: bool,
}

impl Prompt {
    /// The values `prompt` takes, in discovery's `prompt_values_supported`.
    pub const VALUES: [&'static str; 4] = ["none", "login", "consent", "select_account"];

    fn parse(value: &str) -> Result<Prompt, String> {
        let mut prompt = Prompt::default();
        for word in value.split(' ').filter(|w| !w.is_empty()) {
            match word {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                other => return Err(format!("prompt value {other:?} is not supported")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return Err("prompt=none cannot be combined with other values".into());
        }
        Ok(prompt)
    }
}

/// Whether an authorization request needs the user to sign in again although a session
/// exists: `prompt=login` or `select_account`, a sign-in older than `max_age`, or one without
/// the second factor that `acr_values=mfa` asks for (`with_mfa`: the session's had one).
pub fn needs_fresh_sign_in(
    request: &AuthorizeRequest,
    auth_time: UnixTime,
    with_mfa: bool,
    now: UnixTime,
) -> bool {
    request.prompt.login
        || request.prompt.select_account
        || request.max_age.is_some_and(|max| now - auth_time > max)
        || (request.mfa_requested && !with_mfa)
}

/// The parameters that ask for a fresh sign-in, which the request that comes back after it
/// leaves out (else it would ask again, for ever).
pub const FRESH_SIGN_IN_PARAMETERS: [&str; 2] = ["prompt", "max_age"];

/// Why an authorization request fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI is missing, unknown or wrong: tell the user, never redirect.
    Page(String),
    /// Any other error, sent to the client at its validated redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// The longest `state` and `nonce` we carry back.
const MAX_OPAQUE: usize = 2048;

pub fn validate_authorize(
    params: &Params,
    client: Option<&RegisteredClient>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let page = |m: &str| AuthorizeError::Page(m.to_owned());
    let client_id = params
        .get("client_id")
        .map_err(|_| page("The request names its client more than once."))?
        .ok_or_else(|| page("The request does not name a client (client_id is missing)."))?;
    let client = client.filter(|c| c.client_id == client_id).ok_or_else(|| {
        page("The application that sent you here is not registered with this server.")
    })?;
    let requested_uri = params
        .get("redirect_uri")
        .map_err(|_| page("The request names its redirect URI more than once."))?;
    let redirect_uri = match requested_uri {
        Some(uri) => {
            if !client.redirect_uris.iter().any(|r| r.matches(uri)) {
                return Err(page(
                    "The redirect URI of this request is not registered for the application.",
                ));
            }
            uri.to_owned()
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.as_str().to_owned(),
            [] => return Err(page("The application has no redirect URI registered.")),
            _ => {
                return Err(page(
                    "The request must name one of the application's redirect URIs.",
                ))
            }
        },
    };
    // From here on, errors go back to the client.
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let fail = |code: OAuthErrorCode, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error: OAuthError::new(code, description),
    };
    let get = |name: &str| {
        params.get(name).map_err(|r| {
            fail(
                OAuthErrorCode::InvalidRequest,
                &format!("parameter {} is repeated", r.0),
            )
        })
    };
    let state = get("state")?.map(str::to_owned);
    if let Err(e) = params.check_text() {
        return Err(fail(e.code, &e.description));
    }
    match get("response_type")? {
        None => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "response_type is missing",
            ))
        }
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ));
    }
    let scope = match get("scope")? {
        Some(s) => Some(
            ScopeSet::parse(s).map_err(|e| fail(OAuthErrorCode::InvalidScope, &e.to_string()))?,
        ),
        None => None,
    };
    let challenge = get("code_challenge")?;
    let method = get("code_challenge_method")?;
    let code_challenge = match (challenge, method) {
        (None, None) if client.pkce_required => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "PKCE is required: send code_challenge with S256",
            ));
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is missing",
            ))
        }
        (Some(_), None | Some("plain")) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
        (Some(c), Some("S256")) if pkce::is_valid_challenge(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is malformed",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ))
        }
    };
    let nonce = get("nonce")?.map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > MAX_OPAQUE)
        || nonce.as_ref().is_some_and(|n| n.len() > MAX_OPAQUE)
    {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "state or nonce is too long",
        ));
    }
    // OpenID Connect Core §6 and §3.1.2.6: what heliogate does not support is refused by name,
    // never ignored (a request object could carry different values than the query).
    for (name, code) in [
        ("request", OAuthErrorCode::RequestNotSupported),
        ("request_uri", OAuthErrorCode::RequestUriNotSupported),
        ("registration", OAuthErrorCode::RegistrationNotSupported),
    ] {
        if get(name)?.is_some() {
            return Err(fail(
                code,
                &format!("the {name} parameter is not supported"),
            ));
        }
    }
    let resources =
        requested_resources(params, &client.resources).map_err(|e| fail(e.code, &e.description))?;
    let prompt = match get("prompt")? {
        Some(value) => {
            Prompt::parse(value).map_err(|e| fail(OAuthErrorCode::InvalidRequest, &e))?
        }
        None => Prompt::default(),
    };
    let max_age = match get("max_age")? {
        Some(value) => Some(
            value
                .parse::<u32>()
                .map_err(|_| {
                    fail(
                        OAuthErrorCode::InvalidRequest,
                        "max_age must be a number of seconds",
                    )
                })?
                .into(),
        ),
        None => None,
    };
    // A preference list (Core §3.1.2.1, §5.5.1.1): any class heliogate offers among the
    // values satisfies it, so a second factor is demanded only when it is the one offered.
    let mfa_requested = get("acr_values")?.is_some_and(|values| {
        let mut offered = values
            .split(' ')
            .filter(|v| [crate::oidc::ACR_PASSWORD, crate::oidc::ACR_MFA].contains(v))
            .peekable();
        offered.peek().is_some() && offered.all(|v| v == crate::oidc::ACR_MFA)
    });
    Ok(AuthorizeRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_given: requested_uri.is_some(),
        scope,
        state,
        code_challenge,
        nonce,
        prompt,
        max_age,
        resources,
        mfa_requested,
    })
}

/// The URI the browser is sent to with an authorization response: the redirect URI with the
/// response parameters added to its query, keeping any query it had (RFC 6749 §3.1.2), and
/// `iss` always (RFC 9207 §2).
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(pkce_required: bool) -> RegisteredClient {
        RegisteredClient {
            client_id: "app".into(),
            pkce_required,
            redirect_uris: vec![RedirectUri::parse("https://app.example/cb")
                .unwrap_or_else(|e| unreachable!("{e}"))],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: ScopeSet::parse("read").unwrap_or_default(),
            resources: vec![],
        }
    }

    fn validate(query: &str, pkce_required: bool) -> Result<AuthorizeRequest, AuthorizeError> {
        validate_authorize(&Params::parse(query), Some(&client(pkce_required)))
    }

    fn redirected_code(r: Result<AuthorizeRequest, AuthorizeError>) -> Option<&'static str> {
        match r {
            Err(AuthorizeError::Redirect { error, .. }) => Some(error.code.as_str()),
            _ => None,
        }
    }

    #[test]
    fn a_good_request_is_accepted() {
        let q = format!("response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state=xyz&code_challenge={CHALLENGE}&code_challenge_method=S256");
        let r = validate(&q, true).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(
            (
                r.state.as_deref(),
                r.code_challenge.as_deref(),
                r.redirect_uri_given
            ),
            (Some("xyz"), Some(CHALLENGE), true)
        );
    }

    #[test]
    fn rfc_6749_section_4_1_2_1_a_bad_client_or_redirect_uri_is_never_redirected() {
        for q in [
            "response_type=code",
            "response_type=code&client_id=other",
            "response_type=code&client_id=app&client_id=app",
            "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F",
            "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        ] {
            assert!(matches!(validate(q, false), Err(AuthorizeError::Page(_))), "{q}");
        }
    }

    #[test]
    fn later_errors_go_back_to_the_client() {
        assert_eq!(
            redirected_code(validate("client_id=app", false)),
            Some("invalid_request")
        );
        assert_eq!(
            redirected_code(validate("client_id=app&response_type=token", false)),
            Some("unsupported_response_type")
        );
        assert_eq!(
            redirected_code(validate(
                "client_id=app&response_type=code&scope=a%22b",
                false
            )),
            Some("invalid_scope")
        );
        assert_eq!(
            redirected_code(validate(
                "client_id=app&response_type=code&state=1&state=2",
                false
            )),
            Some("invalid_request")
        );
    }

    #[test]
    fn rfc_7636_pkce_is_s256_and_required_unless_relaxed() {
        assert_eq!(
            redirected_code(validate("client_id=app&response_type=code", true)),
            Some("invalid_request")
        );
        let plain = format!("client_id=app&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=plain");
        assert_eq!(
            redirected_code(validate(&plain, false)),
            Some("invalid_request")
        );
        let bare = format!("client_id=app&response_type=code&code_challenge={CHALLENGE}");
        assert_eq!(
            redirected_code(validate(&bare, false)),
            Some("invalid_request")
        );
        assert!(validate("client_id=app&response_type=code", false).is_ok());
    }

    #[test]
    fn oidc_prompt_and_max_age_are_parsed_and_checked() {
        let with =
            |extra: &str| validate(&format!("client_id=app&response_type=code{extra}"), false);
        let request =
            with("&prompt=login%20consent&max_age=60").unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(request.prompt.login && request.prompt.consent && !request.prompt.none);
        assert_eq!(request.max_age, Some(60));
        assert!(needs_fresh_sign_in(&request, 1_000, false, 1_000));
        for bad in [
            "&prompt=none%20login",
            "&prompt=sometimes",
            "&max_age=-1",
            "&max_age=soon",
        ] {
            assert_eq!(redirected_code(with(bad)), Some("invalid_request"), "{bad}");
        }
        for (param, code) in [
            ("&request=eyJ", "request_not_supported"),
            (
                "&request_uri=https%3A%2F%2Frp.example%2Fr",
                "request_uri_not_supported",
            ),
            ("&registration=%7B%7D", "registration_not_supported"),
        ] {
            assert_eq!(redirected_code(with(param)), Some(code), "{param}");
        }
        let aged = with("&max_age=60").unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(!needs_fresh_sign_in(&aged, 1_000, false, 1_060));
        assert!(needs_fresh_sign_in(&aged, 1_000, false, 1_061));
        let plain = with("").unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(!needs_fresh_sign_in(&plain, 0, false, 1_000_000));
        // acr_values=mfa: a sign-in without a second factor is not enough; unknown values are
        // voluntary and ask nothing.
        let mfa = with("&acr_values=urn%3Aother%20mfa").unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(mfa.mfa_requested);
        assert!(needs_fresh_sign_in(&mfa, 1_000, false, 1_000));
        assert!(!needs_fresh_sign_in(&mfa, 1_000, true, 1_000));
        let other = with("&acr_values=urn%3Aother").unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(!other.mfa_requested);
        // A preference list: a password satisfies "pwd mfa" in either order.
        for either in ["&acr_values=pwd%20mfa", "&acr_values=mfa%20pwd"] {
            let either = with(either).unwrap_or_else(|e| unreachable!("{e:?}"));
            assert!(!either.mfa_requested);
            assert!(!needs_fresh_sign_in(&either, 1_000, false, 1_000));
        }
    }

    #[test]
    fn the_response_keeps_the_redirect_uris_query() {
        let uri = redirect_with(
            "https://app.example/cb?tenant=1",
            &[
                ("code", "abc"),
                ("state", "a b&c"),
                ("iss", "https://id.example"),
            ],
        );
        assert_eq!(
            uri,
            "https://app.example/cb?tenant=1&code=abc&state=a+b%26c&iss=https%3A%2F%2Fid.example"
        );
    }
}
