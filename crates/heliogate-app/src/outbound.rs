//! The one HTTP client heliogate calls other services with (relying parties' back-channel
//! logout URIs): TLS through rustls, trusting the system's certificate authorities (an
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
