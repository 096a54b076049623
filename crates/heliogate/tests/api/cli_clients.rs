//! `heliogate client …`.

use heliogate_core::SecretHash;

use crate::helpers::{client_id, TestApp};

heliogate_store::for_each_backend!(crate::helpers::on;
    a_confidential_client_gets_a_secret_shown_once,
    a_public_client_has_no_secret,
    rotating_a_secret_replaces_it,
    refused_client_registrations_change_nothing,
    a_deleted_client_is_gone_with_its_tokens,
    a_client_is_changed_under_the_rules_of_registration,
);

async fn a_confidential_client_gets_a_secret_shown_once(app: TestApp) {
    app.add_user("owner", &["reader"]).await;
    let issued = app
        .run_process(&[
            "client",
            "add",
            "Notebook runner",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--scope",
            "write",
            "--owner",
            "owner",
            "--json",
        ])
        .json();
    let id = issued["client_id"].as_str().unwrap();
    let secret = issued["client_secret"].as_str().unwrap();
    assert_eq!((id.len(), secret.len()), (32, 43));
    assert_eq!(issued.as_object().unwrap().len(), 2, "{issued}");

    let store = app.store().await;
    let stored = store.client(&client_id(id)).await.unwrap().unwrap();
    assert!(stored.secret_hash.unwrap().matches(secret));
    assert_eq!(stored.secret_hash, Some(SecretHash::of(secret)));
    assert_eq!(stored.owner.as_deref(), Some("owner"));

    let shown = app.run_process(&["client", "show", id, "--json"]).json();
    assert_eq!(shown["name"], "Notebook runner");
    assert_eq!(shown["client_type"], "confidential");
    assert_eq!(
        shown["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(shown["scopes"], serde_json::json!(["read", "write"]));
    for out in [
        app.run_process(&["client", "show", id]),
        app.run_process(&["client", "show", id, "--json"]),
        app.run_process(&["client", "list"]),
        app.run_process(&["client", "list", "--json"]),
    ] {
        assert!(out.ok().stdout.contains(id));
        assert!(
            !out.stdout.contains(secret),
            "a secret was shown again: {}",
            out.stdout
        );
        assert!(!out.stdout.contains("secret_hash"));
    }
    let text = app.run_process(&["client", "add", "plain", "--scope", "read"]);
    assert!(
        text.ok().stdout.contains("client_secret: "),
        "{}",
        text.stdout
    );
}

async fn a_public_client_has_no_secret(app: TestApp) {
    let issued = app
        .run_process(&[
            "client",
            "add",
            "Browser app",
            "--public",
            "--redirect-uri",
            "https://app.example.org/callback",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "openid",
            "--scope",
            "read",
            "--json",
        ])
        .json();
    assert_eq!(issued["client_secret"], serde_json::Value::Null);
    let id = issued["client_id"].as_str().unwrap();
    let shown = app.run_process(&["client", "show", id, "--json"]).json();
    assert_eq!(shown["client_type"], "public");
    assert_eq!(
        shown["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        shown["redirect_uris"],
        serde_json::json!(["https://app.example.org/callback", "http://127.0.0.1/cb"])
    );
    assert!(app
        .store()
        .await
        .client(&client_id(id))
        .await
        .unwrap()
        .unwrap()
        .secret_hash
        .is_none());
    app.run_process(&["client", "rotate-secret", id])
        .refused("public");
}

async fn rotating_a_secret_replaces_it(app: TestApp) {
    let issued = app
        .run_process(&["client", "add", "svc", "--scope", "read", "--json"])
        .json();
    let id = issued["client_id"].as_str().unwrap();
    let old = issued["client_secret"].as_str().unwrap();
    let rotated = app
        .run_process(&["client", "rotate-secret", id, "--json"])
        .json();
    let new = rotated["client_secret"].as_str().unwrap();
    assert_eq!(rotated["client_id"], id);
    assert_ne!(old, new);
    let hash = app
        .store()
        .await
        .client(&client_id(id))
        .await
        .unwrap()
        .unwrap()
        .secret_hash
        .unwrap();
    assert!(hash.matches(new) && !hash.matches(old));
    app.run_process(&["client", "rotate-secret", "0000"])
        .refused("no client with id \"0000\"");
}

async fn refused_client_registrations_change_nothing(app: TestApp) {
    let before = app.snapshot().await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["client", "add", "web", "--redirect-uri", "not a uri"],
            "invalid redirect URI",
        ),
        (
            &["client", "add", "web", "--redirect-uri", "/relative/cb"],
            "invalid redirect URI",
        ),
        (
            &[
                "client",
                "add",
                "web",
                "--redirect-uri",
                "http://app.example.org/cb",
            ],
            "loopback",
        ),
        (
            &[
                "client",
                "add",
                "web",
                "--redirect-uri",
                "https://app.example.org/cb#x",
            ],
            "fragment",
        ),
        (
            &[
                "client",
                "add",
                "web",
                "--redirect-uri",
                "javascript:alert(1)",
            ],
            "invalid redirect URI",
        ),
        (
            &["client", "add", "svc", "--grant-type", "password"],
            "unknown grant type \"password\"",
        ),
        (
            &["client", "add", "svc", "--grant-type", "implicit"],
            "unknown grant type \"implicit\"",
        ),
        (
            &["client", "add", "svc", "--scope", "launch-missiles"],
            "unknown scope \"launch-missiles\"",
        ),
        (
            &[
                "client",
                "add",
                "svc",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "public client",
        ),
        (
            &["client", "add", "web", "--grant-type", "authorization_code"],
            "--redirect-uri",
        ),
        (
            &["client", "add", "svc", "--owner", "ghost"],
            "no user named \"ghost\"",
        ),
        (&["client", "add", "  "], "client name"),
        (&["client", "show", "0000"], "no client with id \"0000\""),
        (&["client", "delete", "0000"], "no client with id \"0000\""),
    ];
    for (args, needle) in cases {
        app.run_process(args).refused(needle);
    }
    assert_eq!(app.snapshot().await, before);
}

async fn a_deleted_client_is_gone_with_its_tokens(app: TestApp) {
    let issued = app
        .run_process(&["client", "add", "svc", "--scope", "read", "--json"])
        .json();
    let id = issued["client_id"].as_str().unwrap();
    let store = app.store().await;
    let token = crate::cli_tokens::insert_token(&*store, id, None, "t-svc").await;
    app.run_process(&["client", "delete", id]).ok();
    assert!(store.client(&client_id(id)).await.unwrap().is_none());
    assert!(store.access_token(&token).await.unwrap().is_none());
    assert_eq!(
        store.recent_events(1).await.unwrap()[0].event,
        "client.deleted"
    );
}

async fn a_client_is_changed_under_the_rules_of_registration(app: TestApp) {
    let id = app
        .run_process(&[
            "client",
            "add",
            "Web",
            "--redirect-uri",
            "https://app.example/cb",
            "--json",
        ])
        .json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = app
        .run_process(&[
            "client",
            "set",
            &id,
            "--name",
            "Web app",
            "--redirect-uri",
            "https://app.example/new",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "read",
            "--json",
        ])
        .json();
    assert_eq!(changed["name"], "Web app");
    assert_eq!(
        changed["redirect_uris"],
        serde_json::json!(["https://app.example/new", "http://127.0.0.1/cb"])
    );
    assert_eq!(changed["scopes"], serde_json::json!(["read"]));
    assert_eq!(
        changed["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    // What registration refuses, a change refuses, and nothing changes.
    app.run_process(&[
        "client",
        "set",
        &id,
        "--redirect-uri",
        "http://evil.example/cb",
    ])
    .refused("https");
    app.run_process(&["client", "set", &id, "--scope", "nope"])
        .refused("unknown scope");
    app.run_process(&["client", "set", &id, "--grant-type", "client_credentials"])
        .refused("redirect");
    app.run_process(&["client", "set", "nope", "--name", "x"])
        .refused("no client");
    let shown = app.run_process(&["client", "show", &id, "--json"]).json();
    assert_eq!(shown["redirect_uris"], changed["redirect_uris"]);
    assert_eq!(shown["name"], "Web app");
}
