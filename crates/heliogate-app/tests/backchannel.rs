//! Back-channel logout delivery on a real store, the clock set: a relying party that cannot be
//! reached is tried again with back-off, each attempt recorded, and given up after the last
//! (both engines).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use heliogate_app::admin::{self, AddClient};
use heliogate_app::backchannel::{Deliverer, Outcome};
use heliogate_app::oauth::OAuthState;
use heliogate_app::oidc::ensure_keys;
use heliogate_app::{now, Actor, App, Clock};
use heliogate_core::backchannel::MAX_ATTEMPTS;
use heliogate_core::{RoleName, SecretHash, TokenKey, UserName};
use heliogate_store::{AuditFilter, NewAccessToken, NewSession, NewUser, Store};

heliogate_store::for_each_backend!(heliogate_store::testing::with_store;
    an_unreachable_relying_party_is_tried_with_back_off_then_given_up,
);

async fn an_unreachable_relying_party_is_tried_with_back_off_then_given_up(store: Arc<dyn Store>) {
    // Nothing listens on this port once the listener is gone: each call is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let actor = Actor::cli();
    let client = admin::add_client(
        &*store,
        &actor,
        AddClient {
            name: "rp".into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            scopes: vec!["read".into()],
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/logout")),
            ..AddClient::default()
        },
    )
    .await
    .unwrap();
    let start = now();
    let session = SecretHash::of("session");
    let event = heliogate_store::AuditEvent {
        at: start,
        event: "test".into(),
        actor: None,
        subject: None,
        client_addr: None,
        detail: serde_json::json!({}),
    };
    store
        .create_user(
            &NewUser {
                id: "u-1".into(),
                name: UserName::parse("bob").unwrap(),
                email: None,
                password_hash: "$argon2id$not-used-here".into(),
                roles: vec![RoleName::parse("reader").unwrap()],
                must_change_password: false,
                now: start,
            },
            &event,
        )
        .await
        .unwrap();
    store
        .create_session(
            &NewSession {
                id_hash: session,
                user_id: "u-1".into(),
                csrf_token: "csrf".into(),
                created_at: start,
                expires_at: start + 3600,
                client_addr: None,
                user_agent: None,
                amr: "pwd".into(),
            },
            &event,
        )
        .await
        .unwrap();
    let token = NewAccessToken {
        key: TokenKey::of("token"),
        client_id: client.client_id.clone(),
        user_id: Some("u-1".into()),
        scope: "openid read".into(),
        family_id: None,
        audience: None,
        created_at: start,
        expires_at: start + 60,
        jkt: None,
        subject_key: None,
        act: None,
        sid: Some(session.session_sid()),
    };
    store.issue_tokens(token, None, None).await.unwrap();
    store.delete_session(&session, &event).await.unwrap();

    ensure_keys(&*store, None).await.unwrap();
    let oauth = OAuthState::new("http://heliogate.test".into(), 3600, 86_400);
    let clock = Clock::fixed(start);
    let app = App::new(Arc::clone(&store), &oauth, 900).with_clock(clock.clone());
    let deliverer = Deliverer::new(app, oauth);
    let mut at = start;
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = deliverer.deliver_due().await.unwrap();
        assert_eq!(sent.len(), 1, "attempt {attempt}");
        let (delivery, outcome) = &sent[0];
        assert_eq!(delivery.attempts, attempt);
        match outcome {
            Outcome::Retry(next) if attempt < MAX_ATTEMPTS => {
                assert!(*next > at, "later each time");
                // Not due before its time.
                clock.set(next - 1);
                assert!(deliverer.deliver_due().await.unwrap().is_empty());
                at = *next;
                clock.set(at);
            }
            Outcome::GivenUp if attempt == MAX_ATTEMPTS => {}
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    assert!(deliverer.deliver_due().await.unwrap().is_empty());
    assert_eq!(store.pending_logouts().await.unwrap(), 0);
    let records = store
        .audit_records(&AuditFilter {
            event_prefix: Some("backchannel_logout.".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let named = |name: &str| records.iter().filter(|r| r.event.event == name).count();
    assert_eq!(named("backchannel_logout.failed") as i64, MAX_ATTEMPTS - 1);
    assert_eq!(named("backchannel_logout.abandoned"), 1);
}
