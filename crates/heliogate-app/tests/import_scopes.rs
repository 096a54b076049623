//! The import does not trust the source's scope strings: an imported token carries only what
//! its user's roles (or, for a client's own token, the client) hold in heliogate (both engines).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use heliogate_app::import::{import_flask, ImportOptions};
use heliogate_app::{now, Actor};
use heliogate_core::TokenKey;
use heliogate_store::flask_source::{FlaskData, SourceClient, SourceToken, SourceUser};
use heliogate_store::Store;

heliogate_store::for_each_backend!(heliogate_store::testing::with_store;
    imported_tokens_carry_only_what_heliogate_grants,
);

fn token(secret: &str, user: Option<&str>, scopes: &[&str]) -> SourceToken {
    SourceToken {
        client_id: "legacy-app".into(),
        user_id: user.map(str::to_owned),
        access_token: Some(secret.into()),
        refresh_token: None,
        expires: Some(now() + 3600),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

async fn imported_tokens_carry_only_what_heliogate_grants(store: Arc<dyn Store>) {
    let data = FlaskData {
        users: vec![SourceUser {
            id: "7".into(),
            name: "rita".into(),
            password_hash: None,
            active: true,
        }],
        clients: vec![SourceClient {
            client_id: "legacy-app".into(),
            client_secret: Some("legacy secret".into()),
            user_id: None,
            redirect_uris: vec![],
            default_scopes: vec!["read".into(), "write".into()],
            confidential: true,
            grant_types: Some(vec!["client_credentials".into()]),
        }],
        tokens: vec![
            // A reader's token that the source says may administer.
            token("t-read-admin", Some("7"), &["read", "admin"]),
            // A scope heliogate has never heard of.
            token("t-superuser", Some("7"), &["superuser"]),
            // The client's own token, beyond the client's scopes.
            token("t-client", None, &["write", "execute"]),
        ],
    };
    let options = ImportOptions {
        default_roles: vec!["reader".into()],
        refresh_token_ttl: 86_400,
        ..ImportOptions::default()
    };
    let report = import_flask(&*store, &Actor::cli(), data, &options, &|_, _| {})
        .await
        .unwrap();

    let scope = |secret: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .access_token(&TokenKey::of(secret))
                .await
                .unwrap()
                .map(|t| t.scope.to_string())
        }
    };
    assert_eq!(scope("t-read-admin").await.as_deref(), Some("read"));
    assert_eq!(scope("t-client").await.as_deref(), Some("write"));
    // Left with nothing: skipped and counted.
    assert_eq!(scope("t-superuser").await, None);
    assert_eq!(report.tokens.imported, 2);
    assert_eq!(report.tokens.skipped, 1);
    assert!(report
        .skipped
        .iter()
        .any(|s| s.reason.contains("none of its scopes")));
    // What was dropped is listed per token.
    let narrowed: Vec<&str> = report.narrowed.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(narrowed.len(), 2, "{narrowed:?}");
    assert!(narrowed
        .iter()
        .any(|r| r.contains("\"admin\"") && r.contains("user's roles")));
    assert!(narrowed
        .iter()
        .any(|r| r.contains("\"execute\"") && r.contains("client")));
}
