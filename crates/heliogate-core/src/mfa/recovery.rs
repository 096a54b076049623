//! Recovery codes: single-use codes a user keeps on paper for when their authenticator is lost.

use crate::mfa::totp::base32;
use crate::SecretHash;

/// How many a user is given at once.
pub const RECOVERY_CODES: usize = 10;

/// A recovery code: 80 random bits as 16 base32 characters in four groups (`ABCD-EFGH-…`).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

impl RecoveryCode {
    pub fn from_random(random: [u8; 10]) -> Self {
        let text = base32(&random);
        let groups: Vec<&str> = (0..4).filter_map(|i| text.get(i * 4..i * 4 + 4)).collect();
        Self(groups.join("-"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash a code is stored and looked up under: of its 16 characters, upper case,
    /// whatever separators and case it was typed with.
    pub fn hash_of_typed(typed: &str) -> Option<SecretHash> {
        let normal: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = normal.len() == 16
            && normal
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
        valid.then(|| SecretHash::of(&normal))
    }

    pub fn hash(&self) -> Option<SecretHash> {
        Self::hash_of_typed(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_found_however_it_is_typed() {
        let code = RecoveryCode::from_random([0xa5; 10]);
        assert_eq!(code.as_str().len(), 19);
        assert_eq!(code.as_str().matches('-').count(), 3);
        let hash = code.hash();
        assert!(hash.is_some());
        let typed = code.as_str().to_lowercase().replace('-', " ");
        assert_eq!(RecoveryCode::hash_of_typed(&typed), hash);
        assert_ne!(RecoveryCode::from_random([0x5a; 10]).hash(), hash);
        for bad in [
            "",
            "ABCD-EFGH",
            "ABCD-EFGH-IJKL-MNO1",
            "ABCD-EFGH-IJKL-MNOPQ",
        ] {
            assert_eq!(RecoveryCode::hash_of_typed(bad), None, "{bad}");
        }
    }
}
