//! `heliogate serve`: open and migrate the store, create the bootstrap administrator on a
//! first start, serve until SIGINT or SIGTERM, and let in-flight requests finish.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use heliogate_app::admin;
use heliogate_app::login::LoginPolicy;
use heliogate_app::oauth::OAuthState;
use heliogate_http::{AppState, HttpConfig};
use heliogate_store::Store;

use crate::settings::Settings;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // Taken before anything else: a signal that comes while the server prepares (or the
    // moment it says it is serving) stops it cleanly rather than killing it.
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("while binding {}", settings.listen))?;
    prepare(settings, listener, Path::new("."))
        .await?
        .serve(shutdown)
        .await
}

/// A server ready to answer on its listener: store opened and migrated, keys made, the first
/// administrator created.
pub struct Ready {
    listener: tokio::net::TcpListener,
    state: AppState,
    store: Arc<dyn Store>,
    audit_retention_days: i64,
    throttle_window: i64,
}

/// Everything `serve` does before it answers, on `listener`; a first administrator's password
/// is handed over in `dir` when no terminal shows it.
pub async fn prepare(
    settings: Settings,
    listener: tokio::net::TcpListener,
    dir: &Path,
) -> anyhow::Result<Ready> {
    if let Some(limit) = settings.password_hash_concurrency {
        heliogate_app::password_hashing::set_concurrency(limit);
    }
    let listening = listener
        .local_addr()
        .with_context(|| format!("while binding {}", settings.listen))?;
    let issuer = settings.issuer(listening);
    let store = crate::open_store(&settings).await?;
    admin::check_issuer(&*store, &issuer)
        .await
        .context("while checking the cluster's settings")?;
    heliogate_app::oidc::ensure_keys(&*store, settings.key_encryption.as_ref())
        .await
        .context("while making the signing keys")?;
    if let Some(password) = admin::bootstrap_admin(&*store)
        .await
        .context("while creating the first administrator")?
    {
        hand_over_bootstrap_password(&password, dir);
    }
    tracing::info!(
        listen = %listening,
        issuer = %issuer,
        database = %settings.database_url,
        access_token_ttl = settings.access_token_ttl,
        refresh_token_ttl = settings.refresh_token_ttl,
        trusted_proxies = %settings.trusted_proxies,
        "heliogate is serving"
    );
    let mut oauth = OAuthState::new(
        issuer.clone(),
        settings.access_token_ttl as i64,
        settings.refresh_token_ttl as i64,
    );
    oauth.id_token_ttl = settings.id_token_ttl as i64;
    oauth.key_encryption = settings.key_encryption.clone();
    // Keys that do not open (sealed, and no or another key-encryption key) stop the start.
    heliogate_app::oidc::key_ring(&*store, &oauth)
        .await
        .context("while reading the signing keys")?;
    let server_key = admin::server_key(&*store)
        .await
        .context("while reading the installation's key")?;
    // DPoP nonces (RFC 9449 §8) are made with the installation's key: any node checks any
    // other's.
    oauth.nonce_key = Some(server_key.clone());
    let config = HttpConfig {
        issuer: issuer.clone(),
        instance_name: settings.instance_name.clone(),
        login: LoginPolicy {
            session: settings.session,
            throttle: settings.throttle,
        },
        admin_reauth: settings.admin_reauth,
        oauth,
        ready_timeout: Duration::from_secs(2),
        trusted_proxies: settings.trusted_proxies.clone(),
        metrics_from: settings.metrics_from.clone(),
        passkeys: heliogate_app::passkeys::Passkeys::for_issuer(
            &issuer,
            &settings.instance_name,
            server_key.clone(),
        )
        .map(std::sync::Arc::new),
        server_key,
        edge: within_descriptors(settings.edge),
    };
    Ok(Ready {
        listener,
        state: AppState::new(store.clone(), config),
        store,
        audit_retention_days: settings.audit_retention_days,
        throttle_window: settings.throttle.window,
    })
}

impl Ready {
    /// The address the server answers on.
    pub fn address(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let purging = tokio::spawn(purge_hourly(
            self.store.clone(),
            self.audit_retention_days,
            self.throttle_window,
        ));
        let (app, oauth) = (self.state.app.clone(), self.state.config.oauth.clone());
        let delivering = tokio::spawn(async move {
            let wake = app.logouts_due();
            heliogate_app::backchannel::Deliverer::new(app, oauth)
                .run(wake)
                .await;
        });
        crate::memory::release_freed();
        heliogate_http::serve(self.listener, self.state, shutdown)
            .await
            .context("while serving")?;
        purging.abort();
        delivering.abort();
        self.store.close().await;
        tracing::info!("heliogate stopped");
        Ok(())
    }
}

/// Where the first administrator's password is written when no terminal shows it.
pub(crate) const BOOTSTRAP_PASSWORD_FILE: &str = "heliogate-admin-password";

/// The first administrator's password, shown once: on a terminal, printed there (never through
/// the logger); otherwise — a service manager, a container, logs collected as JSON lines — it
/// goes to a file in `dir` (the working directory) that only this user may read, and the log says
/// where, never what.
fn hand_over_bootstrap_password(password: &str, dir: &Path) {
    use std::io::{IsTerminal, Write};
    if std::io::stderr().is_terminal() {
        eprintln!(
            "heliogate: created the user 'admin' (role administrator) with the password\n\n    {password}\n\n\
             It is shown only now. Sign in and change it, or set one with `heliogate user set-password admin`."
        );
        return;
    }
    let written = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(BOOTSTRAP_PASSWORD_FILE))
            .and_then(|mut file| writeln!(file, "{password}"))
    };
    let path = std::path::absolute(dir.join(BOOTSTRAP_PASSWORD_FILE))
        .unwrap_or_else(|_| dir.join(BOOTSTRAP_PASSWORD_FILE));
    match written {
        Ok(()) => tracing::warn!(
            file = %path.display(),
            "created the user 'admin' (role administrator); its password is in this file, \
             readable by this user only: sign in, choose your own, and delete the file"
        ),
        Err(e) => tracing::error!(
            error = %e,
            file = %path.display(),
            "created the user 'admin' (role administrator), but its password could not be \
             written down: set one with `heliogate user set-password admin`"
        ),
    }
}

/// Descriptors kept for what is not a client's connection: the database pool, the token
/// writer, the log, files.
const RESERVED_DESCRIPTORS: usize = 64;

/// `limits` with at most as many connections as the descriptor limit leaves, so that the
/// server never runs out of descriptors to accept with (and so to answer `/healthz`).
fn within_descriptors(mut limits: heliogate_http::EdgeLimits) -> heliogate_http::EdgeLimits {
    if let Some(open_files) = open_files_limit() {
        let budget = open_files.saturating_sub(RESERVED_DESCRIPTORS).max(16);
        if budget < limits.max_connections {
            tracing::info!(
                max_connections = budget,
                open_files,
                "fewer connections than max_connections: the descriptor limit leaves no more"
            );
            limits.max_connections = budget;
        }
    }
    limits
}

/// The soft limit of open files (`ulimit -n`), where the system says (Linux).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What expires leaves the database: a minute after start, then every hour. Every node does
/// it; the deletes are the same on each, and a node that is down leaves it to the others.
async fn purge_hourly(store: Arc<dyn Store>, audit_retention_days: i64, throttle_window: i64) {
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(60),
        Duration::from_secs(3600),
    );
    loop {
        ticks.tick().await;
        match admin::purge_expired(&*store, audit_retention_days, throttle_window).await {
            Ok(purged) => tracing::info!(?purged, "purged what expired"),
            Err(e) => tracing::warn!(error = %e, "purging what expired failed; next hour again"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM, from the moment it is called (the handlers are installed
/// here, not when the future is first polled).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |installed: std::io::Result<tokio::signal::unix::Signal>| async move {
            match installed {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {}
            () = wait(terminate) => {}
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
