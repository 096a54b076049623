//! `heliogate user …`: every command, good input and bad, checked in the database afterwards.

use heliogate_app::password_hashing;

use crate::helpers::{user_name, TestApp};

heliogate_store::for_each_backend!(crate::helpers::on;
    a_user_is_added_shown_and_listed,
    the_password_is_stored_as_argon2id_only,
    refused_user_additions_change_nothing,
    roles_passwords_and_status_can_be_changed,
    commands_on_an_unknown_user_fail_cleanly,
    the_last_administrator_cannot_be_removed,
    a_deleted_user_is_gone_with_their_tokens,
    a_listing_read_only_in_part_ends_quietly,
);

async fn a_user_is_added_shown_and_listed(app: TestApp) {
    let out = app.run_process_with_input(
        &[
            "user",
            "add",
            "alice",
            "--role",
            "reader",
            "--role",
            "writer",
            "--email",
            "alice@example.org",
            "--password-stdin",
            "--json",
        ],
        "correct horse battery staple\n",
    );
    let added = out.json();
    assert_eq!(added["name"], "alice");
    assert_eq!(added["roles"], serde_json::json!(["reader", "writer"]));
    assert_eq!(added["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(added["email"], "alice@example.org");
    assert_eq!(added["disabled"], false);
    assert_eq!(added["id"].as_str().unwrap().len(), 36);

    let mut shown = app.run_process(&["user", "show", "alice", "--json"]).json();
    // What `show` adds: the user's second factors, never a secret.
    assert_eq!(
        shown["mfa"],
        serde_json::json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0, "required": false})
    );
    shown.as_object_mut().unwrap().remove("mfa");
    // And whether the password is one carried over by an import (see login.rs).
    assert_eq!(
        shown.as_object_mut().unwrap().remove("legacy_password"),
        Some(false.into())
    );
    assert_eq!(shown, added);
    let text = app.run_process(&["user", "show", "alice"]);
    assert!(
        text.ok().stdout.contains("roles:    reader writer"),
        "{}",
        text.stdout
    );
    let list = app.run_process(&["user", "list", "--json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(app
        .run_process(&["user", "list"])
        .ok()
        .stdout
        .contains("alice"));

    let store = app.store().await;
    let user = store
        .user_by_name(&user_name("alice"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, added["id"].as_str().unwrap());
    let events = store.recent_events(10).await.unwrap();
    assert_eq!(events[0].event, "user.created");
    assert_eq!(events[0].actor.as_deref(), Some("cli"));
    assert_eq!(events[0].subject.as_deref(), Some("alice"));
}

async fn the_password_is_stored_as_argon2id_only(app: TestApp) {
    app.run_process_with_input(
        &["user", "add", "bob", "--role", "reader", "--password-stdin"],
        "p4ssw0rd-of-bob\r\n",
    )
    .ok();
    let store = app.store().await;
    let creds = store.credentials(&user_name("bob")).await.unwrap().unwrap();
    assert!(
        creds
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        creds.password_hash
    );
    assert!(!creds.password_hash.contains("p4ssw0rd"));
    // The line ending is not part of the password.
    assert!(password_hashing::verify(
        &creds.password_hash,
        "p4ssw0rd-of-bob"
    ));
    assert!(!password_hashing::verify(
        &creds.password_hash,
        "p4ssw0rd-of-bob\r"
    ));
}

async fn refused_user_additions_change_nothing(app: TestApp) {
    app.add_user("carol", &["reader"]).await;
    let before = app.snapshot().await;
    let pw = "a good long password\n";
    app.run_process_with_input(
        &[
            "user",
            "add",
            "carol",
            "--role",
            "writer",
            "--password-stdin",
        ],
        pw,
    )
    .refused("already exists");
    app.run_process_with_input(
        &["user", "add", "dave", "--role", "ghost", "--password-stdin"],
        pw,
    )
    .refused("no role named \"ghost\"");
    app.run_process_with_input(
        &[
            "user",
            "add",
            "dave",
            "--role",
            "reader",
            "--password-stdin",
        ],
        "\n",
    )
    .refused("must not be empty");
    app.run_process_with_input(
        &[
            "user",
            "add",
            "dave",
            "--role",
            "reader",
            "--password-stdin",
        ],
        "",
    )
    .refused("must not be empty");
    app.run_process_with_input(
        &[
            "user",
            "add",
            "dave",
            "--role",
            "reader",
            "--password-stdin",
        ],
        "short\n",
    )
    .refused("at least 10");
    app.run_process_with_input(
        &[
            "user",
            "add",
            "bob\"e\"i'o;aü",
            "--role",
            "reader",
            "--password-stdin",
        ],
        pw,
    )
    .refused("user name");
    app.run_process_with_input(
        &[
            "user",
            "add",
            "dave",
            "--role",
            "reader",
            "--email",
            "not-an-address",
            "--password-stdin",
        ],
        pw,
    )
    .refused("e-mail");
    // No role at all is a usage error from the argument parser.
    let usage = app.run_process_with_input(&["user", "add", "dave", "--password-stdin"], pw);
    assert_eq!(usage.code, 2, "{usage:?}");
    // Without a terminal and without --password-stdin there is nobody to ask.
    app.run_process(&["user", "add", "dave", "--role", "reader"])
        .refused("--password-stdin");
    assert_eq!(app.snapshot().await, before);
}

async fn roles_passwords_and_status_can_be_changed(app: TestApp) {
    app.add_user("erin", &["reader"]).await;
    let user = app
        .run_process(&["user", "set-roles", "erin", "moderator", "writer", "--json"])
        .json();
    assert_eq!(user["roles"], serde_json::json!(["moderator", "writer"]));
    assert_eq!(user["scopes"], serde_json::json!(["read", "write"]));

    app.run_process_with_input(
        &["user", "set-password", "erin", "--password-stdin"],
        "a brand new secret\n",
    )
    .ok();
    let store = app.store().await;
    let hash = store
        .credentials(&user_name("erin"))
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(password_hashing::verify(&hash, "a brand new secret"));
    app.run_process_with_input(
        &["user", "set-password", "erin", "--password-stdin"],
        "tiny\n",
    )
    .refused("at least 10");
    assert_eq!(
        store
            .credentials(&user_name("erin"))
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash
    );

    app.run_process(&["user", "disable", "erin"]).ok();
    assert!(
        store
            .user_by_name(&user_name("erin"))
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(
        app.run_process(&["user", "show", "erin", "--json"]).json()["disabled"],
        true
    );
    app.run_process(&["user", "enable", "erin"]).ok();
    assert!(
        !store
            .user_by_name(&user_name("erin"))
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    let before = app.snapshot().await;
    app.run_process(&["user", "set-roles", "erin", "reader", "ghost"])
        .refused("no role named \"ghost\"");
    assert_eq!(app.snapshot().await, before);
    let events: Vec<String> = store
        .recent_events(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events[..4],
        [
            "user.enabled",
            "user.disabled",
            "user.password_changed",
            "user.roles_changed"
        ]
        .map(String::from)
    );
}

async fn commands_on_an_unknown_user_fail_cleanly(app: TestApp) {
    let before = app.snapshot().await;
    for args in [
        &["user", "show", "nobody"][..],
        &["user", "set-roles", "nobody", "reader"],
        &["user", "disable", "nobody"],
        &["user", "enable", "nobody"],
        &["user", "delete", "nobody"],
        &["token", "revoke", "--user", "nobody"],
    ] {
        app.run_process(args).refused("no user named \"nobody\"");
    }
    app.run_process_with_input(
        &["user", "set-password", "nobody", "--password-stdin"],
        "a good long password\n",
    )
    .refused("no user named");
    assert_eq!(app.snapshot().await, before);
}

async fn the_last_administrator_cannot_be_removed(app: TestApp) {
    app.add_user("root", &["administrator"]).await;
    let before = app.snapshot().await;
    app.run_process(&["user", "delete", "root"])
        .refused("no enabled administrator");
    app.run_process(&["user", "disable", "root"])
        .refused("no enabled administrator");
    app.run_process(&["user", "set-roles", "root", "reader"])
        .refused("no enabled administrator");
    app.run_process(&["role", "set-scopes", "administrator", "read", "write"])
        .refused("no enabled administrator");
    assert_eq!(app.snapshot().await, before);
    // With a second administrator, the first may go.
    app.add_user("ops", &["administrator"]).await;
    app.run_process(&["user", "delete", "root"]).ok();
    assert!(app.run_process(&["user", "show", "root"]).code != 0);
}

async fn a_deleted_user_is_gone_with_their_tokens(app: TestApp) {
    let user = app.add_user("frank", &["reader"]).await;
    let client = app
        .run_process(&[
            "client",
            "add",
            "svc",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--json",
        ])
        .json();
    let store = app.store().await;
    let token = crate::cli_tokens::insert_token(
        &*store,
        client["client_id"].as_str().unwrap(),
        user["id"].as_str(),
        "t-frank",
    )
    .await;
    app.run_process(&["user", "delete", "frank"]).ok();
    assert!(store
        .user_by_name(&user_name("frank"))
        .await
        .unwrap()
        .is_none());
    assert!(store.access_token(&token).await.unwrap().is_none());
    assert_eq!(
        store.recent_events(1).await.unwrap()[0].event,
        "user.deleted"
    );
}

/// `heliogate user list | grep -q admin`: the reader leaves after the line it wanted, and the
/// listing ends as a pipeline expects — no error, success — rather than failing the pipeline.
async fn a_listing_read_only_in_part_ends_quietly(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    // A pipe whose reader is gone before the command writes: every write is refused.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = app
        .command()
        .args(["user", "list", "--json"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert_eq!(stderr, "");
}
