//! `heliogate token …`.

use heliogate_core::TokenKey;
use heliogate_store::{NewAccessToken, Store};

use crate::helpers::TestApp;

/// Stores a live access token as the token endpoint would, and returns its key.
pub async fn insert_token(
    store: &dyn Store,
    client_id: &str,
    user_id: Option<&str>,
    secret: &str,
) -> TokenKey {
    insert_token_expiring(
        store,
        client_id,
        user_id,
        secret,
        heliogate_app::now() + 3600,
    )
    .await
}

async fn insert_token_expiring(
    store: &dyn Store,
    client_id: &str,
    user_id: Option<&str>,
    secret: &str,
    expires_at: i64,
) -> TokenKey {
    let key = TokenKey::of(secret);
    store
        .issue_tokens(
            NewAccessToken {
                key,
                client_id: client_id.into(),
                user_id: user_id.map(str::to_owned),
                scope: "read".into(),
                family_id: None,
                audience: None,
                created_at: heliogate_app::now(),
                expires_at,
                jkt: None,
                subject_key: None,
                act: None,
                sid: None,
            },
            None,
            None,
        )
        .await
        .unwrap();
    key
}

heliogate_store::for_each_backend!(crate::helpers::on;
    tokens_are_revoked_by_user_or_client,
    expired_tokens_are_purged,
    revoke_needs_exactly_one_target,
    live_tokens_are_listed_without_their_values
);

async fn tokens_are_revoked_by_user_and_client_setup(app: &TestApp) -> (String, String, String) {
    let user = app.add_user("hana", &["reader"]).await;
    let one = app
        .run_process(&["client", "add", "one", "--scope", "read", "--json"])
        .json();
    let two = app
        .run_process(&["client", "add", "two", "--scope", "read", "--json"])
        .json();
    (
        user["id"].as_str().unwrap().to_owned(),
        one["client_id"].as_str().unwrap().to_owned(),
        two["client_id"].as_str().unwrap().to_owned(),
    )
}

async fn tokens_are_revoked_by_user_or_client(app: TestApp) {
    let (user, one, two) = tokens_are_revoked_by_user_and_client_setup(&app).await;
    let store = app.store().await;
    let a = insert_token(&*store, &one, Some(&user), "a").await;
    let b = insert_token(&*store, &two, Some(&user), "b").await;
    let c = insert_token(&*store, &two, None, "c").await;
    let now = heliogate_app::now();
    let live = |t: Option<heliogate_store::AccessToken>| t.unwrap().is_live(now);

    assert_eq!(
        app.run_process(&["token", "revoke", "--user", "hana", "--json"])
            .json(),
        serde_json::json!({ "revoked": 2 })
    );
    assert!(!live(store.access_token(&a).await.unwrap()));
    assert!(!live(store.access_token(&b).await.unwrap()));
    assert!(live(store.access_token(&c).await.unwrap()));
    assert!(app
        .run_process(&["token", "revoke", "--client", &two])
        .ok()
        .stdout
        .contains("1 token(s) revoked"));
    assert!(!live(store.access_token(&c).await.unwrap()));
    app.run_process(&["token", "revoke", "--client", "0000"])
        .refused("no client with id");
    let event = &store.recent_events(1).await.unwrap()[0];
    assert_eq!(
        (event.event.as_str(), event.subject.as_deref()),
        ("token.revoked", Some(two.as_str()))
    );
}

async fn expired_tokens_are_purged(app: TestApp) {
    let (_, one, _) = tokens_are_revoked_by_user_and_client_setup(&app).await;
    let store = app.store().await;
    let old = insert_token_expiring(&*store, &one, None, "old", heliogate_app::now() - 10).await;
    let new = insert_token(&*store, &one, None, "new").await;
    let mut ancient = store.recent_events(1).await.unwrap().remove(0);
    ancient.at -= 400 * 86_400;
    store.record(&ancient).await.unwrap();
    assert_eq!(
        app.run_process(&["token", "purge-expired", "--json"])
            .json(),
        serde_json::json!({ "purged": 1, "audit_records": 1, "login_counters": 0 })
    );
    assert!(store.access_token(&old).await.unwrap().is_none());
    assert!(store.access_token(&new).await.unwrap().is_some());
}

async fn revoke_needs_exactly_one_target(app: TestApp) {
    assert_eq!(app.run_process(&["token", "revoke"]).code, 2);
    assert_eq!(
        app.run_process(&["token", "revoke", "--user", "a", "--client", "b"])
            .code,
        2
    );
}

async fn live_tokens_are_listed_without_their_values(app: TestApp) {
    let (user, one, two) = tokens_are_revoked_by_user_and_client_setup(&app).await;
    let store = app.store().await;
    insert_token(&*store, &one, Some(&user), "secret-a").await;
    insert_token(&*store, &two, Some(&user), "secret-b").await;
    insert_token(&*store, &two, None, "secret-c").await;
    let page = app
        .run_process(&["token", "list", "--user", "hana", "--limit", "1", "--json"])
        .json();
    assert_eq!(page["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(page["tokens"][0]["user"], "hana");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app
        .run_process(&[
            "token", "list", "--user", "hana", "--cursor", cursor, "--json",
        ])
        .json();
    assert_eq!(rest["tokens"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let text = app
        .run_process(&["token", "list", "--client", &two])
        .ok()
        .stdout
        .clone();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains("secret-"), "{text}");
    assert!(
        text.contains("access_token") && text.contains("read"),
        "{text}"
    );
    assert_eq!(app.run_process(&["token", "list"]).code, 2);
}
