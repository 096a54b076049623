//! Protect an axum (or any tower) service with tokens from heliogate.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use heliogate_guard::{Caller, Guard};
//!
//! async fn list(caller: Caller) -> String {
//!     format!("predictions for {}", caller.sub)
//! }
//!
//! # async fn run() -> Result<(), heliogate_guard::Error> {
//! let guard = Guard::discover("https://login.example.org")
//!     .await?
//!     .introspection_client("predictions-api", "its secret")
//!     .follow_revocations();
//! let app: Router = Router::new().route("/predictions", get(list).layer(guard.require("read")));
//! # Ok(())
//! # }
//! ```
//!
//! A request without a bearer token gets 401 (`WWW-Authenticate: Bearer`); with a token that
//! is unknown, expired, revoked or not for this service, 401 with `error="invalid_token"`;
//! with a good token that lacks a scope the route requires, 403 with
//! `error="insufficient_scope"` and the `scope` needed (RFC 6750 §3). When heliogate cannot be
//! asked, 503: an unverified token never passes.
//!
//! How a token is checked:
//! - a JWT access token (RFC 9068, `typ: at+jwt`), when the guard knows its own
//!   [`audience`](Guard::audience), is verified here against heliogate's published keys
//!   (`iss`, `aud`, `exp`, `nbf` checked; keys fetched again on an unknown `kid`, at most every
//!   ten seconds);
//! - any other token is asked of heliogate: by introspection (RFC 7662) with the service's own
//!   client, or at `/oauth/tokeninfo` without one. Answers are cached ([`Guard::cache`]: 10,000
//!   tokens, one second by default, never past a token's expiry); concurrent requests with one
//!   uncached token make one call.
//!
//! How long a revoked token still passes: without the revocation feed, up to the cache's TTL
//! for checked tokens, and until its expiry for a JWT verified here. With
//! [`follow_revocations`](Guard::follow_revocations), heliogate tells the guard of every token
//! ended early (revoked, its user disabled or deleted, its consent withdrawn) as it commits,
//! and the guard refuses it at once — within 100 ms of the revocation on a local network. While
//! the feed is unreachable, the guard checks JWTs with heliogate too and keeps answers no
//! longer than the TTL, so that a revocation still reaches it within the TTL.

// The README's example is compiled with the crate's doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod answer;
mod caller;
mod check;
mod dpop;
mod exchange;
mod feed;
mod jwt;
mod layer;
mod token_cache;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use caller::Caller;
pub use exchange::CallerToken;
pub use layer::{Require, RequireLayer};

use check::Remote;
use feed::{Feed, RevokedSet};
use jwt::KeySet;
use token_cache::TokenCache;

/// How many tokens the cache holds unless told.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// How long a checked token's answer is kept unless told: as long as heliogate's own check
/// cache keeps one, so that the guard adds no delay to a revocation.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

/// How long an answer is kept while the revocation feed is live: revocations arrive by the
/// feed, so the TTL only bounds what a lost feed connection could hide.
pub const FEED_CACHE_TTL: Duration = Duration::from_secs(60);

/// How long a call to heliogate may take before the request gets 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a guard could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach heliogate: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("heliogate's metadata is not usable: {0}")]
    Metadata(String),
    /// A token exchange (RFC 8693) was refused.
    #[error("the token exchange failed: {0}")]
    Exchange(String),
}

/// Protects routes. Configure it first, then hand out [`require`](Guard::require) layers; a
/// guard is cheap to clone and every clone shares one cache.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    issuer: String,
    audience: Option<String>,
    remote: Arc<Remote>,
    keys: Arc<KeySet>,
    cache: Arc<TokenCache>,
    ttl: Duration,
    revoked: Arc<RevokedSet>,
    feed: Option<Arc<Feed>>,
    feed_endpoint: Option<String>,
    stats: Arc<Counters>,
    /// Where this service is reached (`https://api.example.org`): the start of the `htu` of a
    /// DPoP proof.
    origin: Option<String>,
    proofs: Arc<dpop::SeenProofs>,
    token_endpoint: String,
    exchanged: Arc<exchange::Exchanged>,
}

/// What a guard has done since it was made: for tests, logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls to heliogate's introspection or tokeninfo endpoint.
    pub remote_checks: u64,
    /// Requests answered from the cache.
    pub cache_hits: u64,
    /// JWTs verified here.
    pub jwt_verified: u64,
    /// Tokens the revocation feed named.
    pub feed_revocations: u64,
    /// Whether the revocation feed is connected and caught up.
    pub feed_live: bool,
}

#[derive(Default)]
struct Counters {
    remote_checks: AtomicU64,
    cache_hits: AtomicU64,
    jwt_verified: AtomicU64,
    feed_revocations: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
    revocation_feed_endpoint: Option<String>,
    token_endpoint: String,
}

impl Guard {
    /// Reads heliogate's metadata (RFC 8414) at `issuer`, which must name itself as `issuer`.
    pub async fn discover(issuer: &str) -> Result<Guard, Error> {
        let issuer = issuer.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let metadata: Metadata = http
            .get(format!("{issuer}/.well-known/oauth-authorization-server"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if metadata.issuer != issuer {
            return Err(Error::Metadata(format!(
                "it names its issuer {:?}, not {issuer:?} (RFC 8414 §3.3)",
                metadata.issuer
            )));
        }
        let remote = Remote {
            http: http.clone(),
            tokeninfo: format!("{issuer}/oauth/tokeninfo"),
            introspection: metadata.introspection_endpoint,
            client: None,
            issuer: issuer.clone(),
        };
        Ok(Guard {
            inner: Arc::new(Inner {
                keys: Arc::new(KeySet::new(http, metadata.jwks_uri)),
                issuer,
                audience: None,
                remote: Arc::new(remote),
                cache: Arc::new(TokenCache::new(DEFAULT_CACHE_CAPACITY)),
                ttl: DEFAULT_CACHE_TTL,
                revoked: Arc::new(RevokedSet::default()),
                feed: None,
                feed_endpoint: metadata.revocation_feed_endpoint,
                stats: Arc::new(Counters::default()),
                origin: None,
                proofs: Arc::new(dpop::SeenProofs::default()),
                token_endpoint: metadata.token_endpoint,
                exchanged: Arc::new(exchange::Exchanged::default()),
            }),
        })
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Guard {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Guard {
            inner: Arc::new(inner),
        }
    }

    /// Checks tokens by introspection with this client (registered in heliogate with
    /// `--introspect`), instead of at tokeninfo.
    pub fn introspection_client(self, client_id: &str, client_secret: &str) -> Guard {
        self.with(|inner| {
            let mut remote = (*inner.remote).clone();
            remote.client = Some((client_id.to_owned(), client_secret.to_owned()));
            inner.remote = Arc::new(remote);
        })
    }

    /// This service's resource identifier (RFC 8707), as its tokens carry it in `aud`: JWT
    /// access tokens for it are then verified here, and a token for another audience is
    /// refused.
    pub fn audience(self, audience: &str) -> Guard {
        self.with(|inner| inner.audience = Some(audience.to_owned()))
    }

    /// Where clients reach this service (`https://api.example.org`, without a path): DPoP-bound
    /// tokens (RFC 9449) are then accepted with a proof made for the request's method and this
    /// origin and path, once (§11.1: proofs seen are remembered while they could pass). Without
    /// it, a DPoP-bound token is refused. A bound token is known as such by introspection or in
    /// a JWT access token; checked at tokeninfo, it never passes.
    pub fn origin(self, origin: &str) -> Guard {
        self.with(|inner| inner.origin = Some(origin.trim_end_matches('/').to_owned()))
    }

    /// Holds at most `capacity` answers, each for at most `ttl` (and never past its token's
    /// expiry).
    pub fn cache(self, capacity: usize, ttl: Duration) -> Guard {
        self.with(|inner| {
            inner.cache = Arc::new(TokenCache::new(capacity.max(1)));
            inner.ttl = ttl;
        })
    }

    /// Follows heliogate's revocation feed (needs the [`introspection_client`]
    /// (Guard::introspection_client) and a Tokio runtime). Without one, or when heliogate
    /// offers no feed, this changes nothing and says so in the log.
    pub fn follow_revocations(self) -> Guard {
        let (Some(endpoint), Some(_)) = (
            self.inner.feed_endpoint.clone(),
            self.inner.remote.client.as_ref(),
        ) else {
            tracing::warn!(
                "heliogate-guard: the revocation feed needs heliogate's feed endpoint and an introspection client"
            );
            return self;
        };
        self.with(|inner| {
            inner.feed = Some(Feed::start(
                Arc::clone(&inner.remote),
                endpoint,
                Arc::clone(&inner.revoked),
                Arc::clone(&inner.stats),
            ));
        })
    }

    /// A layer that lets through only requests with a live token that holds every scope of
    /// `scopes` (space-separated; empty: any live token), and hands the handler its [`Caller`].
    pub fn require(&self, scopes: &str) -> RequireLayer {
        RequireLayer::new(self.clone(), scopes)
    }

    /// Waits until the revocation feed is connected and caught up, at most `within`; `false`
    /// when it is not by then (or was never asked for).
    pub async fn feed_ready(&self, within: Duration) -> bool {
        match &self.inner.feed {
            Some(feed) => feed.ready(within).await,
            None => false,
        }
    }

    pub fn stats(&self) -> Stats {
        let counters = &self.inner.stats;
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            remote_checks: read(&counters.remote_checks),
            cache_hits: read(&counters.cache_hits),
            jwt_verified: read(&counters.jwt_verified),
            feed_revocations: read(&counters.feed_revocations),
            feed_live: self.inner.feed.as_ref().is_some_and(|f| f.is_live()),
        }
    }

    fn feed_live(&self) -> bool {
        self.inner.feed.as_ref().is_some_and(|f| f.is_live())
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("stats", &self.stats())
            .finish()
    }
}
