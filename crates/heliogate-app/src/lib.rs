//! heliogate's use cases: each loads what it needs from the store, decides with the rules of
//! `heliogate-core`, persists, and records an audit event. The command line and the HTTP server
//! call the same functions, so creating a client from a terminal and over the API is one code
//! path with one set of checks.
//!
//! This layer owns the clock and the random number generator, the two impure inputs the core
//! rules take as arguments.

pub mod account;
pub mod admin;
mod app;
pub mod apply;
mod audit_budget;
pub mod backchannel;
pub mod cache;
pub mod device;
pub mod dpop;
pub mod exchange;
pub mod import;
pub mod login;
pub mod mfa;
pub mod oauth;
pub mod oidc;
pub mod outbound;
pub mod par;
pub mod passkeys;
pub mod password_hashing;
mod random;
pub mod scopes;
pub mod upstream;

pub use app::{App, Clock, DEFAULT_ADMIN_REAUTH};
pub use random::{
    new_client_id, new_family_id, new_secret, new_token, new_token_id, new_user_id, now,
};

use heliogate_store::{AuditEvent, StoreError};

/// Why a use case did not happen. Nothing was changed in every case.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input breaks a rule: a malformed name, an unknown scope, a short password.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached now: worth retrying.
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    /// Too many wrong passwords: refused unchecked for this many seconds.
    #[error("too many failed attempts; try again in {0} seconds")]
    TooManyAttempts(i64),
    /// The server is at its bound for costly work (password hashing): worth retrying soon.
    #[error("{0}")]
    Busy(String),
    /// The sign-in is too old for what was asked (a credential that reaches `admin`): sign
    /// in again.
    #[error("{0}")]
    Reauthenticate(String),
    /// A bug: logged in full, answered without details.
    #[error("heliogate failed unexpectedly")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => AppError::NotFound(m),
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::Invalid(m) => AppError::Invalid(m),
            e @ StoreError::Unavailable(_) => AppError::Unavailable(e),
            e @ StoreError::Internal(_) => AppError::Internal(e),
        }
    }
}

/// Turns any core parse error into `Invalid`.
pub(crate) fn invalid(e: impl std::fmt::Display) -> AppError {
    AppError::Invalid(e.to_string())
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// A security event: what happened, who did it, to what, from where. The one way every use
/// case describes what it did: a change hands its event to the store call that makes the
/// change, which writes both in one transaction; anything else goes to `audit`.
pub(crate) fn event(
    event: &str,
    actor: &str,
    subject: Option<&str>,
    addr: Option<&str>,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: now(),
        event: event.into(),
        actor: Some(actor.into()),
        subject: subject.map(str::to_owned),
        client_addr: addr.map(str::to_owned),
        detail,
    }
}

/// Records an event that changes nothing else: a refused sign-in, a failed authentication —
/// within the budget of its kind and address (`audit_budget`), so that a stranger's flood
/// writes a bounded number of records.
pub(crate) async fn audit(
    store: &dyn heliogate_store::Store,
    name: &str,
    actor: &str,
    subject: Option<&str>,
    addr: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    use audit_budget::{Verdict, BUDGET, PER_WINDOW};
    match BUDGET.admit(name, addr, std::time::Instant::now()) {
        Verdict::Skip => Ok(()),
        Verdict::Write { suppressed } => {
            if suppressed > 0 {
                let summary = serde_json::json!({
                    "event": name,
                    "suppressed": suppressed,
                    "written_per_minute": PER_WINDOW,
                });
                store
                    .record(&event("audit.suppressed", actor, None, addr, summary))
                    .await?;
            }
            store
                .record(&event(name, actor, subject, addr, detail))
                .await
        }
    }
}

/// Who is acting, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// A user name, or `cli` for the command line.
    pub name: String,
    pub client_addr: Option<String>,
}

impl Actor {
    /// The command line, run by whoever can reach the database.
    pub fn cli() -> Self {
        Self {
            name: "cli".into(),
            client_addr: None,
        }
    }

    /// The record of something this actor does to `subject`.
    pub(crate) fn event(&self, name: &str, subject: &str, detail: serde_json::Value) -> AuditEvent {
        event(
            name,
            &self.name,
            Some(subject),
            self.client_addr.as_deref(),
            detail,
        )
    }
}
