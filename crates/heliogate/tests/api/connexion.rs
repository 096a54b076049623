//! A real Connexion 3 application (Python, from PyPI) protects one operation with scope
//! `read` and one with `write` through `x-tokenInfoUrl` pointing at a running heliogate.
//! `.ci/run` installs it into a virtual environment and names its Python in
//! `HELIOGATE_CONNEXION_PYTHON`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{free_port, Backend, TestApp};
use crate::oauth_helpers::*;

/// The Python that has Connexion 3.
fn python() -> String {
    heliogate_store::testing::required_tool(
        "HELIOGATE_CONNEXION_PYTHON",
        "a Python with crates/heliogate/tests/connexion/requirements.txt",
    )
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connexion_service_enforces_scopes_through_tokeninfo() {
    let python = python();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("rita", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;

    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/connexion/app.py");
    let service = Killed(
        Command::new(&python)
            .arg(script)
            .arg(port.to_string())
            .arg(&server.base)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Connexion service"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{base}/openapi.json")).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the Connexion service did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A reader's token, through sign-in and consent: the client asks for read and write,
    // the reader's role holds read only.
    let browser = signed_in(&server, "rita").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("read".into()))
        .add_scope(oauth2::Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = query_param(&authorize(&browser, &server, url.as_str()).await, "code").unwrap();
    let tokens = oauth2::TokenResponse::access_token(
        &client
            .exchange_code(oauth2::AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http())
            .await
            .unwrap(),
    )
    .secret()
    .clone();

    let http = reqwest::Client::new();
    let get = || {
        http.get(format!("{base}/forecasts"))
            .bearer_auth(&tokens)
            .send()
    };
    let post = || {
        http.post(format!("{base}/forecasts"))
            .bearer_auth(&tokens)
            .send()
    };
    let read = get().await.unwrap();
    assert_eq!(read.status(), 200);
    let body: serde_json::Value = read.json().await.unwrap();
    assert_eq!(body["scope"], serde_json::json!(["read"]));
    assert_eq!(
        post().await.unwrap().status(),
        403,
        "a reader may not write"
    );
    assert_eq!(
        http.get(format!("{base}/forecasts"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{base}/forecasts"))
            .bearer_auth("forged")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Revoked: refused by both operations.
    let revoked = http
        .post(server.url("/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", tokens.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(get().await.unwrap().status(), 401);
    assert_eq!(post().await.unwrap().status(), 401);
    drop(service);
}
