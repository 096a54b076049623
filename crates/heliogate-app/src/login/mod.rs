//! Signing in and out, and a signed-in user changing their password: the password step
//! (`password`), the second step (`second_factor`), a passkey alone (`passkey`), sessions
//! (`session`), the own-password form (`password_change`), and the throttle they share.
//!
//! A sign-in costs the same and answers the same whether the account is unknown, disabled or
//! given a wrong password, so neither the answer nor its timing tells which. Failures are
//! counted in the store per account name and per client address, so that a lock holds on
//! every node. A locked address refuses only accounts that have failures themselves.

mod passkey;
mod password;
mod password_change;
mod second_factor;
mod session;
pub(crate) mod throttle;

use heliogate_core::{SessionPolicy, ThrottlePolicy};
use heliogate_store::User;

pub use passkey::{sign_in_with_passkey, PasskeySignIn};
pub use password::{sign_in, LoginAttempt};
pub use password_change::{change_own_password, PasswordChange};
pub(crate) use second_factor::await_second_factor;
pub use second_factor::{
    complete_sign_in, factor_page, pending_user, FactorPage, FactorStep, Proof, MFA_PENDING_SECONDS,
};
pub use session::{current_session, session_sid, sign_out};
pub(crate) use session::{start_session, Started};

/// The rules of signing in, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    pub session: SessionPolicy,
    pub throttle: ThrottlePolicy,
}

#[derive(Debug)]
pub enum SignIn {
    /// A new session; `session_id` goes to the browser and is stored only hashed.
    SignedIn { session_id: String, user: User },
    /// The password was right; the second factor is asked next (or set up, when a role
    /// requires one and the user has none). `pending_id` goes to the browser, grants nothing,
    /// and lasts `MFA_PENDING_SECONDS`.
    SecondFactor { pending_id: String, enrol: bool },
    /// The pending sign-in expired or was never there: start again.
    PendingExpired,
    /// Wrong name or password, or a disabled account: the same answer for all three.
    /// `locked`: this failure locked the name or the address (for metrics, never shown).
    Refused { locked: bool },
    /// Too many failures: try again in `retry_after` seconds.
    Throttled { retry_after: i64 },
}
