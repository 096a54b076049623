//! `heliogate role …`.

use crate::helpers::TestApp;

heliogate_store::for_each_backend!(crate::helpers::on;
    the_original_roles_are_there_from_the_start,
    a_role_is_added_changed_and_deleted,
    refused_role_changes_change_nothing,
);

async fn the_original_roles_are_there_from_the_start(app: TestApp) {
    let roles = app.run_process(&["role", "list", "--json"]).json();
    assert_eq!(
        roles,
        serde_json::json!([
            { "name": "administrator", "scopes": ["admin", "execute", "read", "write"], "mfa_required": false },
            { "name": "moderator", "scopes": ["read", "write"], "mfa_required": false },
            { "name": "reader", "scopes": ["read"], "mfa_required": false },
            { "name": "writer", "scopes": ["write"], "mfa_required": false },
        ])
    );
    assert!(app
        .run_process(&["role", "list"])
        .ok()
        .stdout
        .contains("moderator            read write"));
}

async fn a_role_is_added_changed_and_deleted(app: TestApp) {
    let role = app
        .run_process(&[
            "role",
            "add",
            "forecaster",
            "--scope",
            "predict",
            "--scope",
            "read",
            "--json",
        ])
        .json();
    assert_eq!(
        role,
        serde_json::json!({ "name": "forecaster", "scopes": ["predict", "read"], "mfa_required": false })
    );
    // A second factor required of its users, and no longer.
    app.run_process(&["role", "set-mfa", "forecaster", "required"])
        .ok();
    assert!(app
        .run_process(&["role", "list"])
        .ok()
        .stdout
        .contains("forecaster           predict read (second factor required)"));
    app.run_process(&["role", "set-mfa", "forecaster", "optional"])
        .ok();
    app.run_process(&["role", "set-mfa", "nobody", "required"])
        .refused("no role named");
    app.add_user("gina", &["forecaster"]).await;
    assert_eq!(
        app.run_process(&["user", "show", "gina", "--json"]).json()["scopes"],
        serde_json::json!(["predict", "read"])
    );
    // A scope some role holds becomes one a client may ask for.
    app.run_process(&["client", "add", "predictor", "--scope", "predict"])
        .ok();

    let role = app
        .run_process(&["role", "set-scopes", "forecaster", "predict", "--json"])
        .json();
    assert_eq!(role["scopes"], serde_json::json!(["predict"]));
    app.run_process(&["role", "delete", "forecaster"])
        .refused("held by 1 user");
    app.run_process(&["user", "set-roles", "gina", "reader"])
        .ok();
    app.run_process(&["role", "delete", "forecaster"]).ok();
    let names: Vec<String> = app
        .run_process(&["role", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.contains(&"forecaster".to_owned()));
    let store = app.store().await;
    assert_eq!(
        store.recent_events(1).await.unwrap()[0].event,
        "role.deleted"
    );
}

async fn refused_role_changes_change_nothing(app: TestApp) {
    let before = app.snapshot().await;
    app.run_process(&["role", "add", "reader", "--scope", "read"])
        .refused("already exists");
    app.run_process(&["role", "add", "bad role", "--scope", "read"])
        .refused("role name");
    app.run_process(&["role", "add", "quoted", "--scope", "a\"b"])
        .refused("RFC 6749");
    app.run_process(&["role", "add", "spaced", "--scope", "a b"])
        .refused("RFC 6749");
    app.run_process(&["role", "set-scopes", "ghost", "read"])
        .refused("no role named \"ghost\"");
    app.run_process(&["role", "delete", "ghost"])
        .refused("no role named \"ghost\"");
    assert_eq!(app.run_process(&["role", "add", "empty"]).code, 2);
    assert_eq!(app.snapshot().await, before);
}
