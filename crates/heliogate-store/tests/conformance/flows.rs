//! Device authorizations (RFC 8628), pushed requests (RFC 9126) and DPoP proofs (RFC 9449):
//! each answered or used once, and only while it lasts.

use heliogate_core::oauth::device::DeviceStatus;
use heliogate_core::{RoleName, ScopeSet, SecretHash, UserName};
use heliogate_store::{
    DeviceDecision, NewAccessToken, NewDeviceAuthorization, OneTimeGrant, Store, StoreError,
};

use super::{cid, ev, new_user, refresh, scope_set, service_client, session, token, NOW};
use heliogate_core::TokenKey;
use heliogate_store::TokenHolder;

heliogate_store::for_each_backend!(crate::on;
    a_device_authorization_is_answered_once_redeemed_once_and_expires,
    a_client_has_a_bounded_number_of_device_authorizations_waiting,
    device_codes_spent_together_are_each_spent_once,
    a_pushed_request_is_used_once_while_it_lasts,
    a_dpop_proof_is_accepted_once,
    expired_flows_are_purged,
    an_exchanged_token_ends_with_the_token_it_was_exchanged_from,
    ending_a_live_session_ends_its_tokens_but_offline_access,
);

fn device(code: &str, user_code: &str) -> NewDeviceAuthorization {
    NewDeviceAuthorization {
        device_code_hash: SecretHash::of(code),
        user_code_hash: SecretHash::of(user_code),
        client_id: "c-1".into(),
        scope: "read".into(),
        resources: None,
        interval: 5,
        created_at: NOW,
        expires_at: NOW + 600,
    }
}

/// u-1's approval of `granted`, from the sign-in sid-1.
fn approval(granted: &ScopeSet) -> DeviceDecision<'_> {
    DeviceDecision::Approve {
        user_id: "u-1",
        scope: granted,
        auth_time: NOW - 5,
        sid: "sid-1",
        amr: "pwd",
    }
}

async fn setup(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "bob", &["reader"]), &ev())
        .await
        .unwrap();
    store
        .create_client(&service_client("c-1", "svc"), &ev())
        .await
        .unwrap();
}

async fn a_device_authorization_is_answered_once_redeemed_once_and_expires(store: &dyn Store) {
    setup(store).await;
    assert!(store
        .create_device_authorization(&device("d-1", "BCDFGHJK"), 10)
        .await
        .unwrap());
    // The same user code cannot be handed out twice.
    assert!(matches!(
        store
            .create_device_authorization(&device("d-2", "BCDFGHJK"), 10)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let user_code = SecretHash::of("BCDFGHJK");
    let pending = store
        .pending_device_authorization(&user_code, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.status, DeviceStatus::Pending);
    assert_eq!(pending.client_name, "svc");
    // Polled while pending: no user yet.
    let (polled, holder) = store
        .device_poll(&SecretHash::of("d-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((polled.status, holder), (DeviceStatus::Pending, None));
    assert!(store
        .device_poll(&SecretHash::of("no such code"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .pending_device_authorization(&user_code, NOW + 600)
        .await
        .unwrap()
        .is_none());
    let granted = scope_set("read");
    let approve = approval(&granted);
    // Expired: no answer is taken.
    assert!(!store
        .decide_device_authorization(&user_code, &approve, NOW + 600, &ev())
        .await
        .unwrap());
    assert!(store
        .decide_device_authorization(&user_code, &approve, NOW, &ev())
        .await
        .unwrap());
    // Answered: neither a second approval nor a denial changes it.
    assert!(!store
        .decide_device_authorization(&user_code, &approve, NOW, &ev())
        .await
        .unwrap());
    assert!(!store
        .decide_device_authorization(&user_code, &DeviceDecision::Deny, NOW, &ev())
        .await
        .unwrap());
    let device_code = SecretHash::of("d-1");
    let approved = store
        .device_authorization(&device_code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.status, DeviceStatus::Approved);
    assert_eq!(approved.user_id.as_deref(), Some("u-1"));
    assert_eq!(approved.sid.as_deref(), Some("sid-1"));
    // A poll reads it with its user as they stand now, and what their roles hold: each role
    // once, each scope once.
    store
        .set_user_roles(
            &UserName::parse("bob").unwrap(),
            &[
                RoleName::parse("moderator").unwrap(),
                RoleName::parse("reader").unwrap(),
            ],
            NOW,
            &ev(),
        )
        .await
        .unwrap();
    let (polled, holder) = store.device_poll(&device_code).await.unwrap().unwrap();
    assert_eq!(polled, approved);
    let (bob, holds) = holder.unwrap();
    assert_eq!(bob.roles, ["moderator", "reader"]);
    assert_eq!(holds, scope_set("read write"));
    assert_eq!(
        Some((bob, holds)),
        store.user_with_scopes("u-1").await.unwrap()
    );
    store
        .record_device_poll(&device_code, NOW + 5, 10)
        .await
        .unwrap();
    // Redeemed by the issuance that writes its tokens; once.
    let issue = |secret: &str, family: &str, at: i64| {
        let access = NewAccessToken {
            family_id: Some(family.into()),
            created_at: at,
            ..token(secret, "c-1", Some("u-1"), NOW + 600)
        };
        store.issue_from(OneTimeGrant::DeviceCode(device_code), access, None, None)
    };
    assert!(issue("from-device", "fam-1", NOW + 6).await.unwrap());
    assert!(!issue("again", "fam-2", NOW + 7).await.unwrap());
    assert!(store
        .access_token(&TokenKey::of("from-device"))
        .await
        .unwrap()
        .is_some_and(|t| t.is_live(NOW + 6)));
    assert!(store
        .access_token(&TokenKey::of("again"))
        .await
        .unwrap()
        .is_none());
    let redeemed = store
        .device_authorization(&device_code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(redeemed.status, DeviceStatus::Redeemed);
    assert_eq!(redeemed.family_id.as_deref(), Some("fam-1"));
    assert_eq!(redeemed.poll_interval, 10);
    // A deleted client takes its device authorizations with it.
    store.delete_client(&cid("c-1"), &ev()).await.unwrap();
    assert!(store
        .device_authorization(&device_code)
        .await
        .unwrap()
        .is_none());
}

/// Polls that arrive together are written by one commit of the token writer: each device
/// code in it is spent once, by its first issuance, whose family it records.
async fn device_codes_spent_together_are_each_spent_once(store: &dyn Store) {
    setup(store).await;
    let granted = scope_set("read");
    let approve = approval(&granted);
    for (code, user_code) in [("d-1", "BBBBBBBB"), ("d-2", "CCCCCCCC")] {
        store
            .create_device_authorization(&device(code, user_code), 10)
            .await
            .unwrap();
        assert!(store
            .decide_device_authorization(&SecretHash::of(user_code), &approve, NOW, &ev())
            .await
            .unwrap());
    }
    let issue = |code: &'static str, secret: &'static str, family: &'static str| {
        let access = NewAccessToken {
            family_id: Some(family.into()),
            created_at: NOW + 6,
            ..token(secret, "c-1", Some("u-1"), NOW + 600)
        };
        store.issue_from(
            OneTimeGrant::DeviceCode(SecretHash::of(code)),
            access,
            None,
            None,
        )
    };
    let (one, again, two) = tokio::join!(
        issue("d-1", "one", "fam-1"),
        issue("d-1", "again", "fam-again"),
        issue("d-2", "two", "fam-2"),
    );
    let (one, again, two) = (one.unwrap(), again.unwrap(), two.unwrap());
    assert!(one != again, "exactly one use of d-1 wins: {one} {again}");
    assert!(two);
    let (won, lost, family) = if one {
        ("one", "again", "fam-1")
    } else {
        ("again", "one", "fam-again")
    };
    for (secret, written) in [(won, true), (lost, false), ("two", true)] {
        let found = store.access_token(&TokenKey::of(secret)).await.unwrap();
        assert_eq!(found.is_some(), written, "{secret}");
    }
    for (code, family) in [("d-1", family), ("d-2", "fam-2")] {
        let redeemed = store
            .device_authorization(&SecretHash::of(code))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(redeemed.status, DeviceStatus::Redeemed);
        assert_eq!(redeemed.family_id.as_deref(), Some(family));
        assert_eq!(redeemed.last_poll, Some(NOW + 6));
    }
    assert!(!issue("d-2", "late", "fam-late").await.unwrap());
}

async fn a_client_has_a_bounded_number_of_device_authorizations_waiting(store: &dyn Store) {
    setup(store).await;
    assert!(store
        .create_device_authorization(&device("d-1", "BBBBBBBB"), 2)
        .await
        .unwrap());
    assert!(store
        .create_device_authorization(&device("d-2", "CCCCCCCC"), 2)
        .await
        .unwrap());
    assert!(!store
        .create_device_authorization(&device("d-3", "DDDDDDDD"), 2)
        .await
        .unwrap());
    assert!(store
        .device_authorization(&SecretHash::of("d-3"))
        .await
        .unwrap()
        .is_none());
    // An answered one no longer waits.
    let denied = SecretHash::of("BBBBBBBB");
    store
        .decide_device_authorization(&denied, &DeviceDecision::Deny, NOW, &ev())
        .await
        .unwrap();
    assert!(store
        .create_device_authorization(&device("d-3", "DDDDDDDD"), 2)
        .await
        .unwrap());
}

async fn a_pushed_request_is_used_once_while_it_lasts(store: &dyn Store) {
    setup(store).await;
    let hash = SecretHash::of("urn:ietf:params:oauth:request_uri:r-1");
    store
        .push_request(
            &hash,
            &cid("c-1"),
            "client_id=c-1&scope=read",
            NOW,
            NOW + 60,
        )
        .await
        .unwrap();
    let pushed = store
        .pushed_request(&hash, NOW + 59)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pushed.client_id, "c-1");
    assert_eq!(pushed.params, "client_id=c-1&scope=read");
    assert_eq!(pushed.created_at, NOW);
    assert_eq!(pushed.stale_sid, None);
    store
        .mark_pushed_sign_in_stale(&hash, "sid-1")
        .await
        .unwrap();
    let marked = store.pushed_request(&hash, NOW).await.unwrap().unwrap();
    assert_eq!(marked.stale_sid.as_deref(), Some("sid-1"));
    assert!(store
        .pushed_request(&hash, NOW + 60)
        .await
        .unwrap()
        .is_none());
    assert!(!store.use_pushed_request(&hash, NOW + 60).await.unwrap());
    assert!(store.use_pushed_request(&hash, NOW + 1).await.unwrap());
    assert!(!store.use_pushed_request(&hash, NOW + 2).await.unwrap());
    assert!(store
        .pushed_request(&hash, NOW + 2)
        .await
        .unwrap()
        .is_none());
    let unknown = SecretHash::of("urn:ietf:params:oauth:request_uri:r-2");
    assert!(!store.use_pushed_request(&unknown, NOW).await.unwrap());
}

async fn a_dpop_proof_is_accepted_once(store: &dyn Store) {
    let proof = SecretHash::of("jkt.jti-1");
    assert!(store.use_proof(&proof, NOW + 360).await.unwrap());
    assert!(!store.use_proof(&proof, NOW + 360).await.unwrap());
    assert!(store
        .use_proof(&SecretHash::of("jkt.jti-2"), NOW + 360)
        .await
        .unwrap());
    // Of two uses at once (one batch of the proof writer, or two), one is the first.
    let twice = SecretHash::of("jkt.jti-3");
    let (a, b) = tokio::join!(
        store.use_proof(&twice, NOW + 360),
        store.use_proof(&twice, NOW + 360)
    );
    assert!(a.unwrap() ^ b.unwrap());
}

async fn expired_flows_are_purged(store: &dyn Store) {
    setup(store).await;
    store
        .create_device_authorization(&device("d-1", "BCDFGHJK"), 10)
        .await
        .unwrap();
    let request = SecretHash::of("urn:ietf:params:oauth:request_uri:r-1");
    store
        .push_request(&request, &cid("c-1"), "client_id=c-1", NOW, NOW + 60)
        .await
        .unwrap();
    store
        .use_proof(&SecretHash::of("jkt.jti"), NOW + 360)
        .await
        .unwrap();
    assert_eq!(store.purge_expired(NOW + 59).await.unwrap(), 0);
    assert_eq!(store.purge_expired(NOW + 600).await.unwrap(), 3);
    assert!(store
        .device_authorization(&SecretHash::of("d-1"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .use_proof(&SecretHash::of("jkt.jti"), NOW + 960)
        .await
        .unwrap());
}

/// RFC 8693: a token issued by exchange names its subject token's key, and ends when it ends:
/// revoked (with a feed entry for both), or deleted with its user.
async fn an_exchanged_token_ends_with_the_token_it_was_exchanged_from(store: &dyn Store) {
    setup(store).await;
    let exchanged = |secret: &str| {
        let mut t = token(secret, "c-1", Some("u-1"), NOW + 60);
        t.subject_key = Some(TokenKey::of("subject"));
        t.act = Some(r#"{"sub":"c-1"}"#.into());
        t
    };
    store
        .issue_tokens(token("subject", "c-1", Some("u-1"), NOW + 60), None, None)
        .await
        .unwrap();
    store
        .issue_tokens(exchanged("downstream"), None, None)
        .await
        .unwrap();
    store
        .issue_tokens(token("other", "c-1", Some("u-1"), NOW + 60), None, None)
        .await
        .unwrap();
    let read = store
        .access_token(&TokenKey::of("downstream"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.act.as_deref(), Some(r#"{"sub":"c-1"}"#));
    assert_eq!(
        read.subject_key.as_deref(),
        Some(TokenKey::of("subject").as_bytes())
    );
    store
        .revoke_token(
            &TokenKey::of("subject"),
            TokenHolder::Client(&cid("c-1")),
            NOW,
            &ev(),
        )
        .await
        .unwrap();
    let ended = store
        .access_token(&TokenKey::of("downstream"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.revoked_at, Some(NOW));
    assert!(store
        .access_token(&TokenKey::of("other"))
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
    assert_eq!(
        store.revoked_after(0, NOW, 100).await.unwrap().len(),
        2,
        "both in the feed"
    );

    store
        .issue_tokens(token("subject-2", "c-1", Some("u-1"), NOW + 60), None, None)
        .await
        .unwrap();
    let mut second = exchanged("downstream-2");
    second.subject_key = Some(TokenKey::of("subject-2"));
    store.issue_tokens(second, None, None).await.unwrap();
    // Deleted with the subject's client: the exchanged one goes too.
    store.delete_client(&cid("c-1"), &ev()).await.unwrap();
    assert!(store
        .access_token(&TokenKey::of("downstream-2"))
        .await
        .unwrap()
        .is_none());
}

/// A session ended while live ends the access tokens issued through it and its refresh tokens
/// but those with `offline_access`; one purged after its end ends nothing.
async fn ending_a_live_session_ends_its_tokens_but_offline_access(store: &dyn Store) {
    setup(store).await;
    let through = |secret: &str, id: &str| {
        let mut t = token(secret, "c-1", Some("u-1"), NOW + 60);
        t.sid = Some(SecretHash::of(id).session_sid());
        t
    };
    let refresh_through = |secret: &str, id: &str, scope: &str| {
        let mut r = refresh(secret, secret);
        r.sid = Some(SecretHash::of(id).session_sid());
        r.scope = scope.into();
        r
    };
    store
        .create_session(&session("live", "u-1", NOW + 3600), &ev())
        .await
        .unwrap();
    store
        .create_session(&session("old", "u-1", 1_000), &ev())
        .await
        .unwrap();
    store
        .issue_tokens(
            through("a-live", "live"),
            Some(refresh_through("r-live", "live", "read")),
            None,
        )
        .await
        .unwrap();
    store
        .issue_tokens(
            through("a-offline", "live"),
            Some(refresh_through("r-offline", "live", "offline_access read")),
            None,
        )
        .await
        .unwrap();
    store
        .issue_tokens(through("a-old", "old"), None, None)
        .await
        .unwrap();
    store
        .delete_session(&SecretHash::of("live"), &ev())
        .await
        .unwrap();
    let revoked = |key: &str| {
        let key = TokenKey::of(key);
        async move {
            store
                .access_token(&key)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        }
    };
    assert!(revoked("a-live").await);
    assert!(revoked("a-offline").await);
    let refresh_revoked = |key: &str| {
        let key = TokenKey::of(key);
        async move {
            store
                .refresh_token(&key)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        }
    };
    assert!(refresh_revoked("r-live").await);
    assert!(
        !refresh_revoked("r-offline").await,
        "offline_access lives on"
    );
    // Expired long ago: the purge deletes it, and its tokens stay as they were.
    store.purge_expired(NOW).await.unwrap();
    assert!(!revoked("a-old").await);
}
