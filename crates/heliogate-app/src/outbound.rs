//! The one HTTP client heliogate calls other services with (relying parties' back-channel
//! logout URIs, upstream identity providers): TLS through rustls, trusting the system's certificate authorities (an
//! infrastructure's own CA) and the web's; short timeouts, so that a slow service holds
//! nothing for long; no redirects followed, so that a call goes where it was registered to.

use std::time::Duration;

/// How long a call may take from connecting to the last byte of the answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The client; built once per process (it keeps connections to reuse).
pub fn http_client() -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("heliogate/", env!("CARGO_PKG_VERSION")));
    builder.build().unwrap_or_else(|e| {
        // Only a TLS backend that cannot start fails here; fall back to the defaults.
        tracing::error!(error = %e, "the outbound HTTP client could not be configured");
        reqwest::Client::new()
    })
}

/// The process's client, made when something is first sent: a node that calls nobody never
/// loads the TLS stack or reads the system's certificate authorities (memory at idle).
#[derive(Debug, Default)]
pub struct Outbound(tokio::sync::OnceCell<reqwest::Client>);

impl Outbound {
    /// The client; the first call reads the certificate authorities on the blocking pool.
    pub async fn client(&self) -> &reqwest::Client {
        self.0
            .get_or_init(|| async {
                tokio::task::spawn_blocking(http_client)
                    .await
                    .unwrap_or_else(|_| reqwest::Client::new())
            })
            .await
    }
}
