//! Talking to an upstream provider: its discovery document and keys (cached, the keys fetched
//! again when a token names one we do not have: rotation), the code exchanged for tokens, an
//! ID token verified, the user read from its user-info endpoint or GitHub's API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use heliogate_core::upstream::{check_id_token, Expected, IdTokenClaims, Issuer, Preset};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Failure, Settings};

/// How long a provider's discovery document and keys are trusted.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// A token signed with a key we do not know fetches the keys again, at most this often.
const JWKS_REFETCH: Duration = Duration::from_secs(30);
/// The most of a provider's answer that is read.
const MAX_ANSWER: usize = 256 * 1024;

/// What heliogate uses of a provider's metadata (OpenID Connect Discovery §3, RFC 8414).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the provider sends `iss` with its authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// GitHub's REST API, for the preset.
    #[serde(skip)]
    pub api: Option<String>,
}

/// The tokens a code was exchanged for.
#[derive(Debug, Deserialize)]
pub(crate) struct Tokens {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
}

/// A provider's keys as last fetched.
#[derive(Clone)]
struct FetchedKeys {
    at: Instant,
    /// When a token naming an unknown key last made them be fetched again.
    forced_at: Option<Instant>,
    keys: Arc<JwkSet>,
}

/// The providers' documents this process has read, and the client it reads them with.
pub struct Providers {
    client: Arc<crate::outbound::Outbound>,
    metadata: Mutex<HashMap<String, (Instant, Arc<Metadata>)>>,
    /// By key-set URI: when it was fetched, when a token with an unknown key last made it
    /// be fetched again, and the keys.
    keys: Mutex<HashMap<String, FetchedKeys>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers").finish_non_exhaustive()
    }
}

/// An endpoint a provider names: https, or http on the loopback address as its issuer may be.
fn endpoint_ok(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let origin = format!(
        "{}://{}",
        parsed.scheme(),
        &parsed[url::Position::BeforeHost..url::Position::AfterPort]
    );
    parsed.fragment().is_none() && Issuer::parse(&origin).is_ok()
}

fn unreachable(e: impl std::fmt::Display) -> Failure {
    tracing::warn!(error = %e, "an upstream provider could not be reached");
    Failure::Unreachable
}

/// A JSON answer of at most `MAX_ANSWER` bytes: `Ok` when 2xx, else `Err(status, body)`.
async fn read_json(response: reqwest::Response) -> Result<Result<Value, (u16, Value)>, Failure> {
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER as u64)
    {
        return Err(Failure::Garbled);
    }
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            return Err(Failure::Garbled);
        }
    }
    // What does not parse is `null`: each reader refuses what is not the shape it reads.
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(Ok(value))
    } else {
        Ok(Err((status, value)))
    }
}

impl Providers {
    /// Providers read with the process's one outbound client.
    pub(crate) fn new(client: Arc<crate::outbound::Outbound>) -> Self {
        Self {
            client,
            metadata: Mutex::default(),
            keys: Mutex::default(),
        }
    }

    async fn client(&self) -> &reqwest::Client {
        self.client.client().await
    }

    /// Forgets what was read of every provider (an upstream was changed or deleted).
    pub fn forget(&self) {
        if let Ok(mut m) = self.metadata.lock() {
            m.clear();
        }
        if let Ok(mut k) = self.keys.lock() {
            k.clear();
        }
    }

    /// The provider's metadata: read from its discovery document, whose `issuer` must be
    /// the one configured exactly (OpenID Connect Discovery §4.3); fixed for GitHub.
    pub(crate) async fn metadata(&self, settings: &Settings) -> Result<Arc<Metadata>, Failure> {
        let issuer = settings.issuer.as_str();
        if settings.preset == Preset::Github {
            return Ok(Arc::new(github_metadata(issuer)));
        }
        if let Some((at, m)) = self
            .metadata
            .lock()
            .ok()
            .and_then(|m| m.get(issuer).cloned())
        {
            if at.elapsed() < METADATA_TTL {
                return Ok(m);
            }
        }
        let response = self
            .client()
            .await
            .get(settings.issuer.discovery_url())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        let document = read_json(response).await?.map_err(|_| Failure::Garbled)?;
        let metadata: Metadata = serde_json::from_value(document).map_err(|_| Failure::Garbled)?;
        if metadata.issuer != issuer {
            return Err(Failure::WrongIssuer);
        }
        let endpoints = [
            Some(&metadata.authorization_endpoint),
            Some(&metadata.token_endpoint),
            metadata.userinfo_endpoint.as_ref(),
            metadata.jwks_uri.as_ref(),
        ];
        if endpoints.into_iter().flatten().any(|e| !endpoint_ok(e)) || metadata.jwks_uri.is_none() {
            return Err(Failure::Garbled);
        }
        let metadata = Arc::new(metadata);
        if let Ok(mut m) = self.metadata.lock() {
            m.insert(issuer.to_owned(), (Instant::now(), Arc::clone(&metadata)));
        }
        Ok(metadata)
    }

    /// The code exchanged at the token endpoint (RFC 6749 §4.1.3, with the PKCE verifier),
    /// the client authenticated as the provider supports: HTTP Basic unless it only takes
    /// `client_secret_post`; a public client sends its id alone.
    pub(crate) async fn exchange(
        &self,
        settings: &Settings,
        metadata: &Metadata,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Tokens, Failure> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut request = self
            .client()
            .await
            .post(&metadata.token_endpoint)
            .header(reqwest::header::ACCEPT, "application/json");
        let methods = metadata.token_endpoint_auth_methods_supported.as_deref();
        let post_only = methods.is_some_and(|m| {
            !m.iter().any(|x| x == "client_secret_basic")
                && m.iter().any(|x| x == "client_secret_post")
        });
        match &settings.client_secret {
            Some(secret) if !post_only && settings.preset == Preset::Oidc => {
                // RFC 6749 §2.3.1: each form-encoded, then joined by a colon.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let basic = STANDARD.encode(format!(
                    "{}:{}",
                    encode(&settings.client_id),
                    encode(secret)
                ));
                request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            Some(secret) => {
                form.push(("client_id", &settings.client_id));
                form.push(("client_secret", secret));
            }
            None => form.push(("client_id", &settings.client_id)),
        }
        let response = request.form(&form).send().await.map_err(unreachable)?;
        match read_json(response).await? {
            // GitHub answers a refused code with 200 and an `error`.
            Ok(answer) if answer.get("error").is_some() => Err(Failure::CodeRefused(
                answer["error"]
                    .as_str()
                    .unwrap_or("error")
                    .chars()
                    .take(64)
                    .collect(),
            )),
            Ok(tokens) => serde_json::from_value(tokens).map_err(|_| Failure::Garbled),
            Err((_, error)) => Err(Failure::CodeRefused(
                error["error"]
                    .as_str()
                    .unwrap_or("no answer")
                    .chars()
                    .take(64)
                    .collect(),
            )),
        }
    }

    /// The provider's keys, fetched again when `refresh` (a token named a key not among
    /// them: the provider rotated its keys) unless that happened in the last `JWKS_REFETCH`,
    /// so that tokens naming keys nobody has cost the provider one call at most that often.
    async fn keys(&self, uri: &str, refresh: bool) -> Result<Arc<JwkSet>, Failure> {
        let cached = self.keys.lock().ok().and_then(|k| k.get(uri).cloned());
        let mut forced = None;
        if let Some(cached) = cached {
            let throttled = cached
                .forced_at
                .is_some_and(|at| at.elapsed() < JWKS_REFETCH);
            if cached.at.elapsed() < METADATA_TTL && (!refresh || throttled) {
                return Ok(cached.keys);
            }
            forced = cached.forced_at;
        }
        if refresh {
            forced = Some(Instant::now());
        }
        let response = self
            .client()
            .await
            .get(uri)
            .send()
            .await
            .map_err(unreachable)?;
        let document = read_json(response).await?.map_err(|_| Failure::Garbled)?;
        let keys: JwkSet = serde_json::from_value(document).map_err(|_| Failure::Garbled)?;
        let keys = Arc::new(keys);
        if let Ok(mut k) = self.keys.lock() {
            let fetched = FetchedKeys {
                at: Instant::now(),
                forced_at: forced,
                keys: Arc::clone(&keys),
            };
            k.insert(uri.to_owned(), fetched);
        }
        Ok(keys)
    }

    /// The claims of an ID token whose signature verifies with one of the provider's keys
    /// (an asymmetric algorithm only, the one the key is for) and whose claims are what this
    /// sign-in expects.
    pub(crate) async fn verify_id_token(
        &self,
        metadata: &Metadata,
        token: &str,
        expected: Expected<'_>,
    ) -> Result<Map<String, Value>, Failure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Failure::BadSignature)?;
        let allowed = [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ];
        if !allowed.contains(&header.alg) {
            return Err(Failure::BadSignature);
        }
        let uri = metadata.jwks_uri.as_deref().ok_or(Failure::Garbled)?;
        let mut refreshed = false;
        let claims = loop {
            let keys = self.keys(uri, refreshed).await?;
            let candidates: Vec<_> = keys
                .keys
                .iter()
                .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
                .collect();
            let mut verified = None;
            for jwk in &candidates {
                let Ok(key) = DecodingKey::from_jwk(jwk) else {
                    continue;
                };
                let mut validation = Validation::new(header.alg);
                validation.validate_exp = false;
                validation.validate_aud = false;
                validation.validate_nbf = false;
                validation.required_spec_claims.clear();
                if let Ok(data) =
                    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
                {
                    verified = Some(data.claims);
                    break;
                }
            }
            match verified {
                Some(claims) => break claims,
                None if !refreshed && candidates.is_empty() => refreshed = true,
                None => return Err(Failure::BadSignature),
            }
        };
        check_id_token(&id_token_claims(&claims), expected).map_err(Failure::IdToken)?;
        Ok(claims)
    }

    /// The user-info endpoint's claims (OpenID Connect Core §5.3), which must be about the ID
    /// token's subject (§5.3.4).
    pub(crate) async fn userinfo(
        &self,
        metadata: &Metadata,
        access_token: &str,
        subject: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let Some(endpoint) = &metadata.userinfo_endpoint else {
            return Ok(Map::new());
        };
        let response = self
            .client()
            .await
            .get(endpoint)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        let Ok(Value::Object(claims)) = read_json(response).await?.map_err(|_| Failure::Garbled)
        else {
            return Err(Failure::Garbled);
        };
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(Failure::Garbled);
        }
        Ok(claims)
    }

    /// A GitHub user as claims: `sub` the numeric id, `preferred_username` the login, and the
    /// primary address when GitHub has verified it.
    pub(crate) async fn github_user(
        &self,
        metadata: &Metadata,
        access_token: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let api = metadata.api.as_deref().ok_or(Failure::Garbled)?;
        let client = self.client().await;
        let get = |path: &str| {
            client
                .get(format!("{api}{path}"))
                .bearer_auth(access_token)
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .send()
        };
        let user = read_json(get("/user").await.map_err(unreachable)?)
            .await?
            .map_err(|_| Failure::Garbled)?;
        let id = match &user["id"] {
            Value::Number(n) => n.to_string(),
            _ => return Err(Failure::Garbled),
        };
        let mut claims = Map::new();
        claims.insert("sub".into(), id.into());
        if let Some(login) = user["login"].as_str() {
            claims.insert("preferred_username".into(), login.into());
        }
        if let Some(name) = user["name"].as_str() {
            claims.insert("name".into(), name.into());
        }
        // Without the addresses (a token without `user:email`), the user has none.
        if let Ok(Value::Array(list)) =
            read_json(get("/user/emails").await.map_err(unreachable)?).await?
        {
            if let Some(primary) = list
                .iter()
                .find(|e| e["primary"] == true && e["verified"] == true)
            {
                claims.insert("email".into(), primary["email"].clone());
                claims.insert("email_verified".into(), true.into());
            }
        }
        Ok(claims)
    }
}

/// GitHub's endpoints: github.com's, or those of a GitHub Enterprise Server at `issuer`.
fn github_metadata(issuer: &str) -> Metadata {
    let base = issuer.trim_end_matches('/');
    let api = if base == "https://github.com" {
        "https://api.github.com".to_owned()
    } else {
        format!("{base}/api/v3")
    };
    Metadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: format!("{base}/login/oauth/authorize"),
        token_endpoint: format!("{base}/login/oauth/access_token"),
        userinfo_endpoint: None,
        jwks_uri: None,
        token_endpoint_auth_methods_supported: Some(vec!["client_secret_post".into()]),
        authorization_response_iss_parameter_supported: false,
        api: Some(api),
    }
}

/// The registered claims of an ID token, as the rules read them (`aud` a string or an
/// array).
fn id_token_claims(claims: &Map<String, Value>) -> IdTokenClaims {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let int = |name: &str| claims.get(name).and_then(Value::as_i64);
    let aud = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    IdTokenClaims {
        iss: text("iss"),
        sub: text("sub"),
        aud,
        azp: text("azp"),
        exp: int("exp"),
        iat: int("iat"),
        nbf: int("nbf"),
        nonce: text("nonce"),
    }
}
