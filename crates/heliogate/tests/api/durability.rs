//! Durability: a `kill -9` under issuance load loses no acknowledged token. (An unreachable
//! PostgreSQL is `server.rs`'s: readiness and fast 503s through an outage.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heliogate_core::TokenKey;
use serde_json::Value;

use crate::helpers::{Backend, Server, TestApp};
use crate::oauth_helpers::{http, register};

heliogate_store::for_each_backend!(crate::helpers::on;
    a_kill_under_issuance_load_loses_no_acknowledged_token,
    on_one_cpu_a_kill_under_issuance_load_loses_no_acknowledged_token);

async fn a_kill_under_issuance_load_loses_no_acknowledged_token(app: TestApp) {
    killed_under_issuance_load(&app, app.command()).await;
}

/// With one CPU the server runs every task on one thread (`main.rs`'s `runtime`): the writer's
/// batches and the requests waiting on them share it.
async fn on_one_cpu_a_kill_under_issuance_load_loses_no_acknowledged_token(app: TestApp) {
    killed_under_issuance_load(&app, app.command_on_one_cpu()).await;
}

async fn killed_under_issuance_load(app: &TestApp, command: std::process::Command) {
    let (id, secret) = register(
        app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let secret = secret.unwrap();
    let mut server = Server::start(command, app.dir.path()).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let url = server.url("/oauth/token");
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (url, id, secret, acknowledged) = (
            url.clone(),
            id.clone(),
            secret.clone(),
            acknowledged.clone(),
        );
        workers.push(tokio::spawn(async move {
            let client = http();
            loop {
                let sent = client
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status() != 200 {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                if let Some(token) = body["access_token"].as_str() {
                    acknowledged.lock().unwrap().push(token.to_owned());
                }
            }
        }));
    }
    // Let the load run, then kill the server without warning in the middle of it.
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 1000 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).await;
    for worker in workers {
        let _ = worker.await;
    }
    let tokens = acknowledged.lock().unwrap().clone();
    assert!(
        tokens.len() >= 300,
        "only {} tokens were issued",
        tokens.len()
    );

    if app.backend == Backend::Sqlite {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(app.db.url()).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        conn.close().await.unwrap();
    }
    // After a restart every acknowledged token is there and live.
    let mut command = app.command();
    command.env("HELIOGATE_ISSUER", &server.base);
    let restarted = Server::start(command, app.dir.path()).await;
    let store = app.store().await;
    let now = heliogate_app::now();
    for token in &tokens {
        let stored = store.access_token(&TokenKey::of(token)).await.unwrap();
        assert!(
            stored.is_some_and(|t| t.is_live(now)),
            "an acknowledged token was lost"
        );
    }
    let last = tokens.last().unwrap();
    let info = http()
        .get(restarted.url("/oauth/tokeninfo"))
        .bearer_auth(last)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
}
