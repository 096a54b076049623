//! heliogate's HTTP face: an axum router over the use cases of `heliogate-app`.
//!
//! Handlers stay thin (extract, call the app, map the error); everything a response must carry
//! on every path (security headers, request logging, a body size limit) is a layer here, once,
//! rather than a line in each handler. `router` takes the state and returns the app, so tests
//! can serve it on a random port exactly as the binary does.

mod api;
mod console;
mod device;
mod edge;
mod error;
mod health;
mod html;
mod metrics;
mod networks;
mod oauth;
mod oidc;
mod pages;
mod proxy;
mod security_headers;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use heliogate_app::login::LoginPolicy;
use heliogate_app::oauth::revocation_feed::RevocationFeed;
use heliogate_app::oauth::OAuthState;
use heliogate_core::ServerKey;
use heliogate_store::Store;

pub use proxy::ClientAddr;
pub use session::SignedIn;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use edge::{EdgeLimits, MAX_HEADERS_BYTES, MAX_HEADER_BYTES};
pub use error::HttpError;
pub use metrics::Metrics;
pub use networks::Networks;
pub use proxy::TrustedProxies;

/// The largest request body accepted; OAuth and login forms are far smaller.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach: one shared value, so that handing it to a request (axum
/// clones the state for each handler it calls, and again for `State`) is one reference count
/// rather than one for each part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of the state, reached through `AppState`.
pub struct Shared {
    pub store: Arc<dyn Store>,
    /// The use cases' shared state: they clear the caches after their changes.
    pub app: heliogate_app::App,
    pub config: HttpConfig,
    pub metrics: Metrics,
    /// The revocation feed's poller and subscribers.
    pub feed: Arc<RevocationFeed>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: HttpConfig) -> Self {
        Self::with_clock(store, config, heliogate_app::Clock::system())
    }

    /// The state with its use cases on `clock` (a test sets the time).
    pub fn with_clock(
        store: Arc<dyn Store>,
        config: HttpConfig,
        clock: heliogate_app::Clock,
    ) -> Self {
        let app = heliogate_app::App::new(Arc::clone(&store), &config.oauth, config.admin_reauth)
            .with_clock(clock);
        Self(Arc::new(Shared {
            metrics: Metrics::new(Arc::clone(&store), app.logout_counts()),
            feed: RevocationFeed::new(
                Arc::clone(&store),
                config.edge.feed_streams,
                config.edge.feed_streams_per_client,
            ),
            app,
            store,
            config,
        }))
    }
}

/// The settings the HTTP layer needs, fixed at start.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The public base URL, without a trailing slash.
    pub issuer: String,
    /// The name pages show.
    pub instance_name: String,
    pub login: LoginPolicy,
    /// Seconds after sign-in during which an administrator acts in the console without
    /// signing in again (`HELIOGATE_ADMIN_REAUTH`).
    pub admin_reauth: i64,
    /// Token lifetimes and the issuer of authorization responses.
    pub oauth: OAuthState,
    /// How long a readiness check waits for the database.
    pub ready_timeout: Duration,
    /// The reverse proxies believed about the client's address.
    pub trusted_proxies: TrustedProxies,
    /// Who may read `/metrics`.
    pub metrics_from: Networks,
    /// The installation's key, which binds the sign-in form's token to its pre-login session.
    pub server_key: ServerKey,
    /// The WebAuthn relying party; none when the issuer's host is not a domain name.
    pub passkeys: Option<std::sync::Arc<heliogate_app::passkeys::Passkeys>>,
    /// How connections, headers and feed streams are bounded.
    pub edge: EdgeLimits,
}

impl HttpConfig {
    /// Cookies are `Secure` when heliogate is reached over https.
    pub fn secure_cookies(&self) -> bool {
        // A URL's scheme is case-insensitive (RFC 3986 §3.1): `HTTPS://` is https too.
        self.issuer
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// Over https the session cookie takes the `__Host-` prefix: the browser then refuses it
    /// unless it is `Secure`, host-only and for the whole site.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-heliogate_session"
        } else {
            "heliogate_session"
        }
    }

    /// The pre-login session's cookie, which the sign-in form's token is bound to; host-bound
    /// over https like the session's.
    pub fn pre_login_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-heliogate_login"
        } else {
            "heliogate_login"
        }
    }

    /// The cookie of a sign-in at an upstream provider: its `state`, which the callback must
    /// be given by the same browser.
    pub fn upstream_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            "__Secure-heliogate_upstream"
        } else {
            "heliogate_upstream"
        }
    }

    /// The cookie of a sign-in waiting for its second factor (half signed in); host-bound
    /// like the session's.
    pub fn mfa_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-heliogate_mfa"
        } else {
            "heliogate_mfa"
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    // One composed layer: each `Router::layer` call boxes every route again, and a request
    // pays a clone per box.
    // `Router::layer` wraps each route (and the fallback), after routing: the request counter
    // sees the matched route's template.
    let layers = tower::ServiceBuilder::new()
        .layer(state.metrics.track())
        .layer(edge::HeaderLimitLayer)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(security_headers::SecurityHeadersLayer {
            hsts: state.config.secure_cookies(),
        });
    let mut app = Router::new()
        .merge(health::routes())
        .merge(pages::routes())
        .merge(console::routes())
        .merge(oauth::routes())
        .merge(device::routes())
        .merge(oidc::routes())
        .merge(metrics::routes())
        .merge(api::routes());
    // Served over https, only behind trusted proxies can a request have arrived over plain http.
    if state.config.secure_cookies() && !state.config.trusted_proxies.is_empty() {
        app = app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            proxy::require_https,
        ));
    }
    let app = app.with_state(state).layer(layers);
    // Requests are logged at info; when that level is off, the layer (and the clock reads it
    // makes for every request) is left out.
    if tracing::enabled!(Level::INFO) {
        app.layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
    } else {
        app
    }
}

/// Serves the app on `listener` until `shutdown` resolves, then lets requests in flight finish,
/// under the connection bounds of `state.config.edge` (see `edge`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let feed = Arc::clone(&state.feed);
    let limits = state.config.edge;
    // A feed's response never ends by itself: end them, or none would finish.
    edge::serve_connections(listener, router(state), limits, shutdown, move || {
        feed.close()
    })
    .await
}
