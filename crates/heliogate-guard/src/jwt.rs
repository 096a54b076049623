//! JWT access tokens (RFC 9068) verified here, against heliogate's published keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::check::{scopes_of, OneOrMany};
use crate::Caller;

/// How often an unknown `kid` may make the guard fetch the key set again.
const REFETCH_AFTER: Duration = Duration::from_secs(10);

/// The clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 5;

pub(crate) enum JwtCheck {
    Valid(Caller),
    Invalid,
    /// A key the guard does not know yet could not be fetched.
    KeysUnavailable,
}

/// Whether a token is shaped as a JWS (three parts): anything else is opaque.
pub(crate) fn is_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

type Keys = HashMap<String, (Algorithm, Arc<DecodingKey>)>;

/// heliogate's public keys, by `kid`.
pub(crate) struct KeySet {
    http: reqwest::Client,
    jwks_uri: Option<String>,
    keys: RwLock<Arc<Keys>>,
    /// When the key set was last fetched; held while one fetch runs, so that others wait.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    client_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    aud: OneOrMany,
    exp: u64,
    cnf: Option<Confirmation>,
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`.
#[derive(Debug, Deserialize)]
pub(crate) struct Confirmation {
    pub(crate) jkt: Option<String>,
}

impl KeySet {
    pub(crate) fn new(http: reqwest::Client, jwks_uri: Option<String>) -> Self {
        Self {
            http,
            jwks_uri,
            keys: RwLock::new(Arc::default()),
            fetched: tokio::sync::Mutex::new(None),
        }
    }

    fn known(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The key `kid` names, fetching the set again when it is unknown (rate-limited).
    async fn key(&self, kid: &str) -> Result<Option<(Algorithm, Arc<DecodingKey>)>, ()> {
        if let Some(key) = self.known().get(kid) {
            return Ok(Some(key.clone()));
        }
        let Some(uri) = &self.jwks_uri else {
            return Ok(None);
        };
        let mut fetched = self.fetched.lock().await;
        // Another request may have fetched it while this one waited.
        if let Some(key) = self.known().get(kid) {
            return Ok(Some(key.clone()));
        }
        if fetched.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
            return Ok(None);
        }
        let set: JwkSet = match self.fetch(uri).await {
            Ok(set) => set,
            Err(e) => {
                tracing::warn!(error = %e, "heliogate-guard: cannot fetch the key set");
                return Err(());
            }
        };
        *fetched = Some(Instant::now());
        let mut keys = Keys::new();
        for jwk in &set.keys {
            let algorithm = match jwk.common.key_algorithm {
                Some(KeyAlgorithm::RS256) => Algorithm::RS256,
                Some(KeyAlgorithm::ES256) => Algorithm::ES256,
                _ => continue,
            };
            let (Some(id), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) else {
                continue;
            };
            keys.insert(id.clone(), (algorithm, Arc::new(key)));
        }
        let found = keys.get(kid).cloned();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(found)
    }

    async fn fetch(&self, uri: &str) -> reqwest::Result<JwkSet> {
        self.http
            .get(uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    /// Verifies a JWT access token for `audience` from `issuer`.
    pub(crate) async fn verify(&self, token: &str, issuer: &str, audience: &str) -> JwtCheck {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return JwtCheck::Invalid;
        };
        // RFC 9068 §4: the resource server MUST check that `typ` is `at+jwt` (an ID token,
        // signed with the same keys, must not pass as an access token).
        let typ = header
            .typ
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if typ != "at+jwt" && typ != "application/at+jwt" {
            return JwtCheck::Invalid;
        }
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return JwtCheck::Invalid;
        }
        let Some(kid) = header.kid.as_deref() else {
            return JwtCheck::Invalid;
        };
        let (algorithm, key) = match self.key(kid).await {
            Ok(Some(key)) => key,
            Ok(None) => return JwtCheck::Invalid,
            Err(()) => return JwtCheck::KeysUnavailable,
        };
        if algorithm != header.alg {
            return JwtCheck::Invalid;
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => {
                let claims = data.claims;
                JwtCheck::Valid(Caller {
                    sub: claims.sub,
                    username: None,
                    client_id: claims.client_id,
                    scopes: scopes_of(&claims.scope),
                    audience: claims.aud.into_vec(),
                    expires_at: claims.exp,
                    jkt: claims.cnf.and_then(|c| c.jkt),
                })
            }
            Err(_) => JwtCheck::Invalid,
        }
    }
}
