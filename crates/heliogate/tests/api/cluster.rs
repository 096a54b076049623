//! Several `heliogate serve` processes on one PostgreSQL behave as one server.

use std::time::{Duration, Instant};

use crate::helpers::{Backend, Browser, Server, TestApp};
use crate::oauth_helpers::{http, register, tokeninfo_status, PASSWORD};

async fn node(app: &TestApp, issuer: &str) -> Server {
    let mut command = app.command();
    command.env("HELIOGATE_ISSUER", issuer);
    Server::start(command, app.dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_postgres_share_tokens_revocations_and_sessions() {
    let app = TestApp::new(Backend::Postgres).await;
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let secret = secret.unwrap();
    let issuer = "https://login.cluster.example";
    let a = node(&app, issuer).await;
    let b = node(&app, issuer).await;

    // A token issued by one node is valid on every node.
    let issued: serde_json::Value = http()
        .post(a.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["access_token"].as_str().unwrap();
    assert_eq!(
        (
            tokeninfo_status(&a, token).await,
            tokeninfo_status(&b, token).await
        ),
        (200, 200)
    );

    // A revocation on one node is seen there at once, and on the other once its check cache
    // (one second) lets go: within a second and a half, a poll and a busy machine's slack
    // included (a bound of 1.1 s failed once under CI's load, at 1.102 s).
    let revoked = http()
        .post(a.url("/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let at = Instant::now();
    assert_eq!(revoked.status(), 200);
    assert_eq!(tokeninfo_status(&a, token).await, 401);
    while tokeninfo_status(&b, token).await != 401 {
        assert!(
            at.elapsed() < Duration::from_millis(1500),
            "node B still accepts a revoked token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A session started on one node works on the other. (The issuer is https, so the cookie
    // is Secure and the client would not send it over plain http: carry it by hand.)
    let on_a = Browser::new(&a);
    let csrf = on_a.csrf("/login").await;
    let signed = on_a
        .post(
            "/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
                ("next", "/"),
            ],
        )
        .await;
    let cookie = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-heliogate_session="))
        .unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = http()
        .get(b.url("/"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(">alice</h1>"));

    // A node configured with another issuer refuses to join.
    let mut other = app.command();
    other
        .env("HELIOGATE_ISSUER", "https://elsewhere.example")
        .arg("serve");
    let out: crate::helpers::Run = other.output().unwrap().into();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("every node must use the same issuer"),
        "{}",
        out.stderr
    );
}
