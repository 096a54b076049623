//! DPoP proofs (RFC 9449): the one check of a proof that heliogate runs at its token endpoint
//! and its resource endpoints, and that heliogate-guard runs for the services it protects.
//!
//! A proof is a JWT of type `dpop+jwt`, signed with an asymmetric key whose public half is in
//! its header (`jwk`); it names the request's method (`htm`) and URI (`htu`), when it was made
//! (`iat`), a unique id (`jti`) and, presented with an access token, the token's hash (`ath`).
//! `verify` checks all of that but the uniqueness of `jti`, which needs a memory shared by
//! whoever accepts proofs: the caller records `Proof::replay_key` until `Proof::expires_at`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[cfg(feature = "signing")]
mod signing;
#[cfg(feature = "signing")]
pub use signing::{ProofClaims, ProofKey};

/// The signature algorithms accepted (`dpop_signing_alg_values_supported`): asymmetric only.
pub const ALGORITHMS: [&str; 6] = ["ES256", "ES384", "RS256", "PS256", "PS384", "EdDSA"];

/// How old a proof may be, in seconds (its `iat` before now).
pub const MAX_AGE: i64 = 300;
/// How far ahead of our clock a proof's `iat` may be (clock skew), in seconds.
pub const MAX_SKEW: i64 = 60;
/// The longest proof looked at: an RSA-4096 key and a long URI fit.
const MAX_PROOF_LEN: usize = 8 * 1024;

/// What a request must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The request's method, `POST`.
    pub method: &'a str,
    /// The request's URI as its server is reached (`https://id.example.org/oauth/token`); the
    /// query and fragment are ignored (§4.3).
    pub uri: &'a str,
    /// The access token presented with the proof, whose hash `ath` must be.
    pub access_token: Option<&'a str>,
    pub now: i64,
}

/// A proof that passed: the key's thumbprint (RFC 7638), and what replay and nonce checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// `jkt`: the base64url SHA-256 thumbprint of the key.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

impl Proof {
    /// What a replay memory keys the proof by: its key and its `jti` (§11.1).
    pub fn replay_key(&self) -> String {
        format!("{}.{}", self.jkt, self.jti)
    }

    /// Until when a replay memory must keep it: after that, its `iat` is too old anyway.
    pub fn expires_at(&self) -> i64 {
        self.iat + MAX_AGE + MAX_SKEW
    }
}

/// Why a proof was refused (the `error_description` of `invalid_dpop_proof`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Type,
    #[error("the DPoP proof's alg is not one of the supported asymmetric algorithms")]
    Algorithm,
    #[error("the DPoP proof's jwk is missing, private or not a key for its alg")]
    Key,
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    #[error("the DPoP proof lacks {0}")]
    Missing(&'static str),
    #[error("the DPoP proof's htm does not match the request's method")]
    Method,
    #[error("the DPoP proof's htu does not match the request's URI")]
    Uri,
    #[error("the DPoP proof is too old or from the future")]
    Time,
    #[error("the DPoP proof's ath does not match the access token")]
    AccessTokenHash,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<i64>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// `ath`: the base64url SHA-256 of an access token (§4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The members of a public key that its thumbprint covers (RFC 7638 §3.2), in order; `None`
/// for a key that is not a public EC, RSA or OKP key, or that carries private members.
fn thumbprint_members(jwk: &Value) -> Option<Vec<(&'static str, &str)>> {
    let object = jwk.as_object()?;
    if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        .iter()
        .any(|m| object.contains_key(*m))
    {
        return None;
    }
    let member = |name: &'static str| Some((name, object.get(name)?.as_str()?));
    match object.get("kty")?.as_str()? {
        "EC" => Some(vec![
            member("crv")?,
            member("kty")?,
            member("x")?,
            member("y")?,
        ]),
        "RSA" => Some(vec![member("e")?, member("kty")?, member("n")?]),
        "OKP" => Some(vec![member("crv")?, member("kty")?, member("x")?]),
        _ => None,
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url; `None` when it is not one.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let members = thumbprint_members(jwk)?;
    let canonical = Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect(),
    );
    // serde_json's map keeps keys sorted, which is the order RFC 7638 asks for.
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string().as_bytes())))
}

/// Whether a key of type `kty` (and curve `crv`) can sign with `alg`.
fn key_fits(alg: Algorithm, kty: &str, crv: Option<&str>) -> bool {
    match alg {
        Algorithm::ES256 => kty == "EC" && crv == Some("P-256"),
        Algorithm::ES384 => kty == "EC" && crv == Some("P-384"),
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::PS384 => kty == "RSA",
        Algorithm::EdDSA => kty == "OKP" && crv == Some("Ed25519"),
        _ => false,
    }
}

/// The URI a proof's `htu` and a request's URI are compared as: scheme, host, port and path
/// (normalized as URLs are: case of scheme and host, default ports), without query or fragment.
fn comparable(uri: &str) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// Checks a proof against the request it came with (§4.3), all but the uniqueness of its
/// `jti` and its nonce, which are the caller's.
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF_LEN || proof.split('.').count() != 3 {
        return Err(ProofError::Malformed);
    }
    let header = proof.split('.').next().ok_or(ProofError::Malformed)?;
    let header: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(ProofError::Malformed)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(ProofError::Type);
    }
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(ProofError::Algorithm)?;
    if !ALGORITHMS.contains(&alg_name) {
        return Err(ProofError::Algorithm);
    }
    let alg: Algorithm = alg_name.parse().map_err(|_| ProofError::Algorithm)?;
    let jwk_value = header.get("jwk").ok_or(ProofError::Key)?;
    let jkt = thumbprint(jwk_value).ok_or(ProofError::Key)?;
    let kty = jwk_value.get("kty").and_then(Value::as_str).unwrap_or("");
    let crv = jwk_value.get("crv").and_then(Value::as_str);
    if !key_fits(alg, kty, crv) {
        return Err(ProofError::Key);
    }
    let claims = if alg == Algorithm::ES256 {
        es256_claims(proof, jwk_value)?
    } else {
        let jwk: Jwk = serde_json::from_value(jwk_value.clone()).map_err(|_| ProofError::Key)?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| ProofError::Key)?;
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Claims>(proof, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => ProofError::Signature,
                _ => ProofError::Malformed,
            })?
            .claims
    };
    let jti = claims.jti.filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or(ProofError::Missing("jti"))?;
    let htm = claims.htm.ok_or(ProofError::Missing("htm"))?;
    let htu = claims.htu.ok_or(ProofError::Missing("htu"))?;
    let iat = claims.iat.ok_or(ProofError::Missing("iat"))?;
    if htm != expected.method {
        return Err(ProofError::Method);
    }
    match (comparable(&htu), comparable(expected.uri)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(ProofError::Uri),
    }
    if iat < expected.now - MAX_AGE || iat > expected.now + MAX_SKEW {
        return Err(ProofError::Time);
    }
    if let Some(token) = expected.access_token {
        let ath = claims.ath.ok_or(ProofError::Missing("ath"))?;
        let want = access_token_hash(token);
        if !constant_time_eq(ath.as_bytes(), want.as_bytes()) {
            return Err(ProofError::AccessTokenHash);
        }
    }
    Ok(Proof {
        jkt,
        jti,
        iat,
        nonce: claims.nonce,
    })
}

/// ES256, the algorithm nearly every client uses, checked with ring (a fifth of the time of
/// the pure-Rust P-256 behind `jsonwebtoken`): the signature over the first two parts, then the
/// claims of the second.
fn es256_claims(proof: &str, jwk: &Value) -> Result<Claims, ProofError> {
    let coordinate = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
            .filter(|c| c.len() == 32)
            .ok_or(ProofError::Key)
    };
    let mut point = Vec::with_capacity(65);
    point.push(4);
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    let (signed, signature) = proof.rsplit_once('.').ok_or(ProofError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| ProofError::Malformed)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| ProofError::Signature)?;
    let payload = signed.split('.').nth(1).ok_or(ProofError::Malformed)?;
    URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(ProofError::Malformed)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
