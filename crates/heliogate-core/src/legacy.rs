//! Password hashes carried over from the original design: Flask-Login over
//! `md5(password + name)`, hex. heliogate keeps one only until the user's next successful
//! sign-in, where it is checked once and replaced by Argon2id; it is accepted for nothing else.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// How a carried-over hash is stored, in front of its 32 hex digits.
pub const LEGACY_MD5_PREFIX: &str = "legacy-md5:";

/// The stored form of a source's `password_hash`, or `None` when it is not 32 hex digits.
pub fn legacy_md5_hash(source: &str) -> Option<String> {
    let hex = source.trim();
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("{LEGACY_MD5_PREFIX}{}", hex.to_ascii_lowercase()))
}

/// Whether a stored hash is a carried-over one.
pub fn is_legacy_hash(stored: &str) -> bool {
    stored.starts_with(LEGACY_MD5_PREFIX)
}

/// Whether `password` is the one a carried-over hash was made from for the user `name`; the
/// comparison is constant-time. `false` for any hash that is not a carried-over one.
pub fn legacy_md5_matches(stored: &str, name: &str, password: &str) -> bool {
    let Some(hex) = stored.strip_prefix(LEGACY_MD5_PREFIX) else {
        return false;
    };
    let mut digest = Md5::new();
    digest.update(password.as_bytes());
    digest.update(name.as_bytes());
    let computed: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    computed.as_bytes().ct_eq(hex.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_md5_of_password_and_name_is_recognised_once_stored() {
        // md5("s3cretalice"), as the original `set_password_hash` wrote it.
        let source = "4B5E3E6C3D4F2A0A9E1C1B0D5E9F6A7B";
        assert_eq!(legacy_md5_hash("nope"), None);
        assert_eq!(legacy_md5_hash(&"g".repeat(32)), None);
        let stored = legacy_md5_hash(source).unwrap_or_default();
        assert!(is_legacy_hash(&stored) && stored.ends_with("4b5e3e6c3d4f2a0a9e1c1b0d5e9f6a7b"));
        let real =
            legacy_md5_hash(&format!("{:x}", Md5::digest(b"s3cretalice"))).unwrap_or_default();
        assert!(legacy_md5_matches(&real, "alice", "s3cret"));
        assert!(!legacy_md5_matches(&real, "alice", "s3cret "));
        assert!(!legacy_md5_matches(&real, "alicE", "s3cret"));
        assert!(!legacy_md5_matches(
            "$argon2id$v=19$m=19456,t=2,p=1$x$y",
            "alice",
            "s3cret"
        ));
    }
}
