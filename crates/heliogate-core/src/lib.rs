//! The rules of heliogate, free of I/O: what a valid user name, role, scope, client or redirect
//! URI is, and how secrets are hashed and compared.
//!
//! The main design decision is "parse, don't validate": every value that crosses the edge of the
//! system (a CLI argument, a form field, a JSON body) becomes one of the types here through its
//! `parse` constructor, so code further in never holds an unchecked name or URI. Nothing here
//! reads the clock or a random number generator: callers pass time and randomness in, which keeps
//! every rule testable with fixed inputs.

pub mod authority;
pub mod backchannel;
pub mod client;
pub mod legacy;
pub mod mfa;
pub mod names;
pub mod oidc;
pub mod password_rules;
pub mod scope;
pub mod secret;
pub mod session;
pub mod upstream;

pub use client::{
    AccessTokenFormat, ClientId, ClientKind, ClientSpec, ClientSpecError, GrantType, LogoutUri,
    RedirectUri, SigningAlg,
};
pub use names::{Email, NameError, RoleName, UserName, NAME_PATTERN};
pub use password_rules::{check_new_password, PasswordError};
pub use scope::{Scope, ScopeError, ScopeSet};
pub use secret::{encode_secret, encode_token, encode_token_id, SecretHash, ServerKey, TokenKey};

/// Seconds since the Unix epoch. Every stored time is one of these.
pub type UnixTime = i64;

/// The scope that the administration API requires; a user holding it through an enabled
/// account is an administrator, and the last one cannot be removed.
pub const ADMIN_SCOPE: &str = "admin";

/// The role given to the bootstrap user on a first start.
pub const ADMIN_ROLE: &str = "administrator";
pub use session::{
    describe_user_agent, safe_next, Attempt, AttemptCounter, SessionPolicy, ThrottlePolicy,
    CHECK_HOLD, MAX_NEXT_LEN,
};
pub mod oauth;
