//! Password hashing with Argon2id at OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1),
//! stored as PHC strings so that parameters can be raised later without a migration.
//!
//! Hashing is CPU-bound for tens of milliseconds, so the async wrappers run it on tokio's
//! blocking pool, never on a worker thread.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

use crate::{AppError, Result};

fn argon2() -> Result<Argon2<'static>> {
    let params =
        Params::new(19 * 1024, 2, 1, None).map_err(|e| AppError::Invalid(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Invalid(format!("cannot hash the password: {e}")))
}

/// Checks a password against a PHC string; the comparison inside is constant-time.
pub fn verify(phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Spends the same work as `verify` on a hash nobody's password matches: a sign-in for an
/// unknown user costs what one for a known user costs, so timing tells nothing.
pub fn verify_nobody(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("heliogate: no such user").unwrap_or_default());
    let _ = verify(dummy, password);
    false
}

/// `hash` on the blocking pool.
pub async fn hash_async(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| AppError::Invalid(format!("password hashing failed: {e}")))?
}

/// `verify` (or `verify_nobody` when there is no hash) on the blocking pool.
pub async fn verify_async(phc: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify(&phc, &password),
        None => verify_nobody(&password),
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let phc = hash("correct horse battery").unwrap_or_default();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, "correct horse battery"));
        assert!(!verify(&phc, "correct horse battery!"));
        assert!(!verify("not a phc string", "x"));
        assert!(!verify_nobody("correct horse battery"));
    }
}
