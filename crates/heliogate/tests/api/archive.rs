//! `heliogate backup` and `heliogate restore`: a backup made while the server issues tokens
//! restores into an empty database of either engine, and there every password, token, client
//! secret, signing key and audit record works as before; a database that is not empty, and an
//! archive cut short or changed, are refused and change nothing.

use serde_json::Value;

use crate::helpers::{event_names, Backend, Server, TestApp};
use crate::oauth_helpers::*;

/// What a user and an application hold on the source, to try on the target.
struct Held {
    carol: String,
    client: (String, String),
    service: (String, String),
    tokens: Value,
}

async fn hold(app: &TestApp, server: &Server) -> Held {
    let carol = add_carol(app).await;
    let (id, secret) = register_web(app).await;
    let (svc, svc_secret) = register(
        app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    // An identity provider with its secret, and carol's identity there.
    app.run_with_input(
        &[
            "upstream",
            "add",
            "corp",
            "--issuer",
            "https://login.corp.example",
            "--client-id",
            "heliogate",
            "--client-secret-stdin",
            "--provision",
            "create",
        ],
        "corp-secret\n",
    )
    .await
    .ok();
    app.run(&[
        "upstream",
        "link",
        "corp",
        "--user",
        "carol",
        "--subject",
        "c-1",
    ])
    .await
    .ok();
    let browser = signed_in(server, "carol").await;
    let tokens: Value = code_tokens(server, &browser, (&id, &secret), "scope=openid%20read", &[])
        .await
        .json()
        .await
        .unwrap();
    Held {
        carol,
        client: (id, secret),
        service: (svc, svc_secret.unwrap()),
        tokens,
    }
}

/// Backs up `source` while its server issues tokens, restores into an empty `target`, and
/// uses every credential there.
async fn moves(from: Backend, to: Backend) {
    let source = TestApp::new(from).await;
    let server = source.serve(&[]).await;
    let held = hold(&source, &server).await;
    let archive = source.path("heliogate.backup");
    let archive_arg = archive.to_str().unwrap().to_owned();
    // Under load: a service takes tokens all through the backup.
    let load = {
        let (base, service) = (server.base.clone(), held.service.clone());
        tokio::spawn(async move {
            let client = http();
            let mut issued = 0;
            for _ in 0..200 {
                let answer = client
                    .post(format!("{base}/oauth/token"))
                    .basic_auth(&service.0, Some(&service.1))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
                issued += 1;
            }
            issued
        })
    };
    let made = source
        .run(&["backup", "--to", &archive_arg, "--json"])
        .await
        .json();
    assert_eq!(load.await.unwrap(), 200);
    assert_eq!(
        made["tables"],
        heliogate_store::archive::TABLES.len(),
        "{made}"
    );
    let mode = std::fs::metadata(&archive).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let issuer = server.base.clone();
    drop(server);

    let target = TestApp::new(to).await;
    let restored = target
        .run(&["restore", "--from", &archive_arg, "--json"])
        .await
        .json();
    assert_eq!(restored["rows"], made["rows"]);
    // The moved installation keeps its issuer (the `iss` of every token it issued).
    let server = target.serve(&[("HELIOGATE_ISSUER", &issuer)]).await;
    let access = held.tokens["access_token"].as_str().unwrap();
    assert_eq!(tokeninfo_status(&server, access).await, 200);
    // The client's secret, the refresh token and the signing key: a refresh gives an ID
    // token signed with the same key as before.
    let (id, secret) = (&held.client.0, &held.client.1);
    let refreshed: Value = post_form(
        &server,
        "/oauth/token",
        Some((id, secret)),
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                held.tokens["refresh_token"].as_str().unwrap(),
            ),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let kid = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid;
    assert_eq!(
        kid(refreshed["id_token"].as_str().unwrap()),
        kid(held.tokens["id_token"].as_str().unwrap()),
        "{refreshed}"
    );
    assert_eq!(
        jwt_payload(refreshed["id_token"].as_str().unwrap())["sub"],
        held.carol.as_str()
    );
    // carol's password; the service's secret.
    let browser = signed_in(&server, "carol").await;
    assert_eq!(browser.get("/").await.status(), 200);
    client_token(&server, (&held.service.0, &held.service.1)).await;
    // The identity provider and carol's link to it.
    let corp = target
        .run(&["upstream", "show", "corp", "--json"])
        .await
        .json();
    assert_eq!(corp["has_client_secret"], true);
    target
        .run(&[
            "upstream",
            "link",
            "corp",
            "--user",
            "carol",
            "--subject",
            "c-1",
        ])
        .await
        .refused("linked to a user already");
    // The audit log came along, and says it was restored.
    let log = target
        .run(&["audit", "list", "--limit", "1000", "--json"])
        .await
        .json();
    let events = event_names(&log);
    assert!(events.contains(&"user.created"), "{events:?}");
    assert!(events.contains(&"database.restored"), "{events:?}");
    // New records go on after the restored ones (the sequences follow).
    target.run(&["user", "disable", "carol"]).await.ok();
    assert_eq!(browser.get("/").await.status(), 303);
}

async fn user_list(app: &TestApp) -> Value {
    app.run(&["user", "list", "--json"]).await.json()
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_of_sqlite_restores_into_postgres() {
        moves(Backend::Sqlite, Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_of_postgres_restores_into_sqlite() {
        moves(Backend::Postgres, Backend::Sqlite).await;
    }
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_restores_into_another_sqlite_database() {
        moves(Backend::Sqlite, Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_or_changed_archive_or_a_database_in_use_is_refused() {
        let source = TestApp::new(Backend::Sqlite).await;
        add_carol(&source).await;
        let archive = source.path("heliogate.backup");
        let path = archive.to_str().unwrap().to_owned();
        source.run(&["backup", "--to", &path]).await.ok();
        let whole = std::fs::read(&archive).unwrap();

        let target = TestApp::new(Backend::Sqlite).await;
        let damaged = source.path("damaged.backup");
        let damaged_arg = damaged.to_str().unwrap().to_owned();
        let text = String::from_utf8(whole.clone()).unwrap();
        for (bytes, needle) in [
            (whole[..whole.len() - 10].to_vec(), "cut short"),
            (whole[..whole.len() / 2].to_vec(), "cut short"),
            (text.replacen("carol", "carl", 1).into_bytes(), "checksum"),
            (b"not an archive\n".to_vec(), "damaged"),
        ] {
            std::fs::write(&damaged, bytes).unwrap();
            target
                .run(&["restore", "--from", &damaged_arg])
                .await
                .refused(needle);
            assert_eq!(user_list(&target).await, serde_json::json!([]));
        }
        target.run(&["restore", "--from", &path]).await.ok();
        // Not empty any more: a second restore is refused.
        target
            .run(&["restore", "--from", &path])
            .await
            .refused("not empty");
        assert_eq!(user_list(&target).await.as_array().unwrap().len(), 1);
    }
}
