//! What the in-process tests share: the settings a test server runs with.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use heliogate_app::login::LoginPolicy;
use heliogate_app::oauth::OAuthState;
use heliogate_core::{SessionPolicy, ThrottlePolicy};
use heliogate_http::HttpConfig;

pub const ISSUER: &str = "http://heliogate.test";

/// The sign-in policy: half an hour idle, ten hours at most, five wrong passwords a name.
pub fn policy() -> LoginPolicy {
    LoginPolicy {
        session: SessionPolicy {
            idle: 1800,
            max: 36_000,
        },
        throttle: ThrottlePolicy {
            account_threshold: 5,
            address_threshold: 20,
            base_delay: 2,
            max_delay: 900,
            window: 900,
        },
    }
}

/// The defaults of `heliogate serve` for `issuer`, with a fresh server key.
pub fn config(issuer: &str) -> HttpConfig {
    let server_key = heliogate_core::ServerKey::decode(&heliogate_app::new_secret()).unwrap();
    HttpConfig {
        issuer: issuer.into(),
        instance_name: "heliogate".into(),
        login: policy(),
        admin_reauth: 900,
        oauth: OAuthState::new(issuer.into(), 3600, 2_592_000),
        ready_timeout: Duration::from_secs(2),
        trusted_proxies: Default::default(),
        metrics_from: "127.0.0.1".parse().unwrap(),
        passkeys: heliogate_app::passkeys::Passkeys::for_issuer(
            issuer,
            "heliogate",
            server_key.clone(),
        )
        .map(std::sync::Arc::new),
        server_key,
        edge: heliogate_http::EdgeLimits::default(),
    }
}

/// Signs `name` in as the sign-in page does: the session id the browser would hold, and the
/// CSRF token of its forms.
pub async fn sign_in(
    store: &dyn heliogate_store::Store,
    name: &str,
    password: &str,
) -> (String, String) {
    use heliogate_app::login::{self, LoginAttempt, SignIn};
    let attempt = LoginAttempt {
        name: name.into(),
        password: password.into(),
        client_addr: None,
        user_agent: None,
        replaces: None,
        require_mfa: false,
    };
    let SignIn::SignedIn { session_id, .. } =
        login::sign_in(store, &policy(), attempt).await.unwrap()
    else {
        panic!("{name} could not sign in");
    };
    let session = store
        .session(
            &heliogate_core::SecretHash::of(&session_id),
            heliogate_app::now(),
        )
        .await
        .unwrap()
        .unwrap();
    (session_id, session.csrf_token)
}
