//! The policy for new passwords (NIST SP 800-63B §3.1.1.2): a minimum length, a generous
//! maximum, any characters; no composition rules.

/// The shortest password we accept.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: bounds the work one login attempt can cost the server.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must not be empty")]
    Empty,
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

/// Checks a password chosen by a user or an administrator.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        Err(PasswordError::Empty)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if password.len() > MAX_PASSWORD_BYTES {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_the_only_rule() {
        assert_eq!(check_new_password(""), Err(PasswordError::Empty));
        assert_eq!(check_new_password("short"), Err(PasswordError::TooShort));
        assert_eq!(check_new_password("ten chars!"), Ok(()));
        assert_eq!(
            check_new_password("ééééééééé"),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            check_new_password(&"x".repeat(1025)),
            Err(PasswordError::TooLong)
        );
    }
}
