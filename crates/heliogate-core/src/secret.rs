//! Client secrets, tokens and session ids are 256-bit random values shown once and stored only
//! as their SHA-256. They carry full entropy, so a fast hash is as safe as a slow KDF here and
//! keeps every token request cheap.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 of a secret: the only form in which a secret is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Hashes a secret as presented by a client.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Rebuilds a hash read from storage; `None` when it is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Compares in constant time, so a mismatch leaks nothing about where it is.
    pub fn matches(&self, presented: &str) -> bool {
        Self::of(presented).0.ct_eq(&self.0).into()
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

/// Encodes 32 random bytes as the URL-safe string handed out (43 characters).
pub fn encode_secret(random: [u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_its_own_hash_only() {
        let secret = encode_secret([7; 32]);
        assert_eq!(secret.len(), 43);
        let hash = SecretHash::of(&secret);
        assert!(hash.matches(&secret));
        assert!(!hash.matches(&encode_secret([8; 32])));
        assert!(!hash.matches(""));
    }

    #[test]
    fn a_stored_hash_of_the_wrong_length_is_refused() {
        assert!(SecretHash::from_slice(&[0; 31]).is_none());
        assert!(SecretHash::from_slice(&[0; 32]).is_some());
    }
}
