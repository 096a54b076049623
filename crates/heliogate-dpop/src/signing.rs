//! A key pair that signs DPoP proofs (ES256): what a Rust client, and a test, presents with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use serde_json::{json, Value};

use crate::{access_token_hash, thumbprint};

/// A P-256 key that makes proofs.
pub struct ProofKey {
    encoding: EncodingKey,
    jwk: Value,
    jkt: String,
}

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofKey").field("jkt", &self.jkt).finish()
    }
}

/// What a proof says of its request.
#[derive(Debug, Clone, Copy)]
pub struct ProofClaims<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub access_token: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub iat: i64,
}

impl ProofKey {
    /// A new random key; `None` only if the system's random source fails.
    pub fn generate() -> Option<Self> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = secret.to_pkcs8_der().ok()?;
        let point = secret.public_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x()?),
            "y": URL_SAFE_NO_PAD.encode(point.y()?),
        });
        let jkt = thumbprint(&jwk)?;
        Some(Self {
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk,
            jkt,
        })
    }

    /// The key's thumbprint: the `jkt` its tokens are bound to.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// A proof for one request, with a fresh `jti`.
    pub fn proof(&self, claims: ProofClaims<'_>) -> String {
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let mut body = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": claims.method,
            "htu": claims.uri,
            "iat": claims.iat,
        });
        if let Some(token) = claims.access_token {
            body["ath"] = Value::String(access_token_hash(token));
        }
        if let Some(nonce) = claims.nonce {
            body["nonce"] = Value::String(nonce.to_owned());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = serde_json::from_value(self.jwk.clone()).ok();
        // Signing with a key made above cannot fail; an empty proof would be refused anyway.
        jsonwebtoken::encode(&header, &body, &self.encoding).unwrap_or_default()
    }
}
