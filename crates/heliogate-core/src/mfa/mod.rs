//! Second factors: time-based one-time passwords (authenticator apps) and recovery codes.

mod recovery;
mod totp;

pub use recovery::{RecoveryCode, RECOVERY_CODES};
pub use totp::{base32, TotpSecret, TOTP_DIGITS, TOTP_PERIOD};
