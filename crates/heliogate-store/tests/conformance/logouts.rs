//! Back-channel logouts: the relying parties that received an ID token in a session are
//! recorded, and when the live session ends — whichever way — a delivery is queued for each
//! that takes logout tokens; deliveries are claimed once under a lease, retried, finished.

use heliogate_core::{LogoutUri, SecretHash};
use heliogate_store::{ClientSettings, NewAccessToken, NewClient, Store};

use super::{cid, ev, name, new_user, service_client, session, settings, token, NOW};

heliogate_store::for_each_backend!(crate::on;
    ending_a_live_session_queues_a_logout_for_each_relying_party_in_it,
    a_delivery_is_claimed_once_retried_and_finished,
);

fn relying_party(id: &str, logout_uri: Option<&str>) -> NewClient {
    let base = service_client(id, id);
    NewClient {
        settings: ClientSettings {
            backchannel_logout_uri: logout_uri.map(|u| LogoutUri::parse(u).unwrap()),
            ..settings(base.settings.spec.clone())
        },
        ..base
    }
}

/// An access token with `scope`, issued to `client` through the session `session`.
fn through(secret: &str, client: &str, session: &str, scope: &str) -> NewAccessToken {
    let mut t = token(secret, client, Some("u-1"), NOW + 60);
    t.sid = Some(SecretHash::of(session).session_sid());
    t.scope = scope.into();
    t
}

async fn setup(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "bob", &["reader"]), &ev())
        .await
        .unwrap();
    for (id, uri) in [
        ("rp-a", Some("https://a.example/logout")),
        ("rp-b", Some("http://127.0.0.1:9/logout")),
        ("rp-none", None),
    ] {
        store
            .create_client(&relying_party(id, uri), &ev())
            .await
            .unwrap();
    }
}

async fn queued(store: &dyn Store) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = store
        .claim_logouts(NOW, NOW + 30, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.client_id, d.sid, d.subject))
        .collect();
    all.sort();
    all
}

async fn ending_a_live_session_queues_a_logout_for_each_relying_party_in_it(store: &dyn Store) {
    setup(store).await;
    for id in ["s-1", "s-2", "s-3"] {
        store
            .create_session(&session(id, "u-1", NOW + 3600), &ev())
            .await
            .unwrap();
    }
    let sid = |id: &str| SecretHash::of(id).session_sid();
    // rp-a got ID tokens twice in s-1; rp-b an access token without `openid` (no ID token);
    // rp-none has no URI; a token through a session that does not stand records nothing.
    for (secret, client, session, scope) in [
        ("t-1", "rp-a", "s-1", "openid read"),
        ("t-2", "rp-a", "s-1", "read openid"),
        ("t-3", "rp-b", "s-1", "read"),
        ("t-4", "rp-none", "s-1", "openid"),
        ("t-5", "rp-b", "s-2", "openid"),
        ("t-6", "rp-a", "s-3", "openid"),
        ("t-7", "rp-a", "gone", "openid"),
    ] {
        store
            .issue_tokens(through(secret, client, session, scope), None, None)
            .await
            .unwrap();
    }
    assert!(
        queued(store).await.is_empty(),
        "nothing before a session ends"
    );

    store
        .delete_session(&SecretHash::of("s-1"), &ev())
        .await
        .unwrap();
    assert_eq!(
        queued(store).await,
        vec![("rp-a".into(), sid("s-1"), "u-1".into())]
    );

    // The user deleted: their other sessions end with them, each with its relying parties.
    store.delete_user(&name("bob"), &ev()).await.unwrap();
    assert_eq!(
        queued(store).await,
        vec![
            ("rp-a".into(), sid("s-3"), "u-1".into()),
            ("rp-b".into(), sid("s-2"), "u-1".into()),
        ]
    );
}

async fn a_delivery_is_claimed_once_retried_and_finished(store: &dyn Store) {
    setup(store).await;
    store
        .create_session(&session("s-1", "u-1", NOW + 3600), &ev())
        .await
        .unwrap();
    store
        .create_session(&session("old", "u-1", 1_000), &ev())
        .await
        .unwrap();
    for (secret, session) in [("t-1", "s-1"), ("t-2", "old")] {
        store
            .issue_tokens(through(secret, "rp-a", session, "openid"), None, None)
            .await
            .unwrap();
    }
    // A session that merely expired sends nothing.
    store.purge_expired(NOW).await.unwrap();
    assert_eq!(store.pending_logouts().await.unwrap(), 0);

    store
        .delete_session(&SecretHash::of("s-1"), &ev())
        .await
        .unwrap();
    assert_eq!(store.pending_logouts().await.unwrap(), 1);
    let first = store.claim_logouts(NOW, NOW + 30, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    assert_eq!(first[0].jti.len(), 32);
    // Leased: no other node takes it until the lease ends.
    assert!(store
        .claim_logouts(NOW + 29, NOW + 60, 10)
        .await
        .unwrap()
        .is_empty());
    let taken_over = store.claim_logouts(NOW + 30, NOW + 60, 10).await.unwrap();
    assert_eq!(taken_over.len(), 1);
    assert_eq!(taken_over[0].attempts, 2);
    assert_eq!(taken_over[0].jti, first[0].jti, "the same logout each time");

    store
        .retry_logout(first[0].id, NOW + 100, "answered 500", &ev())
        .await
        .unwrap();
    assert!(store
        .claim_logouts(NOW + 99, NOW + 130, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store.claim_logouts(NOW + 100, NOW + 130, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 3);
    store.finish_logout(again[0].id, &ev()).await.unwrap();
    assert_eq!(store.pending_logouts().await.unwrap(), 0);

    // A client deleted takes its queue with it.
    store
        .create_session(&session("s-2", "u-1", NOW + 3600), &ev())
        .await
        .unwrap();
    store
        .issue_tokens(through("t-3", "rp-a", "s-2", "openid"), None, None)
        .await
        .unwrap();
    store
        .delete_session(&SecretHash::of("s-2"), &ev())
        .await
        .unwrap();
    assert_eq!(store.pending_logouts().await.unwrap(), 1);
    store.delete_client(&cid("rp-a"), &ev()).await.unwrap();
    assert_eq!(store.pending_logouts().await.unwrap(), 0);
}
