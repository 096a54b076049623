//! Secrets at rest — private signing keys, authenticator secrets: sealed with AES-256-GCM under
//! `HELIOGATE_KEY_ENCRYPTION_KEY` when it is set, each bound to what it belongs to (a key id, a
//! user), so that a database (or a backup) alone signs nothing and passes no second factor.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::{AppError, Result};

/// What a sealed key starts with; a DER key starts with 0x30.
const SEALED: &[u8] = b"HGK1";
const NONCE_LEN: usize = 12;

/// The key-encryption key.
#[derive(Clone)]
pub struct KeyEncryptionKey(Aes256Gcm);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

impl KeyEncryptionKey {
    /// 32 bytes, base64url without padding (43 characters), as `openssl rand 32 | basenc
    /// --base64url` prints them less the `=`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .map_err(|_| "must be 32 bytes in base64url".to_owned())?;
        let cipher = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| "must be 32 bytes in base64url".to_owned())?;
        Ok(Self(cipher))
    }
}

fn refused(message: &str) -> AppError {
    AppError::Invalid(message.to_owned())
}

/// The form to store `der` in: sealed under `kek`, or as it is without one.
pub fn seal(kek: Option<&KeyEncryptionKey>, kid: &str, der: Vec<u8>) -> Result<Vec<u8>> {
    let Some(kek) = kek else { return Ok(der) };
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = kek
        .0
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &der,
                aad: kid.as_bytes(),
            },
        )
        .map_err(|_| refused("a secret could not be sealed"))?;
    Ok([SEALED, &nonce, &sealed].concat())
}

/// Whether a stored secret is sealed (else it is kept as it is).
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(SEALED)
}

/// The DER of a stored key: opened with `kek` when sealed.
pub fn open(kek: Option<&KeyEncryptionKey>, kid: &str, stored: &[u8]) -> Result<Vec<u8>> {
    let Some(rest) = stored.strip_prefix(SEALED) else {
        return Ok(stored.to_vec());
    };
    let kek = kek.ok_or_else(|| {
        refused("secrets in the database are sealed: set HELIOGATE_KEY_ENCRYPTION_KEY")
    })?;
    if rest.len() < NONCE_LEN {
        return Err(refused("a sealed secret in the database is damaged"));
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    kek.0
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: kid.as_bytes(),
            },
        )
        .map_err(|_| {
            refused("a secret in the database does not open with HELIOGATE_KEY_ENCRYPTION_KEY: is it the one it was sealed with?")
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_kek_and_kid_only() {
        let kek = KeyEncryptionKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap();
        let other = KeyEncryptionKey::parse(&URL_SAFE_NO_PAD.encode([8u8; 32])).unwrap();
        let der = vec![0x30, 1, 2, 3];
        let sealed = seal(Some(&kek), "kid-1", der.clone()).unwrap();
        assert!(sealed.starts_with(SEALED) && !sealed.ends_with(&der));
        assert_eq!(open(Some(&kek), "kid-1", &sealed).unwrap(), der);
        assert!(open(Some(&other), "kid-1", &sealed).is_err());
        assert!(open(Some(&kek), "kid-2", &sealed).is_err());
        assert!(open(None, "kid-1", &sealed).is_err());
        // Without a KEK keys are kept as they are, and plain keys open with or without one.
        assert_eq!(seal(None, "kid-1", der.clone()).unwrap(), der);
        assert_eq!(open(Some(&kek), "kid-1", &der).unwrap(), der);
        assert!(KeyEncryptionKey::parse("short").is_err());
    }
}
