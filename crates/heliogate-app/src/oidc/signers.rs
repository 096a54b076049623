//! JWT signing with keys parsed once. jsonwebtoken's RustCrypto backend parses the private key
//! again for every token (for RSA that includes its CRT precomputation, milliseconds); this
//! provider keeps each parsed key, by the SHA-256 of its DER, for the life of the process, and
//! leaves everything else (verification, JWK utilities, the JWS framing) to jsonwebtoken.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Once};

use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, RandomizedSigner, Signer};
use jsonwebtoken::{Algorithm, EncodingKey};
use sha2::{Digest, Sha256};

enum Parsed {
    Es256(p256::ecdsa::SigningKey),
    Rs256(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
}

struct Cached {
    alg: Algorithm,
    key: Arc<Parsed>,
}

impl Signer<Vec<u8>> for Cached {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        match &*self.key {
            Parsed::Es256(key) => {
                let sig: p256::ecdsa::Signature = key.try_sign(msg)?;
                Ok(sig.to_vec())
            }
            // Blinded, so that timing tells nothing about the key.
            Parsed::Rs256(key) => {
                let sig = key.try_sign_with_rng(&mut rand::rngs::OsRng, msg)?;
                Ok(signature::SignatureEncoding::to_vec(&sig))
            }
        }
    }
}

impl JwtSigner for Cached {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// Parsed keys, by the SHA-256 of their DER. A handful at most: the published keys.
static PARSED: LazyLock<Mutex<HashMap<[u8; 32], Arc<Parsed>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn parse(alg: Algorithm, der: &[u8]) -> Result<Parsed, Error> {
    match alg {
        Algorithm::ES256 => {
            use p256::pkcs8::DecodePrivateKey;
            p256::ecdsa::SigningKey::from_pkcs8_der(der)
                .map(Parsed::Es256)
                .map_err(|_| ErrorKind::InvalidEcdsaKey.into())
        }
        _ => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::RsaPrivateKey::from_pkcs1_der(der)
                .map(|key| Parsed::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(key))))
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()).into())
        }
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if !matches!(alg, Algorithm::ES256 | Algorithm::RS256) {
        return (DEFAULT_PROVIDER.signer_factory)(alg, key);
    }
    let id: [u8; 32] = Sha256::digest(key.inner()).into();
    let cached = PARSED
        .lock()
        .ok()
        .and_then(|parsed| parsed.get(&id).cloned());
    let parsed = match cached {
        Some(parsed) => parsed,
        None => {
            let parsed = Arc::new(parse(*alg, key.inner())?);
            if let Ok(mut all) = PARSED.lock() {
                all.insert(id, Arc::clone(&parsed));
            }
            parsed
        }
    };
    Ok(Box::new(Cached {
        alg: *alg,
        key: parsed,
    }))
}

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: signer,
    ..DEFAULT_PROVIDER.clone()
});

/// Makes this provider jsonwebtoken's, before its first use in the process.
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Refused only if jsonwebtoken was used before: then it signs as it would anyway.
        let _ = CryptoProvider::install_default(&PROVIDER);
    });
}
