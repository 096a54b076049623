//! The application object: the store, the clock, the caches of the hot path and the policies
//! that the use cases share. A use case that changes authority (a user, a role, a client, a
//! token) takes it, makes its change through the store, and then clears the caches itself, so
//! that the change holds on this node at once and on every other within the caches' second; no
//! caller has to remember to.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use heliogate_core::authority;
use heliogate_core::{ScopeSet, UnixTime};
use heliogate_store::{Client, Store};
use tokio::sync::Notify;

use crate::cache::TtlCache;
use crate::oauth::{AccessTokens, OAuthState};

/// Where the use cases take the time from: the system's clock, or one a test sets.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `at` until set or moved on.
    pub fn fixed(at: UnixTime) -> Self {
        Self(Some(Arc::new(AtomicI64::new(at))))
    }

    /// Moves a clock a test set to `at`; the system's clock stays as it is.
    pub fn set(&self, at: UnixTime) {
        if let Some(now) = &self.0 {
            now.store(at, Ordering::SeqCst);
        }
    }

    pub fn now(&self) -> UnixTime {
        match &self.0 {
            Some(at) => at.load(Ordering::SeqCst),
            None => crate::now(),
        }
    }
}

/// What the use cases of one process share.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    pub clock: Clock,
    /// Seconds after a sign-in during which it may make a credential that reaches `admin`
    /// (and act in the administrators' console): `HELIOGATE_ADMIN_REAUTH`.
    pub admin_reauth: i64,
    tokens: Arc<AccessTokens>,
    clients: Arc<TtlCache<String, Client>>,
    known_scopes: Arc<TtlCache<(), ScopeSet>>,
    /// Woken after a change, which may have ended sessions: back-channel logouts may be due.
    logouts_due: Arc<Notify>,
    /// How this process's back-channel logouts went.
    logout_counts: Arc<crate::backchannel::LogoutCounts>,
    /// What this process read of upstream identity providers.
    providers: Arc<crate::upstream::Providers>,
    /// The client this process calls other services with, made at its first use.
    outbound: Arc<crate::outbound::Outbound>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("admin_reauth", &self.admin_reauth)
            .finish_non_exhaustive()
    }
}

/// How long an administrator's sign-in stays fresh unless configured: fifteen minutes.
pub const DEFAULT_ADMIN_REAUTH: i64 = 900;

impl App {
    /// The application over `store`, sharing the caches of `oauth` (the flows read them).
    pub fn new(store: Arc<dyn Store>, oauth: &OAuthState, admin_reauth: i64) -> Self {
        let outbound = Arc::<crate::outbound::Outbound>::default();
        Self {
            store,
            clock: Clock::system(),
            admin_reauth,
            tokens: Arc::clone(&oauth.tokens),
            clients: Arc::clone(&oauth.clients),
            known_scopes: Arc::clone(&oauth.known_scopes),
            logouts_due: Arc::new(Notify::new()),
            logout_counts: Arc::default(),
            providers: Arc::new(crate::upstream::Providers::new(Arc::clone(&outbound))),
            outbound,
        }
    }

    /// The application of a command: nothing is cached across its one use.
    pub fn of_command(store: Arc<dyn Store>) -> Self {
        let oauth = OAuthState::new(String::new(), 0, 0);
        Self::new(store, &oauth, DEFAULT_ADMIN_REAUTH)
    }

    /// The same application reading the time from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Whether a sign-in made at `signed_in_at` is recent enough for the administrators'
    /// console (`HELIOGATE_ADMIN_REAUTH`).
    pub fn signed_in_recently(&self, signed_in_at: UnixTime) -> bool {
        authority::fresh(signed_in_at, self.now(), self.admin_reauth)
    }

    /// Refuses to make a credential holding `scopes` on a sign-in made at `signed_in_at` that
    /// is too old for it (`authority::fresh_enough`).
    pub(crate) fn require_fresh<'s>(
        &self,
        scopes: impl Iterator<Item = &'s str>,
        signed_in_at: UnixTime,
    ) -> crate::Result<()> {
        if authority::fresh_enough(scopes, signed_in_at, self.now(), self.admin_reauth) {
            Ok(())
        } else {
            Err(crate::AppError::Reauthenticate(
                "confirm it is you: sign in again to give the admin scope".into(),
            ))
        }
    }

    /// After a change of authority has committed: this node forgets the clients, scopes and
    /// token checks it trusts for a second, and sends the logout tokens the change queued
    /// without waiting for the next poll (`backchannel`).
    pub(crate) fn changed(&self) {
        self.clients.clear();
        self.known_scopes.clear();
        self.tokens.forget_all();
        self.logouts_due.notify_one();
    }

    /// How this process's back-channel logouts went (for metrics).
    /// The HTTP client this process calls other services with.
    pub async fn http(&self) -> &reqwest::Client {
        self.outbound.client().await
    }

    /// Upstream identity providers' documents and keys, as this process read them.
    pub fn providers(&self) -> &crate::upstream::Providers {
        &self.providers
    }

    pub fn logout_counts(&self) -> Arc<crate::backchannel::LogoutCounts> {
        Arc::clone(&self.logout_counts)
    }

    /// What wakes this node's back-channel logout deliverer.
    pub fn logouts_due(&self) -> Arc<Notify> {
        Arc::clone(&self.logouts_due)
    }

    /// Clears the caches when the returned guard goes, at the end of a use case that changes
    /// authority, whichever way it returns (a failed change may have committed part of its
    /// work, and a needless clear costs a few reads).
    pub(crate) fn on_change(&self) -> ClearsCaches<'_> {
        ClearsCaches(self)
    }
}

/// See `App::on_change`.
pub(crate) struct ClearsCaches<'a>(&'a App);

impl Drop for ClearsCaches<'_> {
    fn drop(&mut self) {
        self.0.changed();
    }
}
