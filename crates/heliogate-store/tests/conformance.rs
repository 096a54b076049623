//! One suite for every backend: each test runs against `&dyn Store` on SQLite and on
//! PostgreSQL, each on a fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heliogate_core::{
    Attempt, ClientId, ClientKind, ClientSpec, Email, GrantType, RedirectUri, RoleName, Scope,
    ScopeSet, SecretHash, ThrottlePolicy, TokenKey, UserName, CHECK_HOLD,
};
use heliogate_store::testing::{Backend, TestDatabase};
use heliogate_store::{
    AuditEvent, AuditFilter, AuditRecord, ClientSettings, NewAccessToken, NewClient, NewCode,
    NewRefreshToken, NewSession, NewUser, OneTimeGrant, Redemption, Revocation, Store, StoreError,
    StoredPasskey, TokenHolder, Upstream, UpstreamIdentity, UpstreamSignIn, User, UserChangeSet,
};

const NOW: i64 = 1_800_000_000;

fn new_user(id: &str, name: &str, roles: &[&str]) -> NewUser {
    NewUser {
        id: id.into(),
        name: UserName::parse(name).unwrap(),
        email: None,
        password_hash: format!("$argon2id$fake-for-{name}"),
        roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
        must_change_password: false,
        now: NOW,
    }
}

fn name(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

fn role(s: &str) -> RoleName {
    RoleName::parse(s).unwrap()
}

/// The audit record a change takes, written in the change's transaction.
fn ev() -> AuditEvent {
    AuditEvent {
        at: NOW,
        event: "test.change".into(),
        actor: Some("conformance".into()),
        subject: None,
        client_addr: None,
        detail: serde_json::json!({}),
    }
}

fn named(event: &str) -> AuditEvent {
    AuditEvent {
        event: event.into(),
        ..ev()
    }
}

fn cid(s: &str) -> ClientId {
    ClientId::parse(s).unwrap()
}

fn scope_set(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

fn scopes(list: &[&str]) -> Vec<Scope> {
    list.iter().map(|s| Scope::parse(s).unwrap()).collect()
}

/// A client's settings: `spec`, and every other at its default.
fn settings(spec: ClientSpec) -> ClientSettings {
    ClientSettings {
        spec,
        introspect: false,
        trusted: false,
        pkce_optional: false,
        post_logout_redirect_uris: Vec::new(),
        signing_alg: Default::default(),
        access_token_format: Default::default(),
        resources: vec![],
        require_par: false,
        require_dpop: false,
        backchannel_logout_uri: None,
    }
}

fn service_client(id: &str, display_name: &str) -> NewClient {
    NewClient {
        client_id: cid(id),
        secret_hash: Some(SecretHash::of("s3cret")),
        settings: settings(
            ClientSpec::new(
                display_name,
                ClientKind::Confidential,
                vec![],
                vec![],
                scopes(&["read"]),
            )
            .unwrap(),
        ),
        owner: None,
        now: NOW,
    }
}

fn token(secret: &str, client_id: &str, user_id: Option<&str>, expires_at: i64) -> NewAccessToken {
    NewAccessToken {
        key: TokenKey::of(secret),
        client_id: client_id.into(),
        user_id: user_id.map(str::to_owned),
        scope: "read".into(),
        family_id: None,
        audience: None,
        created_at: NOW,
        expires_at,
        jkt: None,
        subject_key: None,
        act: None,
        sid: None,
    }
}

/// Hands `test` a migrated store on a fresh database of `backend`, and closes it after.
async fn on(backend: Backend, test: impl AsyncFnOnce(&dyn Store)) {
    let db = TestDatabase::new(backend).await;
    let store = db.store().await;
    test(&*store).await;
    store.close().await;
}

#[path = "conformance/flows.rs"]
mod flows;
#[path = "conformance/logouts.rs"]
mod logouts;

heliogate_store::for_each_backend!(crate::on;
    the_original_roles_are_seeded,
    a_user_keeps_their_fields_and_roles,
    users_are_paged_by_name_and_prefix,
    a_duplicate_user_name_is_a_conflict,
    an_unknown_role_creates_no_user,
    the_last_administrator_cannot_be_removed,
    a_user_is_changed_at_once_only_as_read,
    a_role_is_changed_at_once_only_as_read,
    a_held_role_cannot_be_deleted,
    hostile_text_is_stored_verbatim,
    clients_round_trip_and_rotate_secrets,
    a_damaged_scope_is_an_error_not_an_empty_scope,
    deleting_a_client_deletes_its_tokens,
    tokens_are_found_by_their_key_in_both_forms,
    a_refused_issuance_fails_alone,
    tokens_are_revoked_by_user_and_by_client,
    purging_removes_only_expired_tokens,
    a_purge_of_many_chunks_removes_every_expired_token,
    the_bootstrap_admin_is_created_once,
    no_bootstrap_admin_once_users_exist,
    audit_events_come_back_newest_first,
    audit_records_are_filtered_and_paged_newest_first,
    migrating_twice_changes_nothing,
    an_instance_value_is_recorded_once_by_the_first_node,
    a_session_lives_until_it_expires_or_its_user_is_disabled,
    other_sessions_end_and_the_kept_one_stays,
    a_user_s_sessions_are_listed_and_ended_only_by_their_owner,
    clients_are_paged_by_name_and_owner,
    personal_tokens_are_kept_listed_and_marked_used,
    scope_descriptions_are_seeded_written_and_forgotten,
    an_imported_disabled_client_is_enabled_once,
    login_failures_count_within_a_window_and_lock,
    parallel_attempts_check_at_most_the_threshold,
    a_code_is_spent_once_and_a_replay_revokes_its_tokens,
    a_code_is_spent_with_its_tokens_and_only_once,
    old_audit_records_and_idle_sign_in_counters_are_purged,
    losing_a_role_or_the_password_revokes_what_they_gave,
    a_refresh_token_rotates_once_and_a_replay_revokes_its_family,
    only_the_owning_client_revokes_a_token,
    a_holder_s_live_tokens_are_listed_by_key_and_revoked_one_by_one,
    second_factors_are_enrolled_used_once_and_reset,
    passkeys_and_their_ceremonies_are_kept,
    consents_are_kept_listed_and_withdrawn,
    disabling_a_user_revokes_their_tokens,
    the_revocation_feed_names_every_ended_token_in_commit_order,
    a_value_the_database_refuses_is_invalid_not_an_outage,
    a_row_that_refers_to_nothing_is_a_conflict,
    a_change_and_its_audit_record_commit_together,
    upstream_identities_link_once_and_follow_their_upstream,
);

async fn the_original_roles_are_seeded(store: &dyn Store) {
    let roles: Vec<(String, Vec<String>)> = store
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.name.to_string(), r.scopes.to_vec()))
        .collect();
    let expect = |n: &str, s: &[&str]| {
        (
            n.to_owned(),
            s.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        roles,
        vec![
            expect("administrator", &["admin", "execute", "read", "write"]),
            expect("moderator", &["read", "write"]),
            expect("reader", &["read"]),
            expect("writer", &["write"]),
        ]
    );
    assert_eq!(
        store.role_scopes().await.unwrap().to_vec(),
        ["admin", "execute", "read", "write"]
    );
    // A role without a scope is read as one, beside the others.
    let guest = store
        .create_role(&role("guest"), &[], NOW, &ev())
        .await
        .unwrap();
    assert_eq!(
        (guest.name.to_string(), guest.scopes.to_vec().len()),
        ("guest".to_owned(), 0)
    );
    let listed: Vec<(String, usize)> = store
        .list_roles()
        .await
        .unwrap()
        .iter()
        .map(|r| (r.name.to_string(), r.scopes.to_vec().len()))
        .collect();
    let count = |n: &str, c| (n.to_owned(), c);
    assert_eq!(
        listed,
        [
            count("administrator", 4),
            count("guest", 0),
            count("moderator", 2),
            count("reader", 1),
            count("writer", 1)
        ]
    );
}

async fn users_are_paged_by_name_and_prefix(store: &dyn Store) {
    for (i, (user, roles)) in [
        ("ann", &["reader"][..]),
        ("anna", &["reader", "writer"]),
        ("bob", &["writer"]),
        ("annex", &["moderator"]),
    ]
    .iter()
    .enumerate()
    {
        store
            .create_user(&new_user(&format!("u-{i}"), user, roles), &ev())
            .await
            .unwrap();
    }
    let names = |users: Vec<User>| {
        users
            .into_iter()
            .map(|u| (u.name, u.roles.join(" ")))
            .collect::<Vec<_>>()
    };
    let first = store.users_page(Some("ann"), None, 2).await.unwrap();
    assert_eq!(
        names(first),
        [
            ("ann".into(), "reader".into()),
            ("anna".into(), "reader writer".into())
        ]
    );
    // An email set, then cleared.
    let email = heliogate_core::Email::parse("ann@example.org").unwrap();
    store
        .set_email(&name("ann"), Some(&email), NOW + 1, &ev())
        .await
        .unwrap();
    let ann = store.user_by_name(&name("ann")).await.unwrap().unwrap();
    assert_eq!(
        (ann.email.as_deref(), ann.updated_at),
        (Some("ann@example.org"), NOW + 1)
    );
    store
        .set_email(&name("ann"), None, NOW + 2, &ev())
        .await
        .unwrap();
    assert!(store
        .user_by_name(&name("ann"))
        .await
        .unwrap()
        .unwrap()
        .email
        .is_none());
    let rest = store
        .users_page(Some("ann"), Some("anna"), 2)
        .await
        .unwrap();
    assert_eq!(names(rest), [("annex".into(), "moderator".into())]);
    assert_eq!(
        store
            .users_page(None, Some("annex"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .users_page(Some("%"), None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn a_user_keeps_their_fields_and_roles(store: &dyn Store) {
    let mut alice = new_user("u-1", "alice", &["reader", "writer"]);
    alice.email = Some(Email::parse("alice@example.org").unwrap());
    let created = store.create_user(&alice, &ev()).await.unwrap();
    assert_eq!(created.roles, ["reader", "writer"]);
    assert_eq!(created.email.as_deref(), Some("alice@example.org"));
    assert_eq!(
        store.user_by_id("u-1").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store.user_by_name(&name("alice")).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.user_by_name(&name("Alice")).await.unwrap(), None);
    // Each role once, whichever way the user is read; a user without a role is still found.
    let creds = store.credentials(&name("alice")).await.unwrap().unwrap();
    assert_eq!(
        (&creds.user, creds.password_hash.as_str()),
        (&created, "$argon2id$fake-for-alice")
    );
    let dave = store
        .create_user(&new_user("u-2", "dave", &[]), &ev())
        .await
        .unwrap();
    assert!(dave.roles.is_empty());
    assert_eq!(store.user_by_id("u-2").await.unwrap(), Some(dave.clone()));
    let creds = store.credentials(&name("dave")).await.unwrap().unwrap();
    assert_eq!(
        (&creds.user, creds.password_hash.as_str()),
        (&dave, "$argon2id$fake-for-dave")
    );
    assert!(store.credentials(&name("nobody")).await.unwrap().is_none());
    // With the scopes their roles hold: each role once, though it holds several scopes, and
    // each scope once, though several roles hold it; a role that holds none adds none.
    store
        .create_role(&role("guest"), &[], NOW, &ev())
        .await
        .unwrap();
    store
        .create_user(
            &new_user("u-3", "erin", &["moderator", "reader", "guest"]),
            &ev(),
        )
        .await
        .unwrap();
    let (erin, held) = store.user_with_scopes("u-3").await.unwrap().unwrap();
    assert_eq!(Some(erin.clone()), store.user_by_id("u-3").await.unwrap());
    assert_eq!(erin.roles, ["guest", "moderator", "reader"]);
    assert_eq!(held, scope_set("read write"));
    assert_eq!(
        store.user_with_scopes("u-1").await.unwrap(),
        Some((created.clone(), scope_set("read write")))
    );
    assert_eq!(
        store.user_with_scopes("u-2").await.unwrap(),
        Some((dave.clone(), ScopeSet::default()))
    );
    assert_eq!(store.user_with_scopes("u-9").await.unwrap(), None);

    store
        .set_user_roles(&name("alice"), &[role("moderator")], NOW + 1, &ev())
        .await
        .unwrap();
    store
        .set_password_hash(&name("alice"), "$argon2id$new", NOW + 2, None, &ev())
        .await
        .unwrap();
    store
        .set_disabled(&name("alice"), true, NOW + 3, &ev())
        .await
        .unwrap();
    let alice = store.user_by_name(&name("alice")).await.unwrap().unwrap();
    assert_eq!(
        (alice.roles.as_slice(), alice.disabled, alice.updated_at),
        (&["moderator".to_owned()][..], true, NOW + 3)
    );
    let creds = store.credentials(&name("alice")).await.unwrap().unwrap();
    assert_eq!(
        (creds.password_hash.as_str(), creds.user.disabled),
        ("$argon2id$new", true)
    );

    store.delete_user(&name("alice"), &ev()).await.unwrap();
    assert!(store.user_by_name(&name("alice")).await.unwrap().is_none());
    assert!(store.user_with_scopes("u-1").await.unwrap().is_none());
    assert!(matches!(
        store.delete_user(&name("alice"), &ev()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_disabled(&name("nobody"), true, NOW, &ev()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_duplicate_user_name_is_a_conflict(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "bob", &["reader"]), &ev())
        .await
        .unwrap();
    let again = store
        .create_user(&new_user("u-2", "bob", &["writer"]), &ev())
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].roles, ["reader"]);
}

async fn an_unknown_role_creates_no_user(store: &dyn Store) {
    let result = store
        .create_user(&new_user("u-1", "carol", &["reader", "ghost"]), &ev())
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    assert!(store.list_users().await.unwrap().is_empty());
    store
        .create_user(&new_user("u-2", "dave", &["reader"]), &ev())
        .await
        .unwrap();
    let result = store
        .set_user_roles(&name("dave"), &[role("writer"), role("ghost")], NOW, &ev())
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))));
    assert_eq!(
        store
            .user_by_name(&name("dave"))
            .await
            .unwrap()
            .unwrap()
            .roles,
        ["reader"]
    );
}

async fn the_last_administrator_cannot_be_removed(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "root", &["administrator"]), &ev())
        .await
        .unwrap();
    store
        .create_user(&new_user("u-2", "ops", &["administrator"]), &ev())
        .await
        .unwrap();
    store.delete_user(&name("ops"), &ev()).await.unwrap();
    let conflict =
        |r: Result<(), StoreError>| assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    conflict(store.delete_user(&name("root"), &ev()).await);
    conflict(store.set_disabled(&name("root"), true, NOW, &ev()).await);
    conflict(
        store
            .set_user_roles(&name("root"), &[role("reader")], NOW, &ev())
            .await,
    );
    conflict(
        store
            .set_role_scopes(&role("administrator"), &scopes(&["read"]), &ev())
            .await
            .map(|_| ()),
    );
    let root = store.user_by_name(&name("root")).await.unwrap().unwrap();
    assert_eq!(
        (root.disabled, root.roles.as_slice()),
        (false, &["administrator".to_owned()][..])
    );
    // Another role granting `admin` makes a second administrator; then either may go.
    store
        .create_role(&role("ops"), &scopes(&["admin"]), NOW, &ev())
        .await
        .unwrap();
    store
        .create_user(&new_user("u-3", "second", &["ops"]), &ev())
        .await
        .unwrap();
    store
        .set_user_roles(&name("root"), &[role("reader")], NOW, &ev())
        .await
        .unwrap();
}

async fn a_held_role_cannot_be_deleted(store: &dyn Store) {
    store
        .create_role(&role("auditor"), &scopes(&["read", "audit"]), NOW, &ev())
        .await
        .unwrap();
    assert!(matches!(
        store.create_role(&role("auditor"), &[], NOW, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .create_user(&new_user("u-1", "eve", &["auditor"]), &ev())
        .await
        .unwrap();
    assert!(matches!(
        store.delete_role(&role("auditor"), &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.role_scopes().await.unwrap().contains("audit"));
    store
        .set_user_roles(&name("eve"), &[role("reader")], NOW, &ev())
        .await
        .unwrap();
    store.delete_role(&role("auditor"), &ev()).await.unwrap();
    assert!(matches!(
        store.delete_role(&role("auditor"), &ev()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.role_scopes().await.unwrap().contains("audit"));
}

async fn hostile_text_is_stored_verbatim(store: &dyn Store) {
    let hostile = "bob\"e\"i'o;aü); DROP TABLE users; --";
    let mut user = new_user("u-1", "mallory", &["reader"]);
    user.email = Some(Email::parse("o'brien'--@example.org").unwrap());
    store.create_user(&user, &ev()).await.unwrap();
    store
        .create_client(&service_client("c-1", hostile), &ev())
        .await
        .unwrap();
    assert_eq!(
        store.client(&cid("c-1")).await.unwrap().unwrap().name,
        hostile
    );
    assert_eq!(
        store
            .user_by_name(&name("mallory"))
            .await
            .unwrap()
            .unwrap()
            .email
            .as_deref(),
        Some("o'brien'--@example.org")
    );
    assert!(store.client(&cid("'OR'1'='1")).await.unwrap().is_none());
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

async fn clients_round_trip_and_rotate_secrets(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "owner", &["reader"]), &ev())
        .await
        .unwrap();
    let spec = ClientSpec::new(
        "Notebook",
        ClientKind::Public,
        vec![
            RedirectUri::parse("http://127.0.0.1/cb").unwrap(),
            RedirectUri::parse("https://nb.example/cb").unwrap(),
        ],
        vec![GrantType::AuthorizationCode],
        scopes(&["read", "openid"]),
    )
    .unwrap();
    let new = NewClient {
        client_id: cid("c-pub"),
        secret_hash: None,
        settings: ClientSettings {
            introspect: true,
            trusted: true,
            resources: vec![
                heliogate_core::oauth::Resource::parse("https://api.example/").unwrap(),
            ],
            ..settings(spec)
        },
        owner: Some(name("owner")),
        now: NOW,
    };
    let client = store.create_client(&new, &ev()).await.unwrap();
    assert_eq!(client.owner.as_deref(), Some("owner"));
    assert!(client.is_public() && client.secret_hash.is_none());
    assert!(client.introspect && client.trusted);
    assert_eq!(client.resources[0].as_str(), "https://api.example/");
    assert_eq!(
        client.redirect_uris,
        [
            RedirectUri::parse("http://127.0.0.1/cb").unwrap(),
            RedirectUri::parse("https://nb.example/cb").unwrap()
        ]
    );
    assert_eq!(client.grant_types, [GrantType::AuthorizationCode]);
    assert_eq!(client.scopes.to_vec(), ["openid", "read"]);
    assert!(matches!(
        store.create_client(&new, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    let orphan = NewClient {
        owner: Some(name("ghost")),
        client_id: cid("c-2"),
        ..new
    };
    assert!(matches!(
        store.create_client(&orphan, &ev()).await,
        Err(StoreError::NotFound(_))
    ));

    store
        .create_client(&service_client("c-svc", "svc"), &ev())
        .await
        .unwrap();
    assert!(store
        .client(&cid("c-svc"))
        .await
        .unwrap()
        .unwrap()
        .secret_hash
        .unwrap()
        .matches("s3cret"));
    store
        .set_client_secret(&cid("c-svc"), &SecretHash::of("rotated"), NOW + 5, &ev())
        .await
        .unwrap();
    let rotated = store.client(&cid("c-svc")).await.unwrap().unwrap();
    assert!(
        rotated.secret_hash.unwrap().matches("rotated")
            && !rotated.secret_hash.unwrap().matches("s3cret")
    );
    assert!(matches!(
        store
            .set_client_secret(&cid("c-pub"), &SecretHash::of("x"), NOW, &ev())
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_clients().await.unwrap().len(), 2);

    // A change lands only on the client as it was read, and moves `updated_at` on even
    // within the same second, so that a second change made from the same read is refused.
    let read = store.client(&cid("c-svc")).await.unwrap().unwrap();
    let renamed = settings(
        ClientSpec::new(
            "renamed",
            ClientKind::Confidential,
            vec![],
            vec![],
            scopes(&["write"]),
        )
        .unwrap(),
    );
    let now = read.updated_at;
    assert!(store
        .update_client(&read.client_id, &renamed, read.updated_at, now, &ev())
        .await
        .unwrap());
    let changed = store.client(&cid("c-svc")).await.unwrap().unwrap();
    assert_eq!(changed.name, "renamed");
    assert_eq!(changed.scopes.to_vec(), ["write"]);
    assert_eq!(changed.updated_at, read.updated_at + 1);
    assert!(changed.secret_hash.unwrap().matches("rotated"));
    assert!(!store
        .update_client(&read.client_id, &renamed, read.updated_at, now, &ev())
        .await
        .unwrap());
    assert!(!store
        .update_client(&cid("c-none"), &renamed, now, now, &ev())
        .await
        .unwrap());
    // An owner's applications go with them.
    store.delete_user(&name("owner"), &ev()).await.unwrap();
    assert_eq!(store.client(&cid("c-pub")).await.unwrap(), None);
}

/// A stored scope is decoded once, where the row is read: one that no longer parses is a
/// damaged row and an internal error, never a token with no scopes.
async fn a_damaged_scope_is_an_error_not_an_empty_scope(store: &dyn Store) {
    store
        .create_client(&service_client("c-1", "svc"), &ev())
        .await
        .unwrap();
    let mut damaged = token("t1", "c-1", None, NOW + 60);
    damaged.scope = "read  write".into();
    store.issue_tokens(damaged, None, None).await.unwrap();
    assert!(matches!(
        store.access_token(&TokenKey::of("t1")).await,
        Err(StoreError::Internal(_))
    ));
}

async fn deleting_a_client_deletes_its_tokens(store: &dyn Store) {
    store
        .create_client(&service_client("c-1", "svc"), &ev())
        .await
        .unwrap();
    store
        .issue_tokens(token("t1", "c-1", None, NOW + 60), None, None)
        .await
        .unwrap();
    store.delete_client(&cid("c-1"), &ev()).await.unwrap();
    assert!(store
        .access_token(&TokenKey::of("t1"))
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.delete_client(&cid("c-1"), &ev()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn tokens_are_found_by_their_key_in_both_forms(store: &dyn Store) {
    store
        .create_client(&service_client("c-1", "svc"), &ev())
        .await
        .unwrap();
    let current = heliogate_core::encode_token(1_800_000_000_000, [9; 42]);
    let earlier = heliogate_core::encode_secret([9; 32]);
    for secret in [&current, &earlier] {
        store
            .issue_tokens(token(secret, "c-1", None, NOW + 60), None, None)
            .await
            .unwrap();
        assert!(is_live(store, secret).await);
    }
    // The same public id with another secret is another key: not found.
    let mut forged = current.clone();
    forged.replace_range(40.., &"B".repeat(24));
    assert!(store
        .access_token(&TokenKey::of(&forged))
        .await
        .unwrap()
        .is_none());
    // An audience (RFC 8707) comes back as written.
    let aimed = NewAccessToken {
        audience: Some("https://api.example/ urn:x".into()),
        ..token("aimed", "c-1", None, NOW + 60)
    };
    store.issue_tokens(aimed, None, None).await.unwrap();
    let found = store.access_token(&TokenKey::of("aimed")).await.unwrap();
    let audience = found.unwrap().audience.0;
    assert_eq!(
        heliogate_core::oauth::resource::join(&audience),
        "https://api.example/ urn:x"
    );
}

/// Issuances waiting together are written in one transaction; one the database refuses must
/// not take the others with it.
async fn a_refused_issuance_fails_alone(store: &dyn Store) {
    store
        .create_client(&service_client("c-1", "svc"), &ev())
        .await
        .unwrap();
    let (first, last) = (
        token("t-a", "c-1", None, NOW + 60),
        token("t-c", "c-1", None, NOW + 60),
    );
    let refused = token("t-refused", "no-such-client", None, NOW + 60);
    let (a, b, c) = tokio::join!(
        store.issue_tokens(first, None, None),
        store.issue_tokens(refused, None, None),
        store.issue_tokens(last, None, None),
    );
    assert!(a.is_ok() && c.is_ok(), "{a:?} {c:?}");
    assert!(matches!(b, Err(StoreError::Conflict(_))), "{b:?}");
    assert!(is_live(store, "t-a").await && is_live(store, "t-c").await);
    assert!(store
        .access_token(&TokenKey::of("t-refused"))
        .await
        .unwrap()
        .is_none());
}

async fn tokens_are_revoked_by_user_and_by_client(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "frank", &["reader"]), &ev())
        .await
        .unwrap();
    store
        .create_client(&service_client("c-1", "one"), &ev())
        .await
        .unwrap();
    store
        .create_client(&service_client("c-2", "two"), &ev())
        .await
        .unwrap();
    store
        .issue_tokens(token("a", "c-1", Some("u-1"), NOW + 60), None, None)
        .await
        .unwrap();
    store
        .issue_tokens(token("b", "c-2", Some("u-1"), NOW + 60), None, None)
        .await
        .unwrap();
    store
        .issue_tokens(token("c", "c-2", None, NOW + 60), None, None)
        .await
        .unwrap();
    let live = |t: Option<heliogate_store::AccessToken>| t.unwrap().is_live(NOW);
    assert!(live(store.access_token(&TokenKey::of("a")).await.unwrap()));
    assert_eq!(
        store.revoke_user_tokens("u-1", NOW, &ev()).await.unwrap(),
        2
    );
    assert!(!live(store.access_token(&TokenKey::of("a")).await.unwrap()));
    assert!(live(store.access_token(&TokenKey::of("c")).await.unwrap()));
    assert_eq!(
        store
            .revoke_client_tokens(&cid("c-2"), NOW, &ev())
            .await
            .unwrap(),
        1
    );
    assert!(!live(store.access_token(&TokenKey::of("c")).await.unwrap()));
    assert_eq!(
        store.revoke_user_tokens("u-1", NOW, &ev()).await.unwrap(),
        0
    );
}

async fn purging_removes_only_expired_tokens(store: &dyn Store) {
    store
        .create_client(&service_client("c-1", "svc"), &ev())
        .await
        .unwrap();
    store
        .issue_tokens(token("old", "c-1", None, NOW - 1), None, None)
        .await
        .unwrap();
    store
        .issue_tokens(token("new", "c-1", None, NOW + 60), None, None)
        .await
        .unwrap();
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 1);
    assert!(store
        .access_token(&TokenKey::of("old"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .access_token(&TokenKey::of("new"))
        .await
        .unwrap()
        .is_some());
}

/// More expired tokens than one purge transaction deletes, among live ones.
async fn a_purge_of_many_chunks_removes_every_expired_token(store: &dyn Store) {
    store
        .create_client(&service_client("c-1", "svc"), &ev())
        .await
        .unwrap();
    let expires = |i: usize| [NOW + 60, NOW - 1, NOW - 1][i % 3];
    let issued =
        futures_util::future::join_all((0..12_000).map(|i| {
            store.issue_tokens(token(&format!("t{i}"), "c-1", None, expires(i)), None, None)
        }))
        .await;
    assert!(issued.iter().all(Result::is_ok));
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 8_000);
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 0);
    for i in [0, 1, 2, 5_999, 6_000, 11_998, 11_999] {
        let found = store
            .access_token(&TokenKey::of(&format!("t{i}")))
            .await
            .unwrap();
        assert_eq!(found.is_some(), expires(i) > NOW, "token {i}");
    }
}

async fn the_bootstrap_admin_is_created_once(store: &dyn Store) {
    assert!(store
        .bootstrap_admin(&new_user("u-1", "admin", &["administrator"]), &ev())
        .await
        .unwrap());
    assert!(!store
        .bootstrap_admin(&new_user("u-2", "admin2", &["administrator"]), &ev())
        .await
        .unwrap());
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

async fn no_bootstrap_admin_once_users_exist(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "early", &["reader"]), &ev())
        .await
        .unwrap();
    assert!(!store
        .bootstrap_admin(&new_user("u-2", "admin", &["administrator"]), &ev())
        .await
        .unwrap());
    // Once decided, never again: not even when the database has no users later.
    store.delete_user(&name("early"), &ev()).await.unwrap();
    assert!(!store
        .bootstrap_admin(&new_user("u-3", "admin", &["administrator"]), &ev())
        .await
        .unwrap());
    assert!(store.list_users().await.unwrap().is_empty());
}

async fn audit_events_come_back_newest_first(store: &dyn Store) {
    for (i, event) in ["user.created", "login.failed"].iter().enumerate() {
        store
            .record(&AuditEvent {
                at: NOW + i as i64,
                event: (*event).into(),
                actor: Some("cli".into()),
                subject: Some("alice".into()),
                client_addr: Some("127.0.0.1".into()),
                detail: serde_json::json!({"roles": ["reader"]}),
            })
            .await
            .unwrap();
    }
    let events = store.recent_events(10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["login.failed", "user.created"]
    );
    assert_eq!(events[1].detail, serde_json::json!({"roles": ["reader"]}));
}

async fn audit_records_are_filtered_and_paged_newest_first(store: &dyn Store) {
    let rows = [
        ("token.issued", "svc", Some("alice"), 0),
        ("login.failed", "bob", Some("bob"), 10),
        ("login.succeeded", "alice", Some("alice"), 20),
        ("user.created", "cli", Some("carol"), 30),
        ("token.issued", "svc", None, 40),
    ];
    for (event, actor, subject, after) in rows {
        store
            .record(&AuditEvent {
                at: NOW + after,
                event: event.into(),
                actor: Some(actor.into()),
                subject: subject.map(str::to_owned),
                client_addr: None,
                detail: serde_json::json!({}),
            })
            .await
            .unwrap();
    }
    let names = |records: &[AuditRecord]| {
        records
            .iter()
            .map(|r| (r.event.event.clone(), r.event.actor.clone().unwrap()))
            .collect::<Vec<_>>()
    };
    let pick = |filter: AuditFilter| async move {
        store
            .audit_records(&AuditFilter {
                limit: 10,
                ..filter
            })
            .await
            .unwrap()
    };
    let alice = pick(AuditFilter {
        parties: vec!["alice".into()],
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(
        names(&alice),
        [
            ("login.succeeded".into(), "alice".into()),
            ("token.issued".into(), "svc".into())
        ]
    );
    let logins = pick(AuditFilter {
        event_prefix: Some("login.".into()),
        since: Some(NOW + 15),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(names(&logins), [("login.succeeded".into(), "alice".into())]);
    let issued = pick(AuditFilter {
        event: Some("token.issued".into()),
        parties: vec!["svc".into()],
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(issued.len(), 2);
    let both = pick(AuditFilter {
        parties: vec!["svc".into(), "alice".into()],
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(names(&both), [("token.issued".into(), "svc".into())]);
    // Pages: two at a time, each older than the last one seen; hostile text is only text.
    let first = store
        .audit_records(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let second = pick(AuditFilter {
        before: Some(first[1].id),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(first.len() + second.len(), 5);
    assert!(second.iter().all(|r| r.id < first[1].id));
    let hostile = pick(AuditFilter {
        event_prefix: Some("%' OR 1=1 --".into()),
        parties: vec!["' OR ''='".into()],
        ..AuditFilter::default()
    })
    .await;
    assert!(hostile.is_empty());
}

async fn migrating_twice_changes_nothing(store: &dyn Store) {
    store.migrate().await.unwrap();
    assert_eq!(store.list_roles().await.unwrap().len(), 4);
}

#[tokio::test]
async fn each_test_database_is_its_own() {
    let a = TestDatabase::sqlite();
    let b = TestDatabase::sqlite();
    assert_ne!(a.url(), b.url());
}

fn session(id: &str, user_id: &str, expires_at: i64) -> NewSession {
    NewSession {
        id_hash: SecretHash::of(id),
        user_id: user_id.into(),
        csrf_token: format!("csrf-{id}"),
        created_at: NOW,
        expires_at,
        client_addr: Some("192.0.2.1".into()),
        user_agent: Some("test".into()),
        amr: "pwd".into(),
    }
}

async fn a_session_lives_until_it_expires_or_its_user_is_disabled(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "ivy", &["reader"]), &ev())
        .await
        .unwrap();
    store
        .create_session(&session("s1", "u-1", NOW + 100), &ev())
        .await
        .unwrap();
    let found = store
        .session(&SecretHash::of("s1"), NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.user.name.as_str(), found.csrf_token.as_str()),
        ("ivy", "csrf-s1")
    );
    assert!(store
        .session(&SecretHash::of("s2"), NOW)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .session(&SecretHash::of("s1"), NOW + 100)
        .await
        .unwrap()
        .is_none());
    store
        .touch_session(&SecretHash::of("s1"), NOW + 50, NOW + 150)
        .await
        .unwrap();
    let touched = store
        .session(&SecretHash::of("s1"), NOW + 120)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (touched.last_seen_at, touched.expires_at),
        (NOW + 50, NOW + 150)
    );
    store
        .set_disabled(&name("ivy"), true, NOW, &ev())
        .await
        .unwrap();
    assert!(store
        .session(&SecretHash::of("s1"), NOW + 1)
        .await
        .unwrap()
        .is_none());
    store
        .set_disabled(&name("ivy"), false, NOW, &ev())
        .await
        .unwrap();
    // Disabling ended the session for good.
    assert!(store
        .session(&SecretHash::of("s1"), NOW + 1)
        .await
        .unwrap()
        .is_none());
    store
        .create_session(&session("s3", "u-1", NOW + 100), &ev())
        .await
        .unwrap();
    store
        .delete_session(&SecretHash::of("s3"), &ev())
        .await
        .unwrap();
    assert!(store
        .session(&SecretHash::of("s3"), NOW)
        .await
        .unwrap()
        .is_none());
}

async fn other_sessions_end_and_the_kept_one_stays(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "jay", &["reader"]), &ev())
        .await
        .unwrap();
    store
        .create_user(&new_user("u-2", "kim", &["reader"]), &ev())
        .await
        .unwrap();
    for (id, user) in [("a", "u-1"), ("b", "u-1"), ("c", "u-1"), ("d", "u-2")] {
        store
            .create_session(&session(id, user, NOW + 100), &ev())
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .delete_other_sessions("u-1", &SecretHash::of("a"))
            .await
            .unwrap(),
        2
    );
    assert!(store
        .session(&SecretHash::of("a"), NOW)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .session(&SecretHash::of("b"), NOW)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .session(&SecretHash::of("d"), NOW)
        .await
        .unwrap()
        .is_some());
    store.delete_user(&name("kim"), &ev()).await.unwrap();
    assert!(store
        .session(&SecretHash::of("d"), NOW)
        .await
        .unwrap()
        .is_none());
}

const THROTTLE: ThrottlePolicy = ThrottlePolicy {
    account_threshold: 3,
    address_threshold: 20,
    base_delay: 2,
    max_delay: 900,
    window: 60,
};

async fn login_failures_count_within_a_window_and_lock(store: &dyn Store) {
    let key = "user:bob\"e\"i'o;aü".to_owned();
    let reserve = |at: i64| {
        let key = key.clone();
        async move {
            match store
                .reserve_login_attempt(&key, at, &THROTTLE, 3)
                .await
                .unwrap()
            {
                Attempt::Counted { count, held, .. } => Ok((count, held)),
                Attempt::Locked { until } => Err(until),
            }
        }
    };
    assert_eq!(reserve(NOW).await, Ok((1, false)));
    assert_eq!(reserve(NOW + 10).await, Ok((2, false)));
    store.release_login_attempt(&key, false).await.unwrap();
    assert_eq!(reserve(NOW + 11).await, Ok((2, false)));
    // Further apart than the window: the count starts again.
    assert_eq!(reserve(NOW + 100).await, Ok((1, false)));
    store.lock_login(&key, NOW + 130).await.unwrap();
    // While locked nothing is counted, so retrying does not lengthen the next lock.
    assert_eq!(reserve(NOW + 129).await, Err(NOW + 130));
    assert_eq!(reserve(NOW + 129).await, Err(NOW + 130));
    assert_eq!(reserve(NOW + 130).await, Ok((2, false)));
    // The attempt that reaches the threshold holds the key until it is decided.
    assert_eq!(reserve(NOW + 131).await, Ok((3, true)));
    assert_eq!(reserve(NOW + 131).await, Err(NOW + 131 + CHECK_HOLD));
    store.release_login_attempt(&key, true).await.unwrap();
    assert_eq!(reserve(NOW + 132).await, Ok((3, true)));
    store.clear_login_failures(&key).await.unwrap();
    assert_eq!(reserve(NOW + 133).await, Ok((1, false)));
}

async fn parallel_attempts_check_at_most_the_threshold(store: &dyn Store) {
    let attempts = (0..40).map(|_| store.reserve_login_attempt("user:alice", NOW, &THROTTLE, 3));
    let outcomes = futures_util::future::join_all(attempts).await;
    let mut counted: Vec<i64> = outcomes
        .into_iter()
        .filter_map(|r| match r.unwrap() {
            Attempt::Counted { count, .. } => Some(count),
            Attempt::Locked { .. } => None,
        })
        .collect();
    counted.sort();
    assert_eq!(counted, [1, 2, 3]);
}

async fn grant_setup(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "lee", &["reader"]), &ev())
        .await
        .unwrap();
    store
        .create_client(&service_client("c-1", "one"), &ev())
        .await
        .unwrap();
    store
        .create_client(&service_client("c-2", "two"), &ev())
        .await
        .unwrap();
}

fn family_token(secret: &str, family: &str) -> NewAccessToken {
    NewAccessToken {
        family_id: Some(family.into()),
        audience: None,
        ..token(secret, "c-1", Some("u-1"), NOW + 60)
    }
}

fn refresh(secret: &str, family: &str) -> NewRefreshToken {
    NewRefreshToken {
        key: TokenKey::of(secret),
        family_id: family.into(),
        client_id: "c-1".into(),
        user_id: "u-1".into(),
        scope: "read".into(),
        auth_time: Some(NOW - 5),
        sid: Some("sid-1".into()),
        amr: Some("pwd".into()),
        created_at: NOW,
        expires_at: NOW + 600,
        jkt: None,
    }
}

async fn is_live(store: &dyn Store, secret: &str) -> bool {
    store
        .access_token(&TokenKey::of(secret))
        .await
        .unwrap()
        .is_some_and(|t| t.is_live(NOW))
}

async fn a_code_is_spent_once_and_a_replay_revokes_its_tokens(store: &dyn Store) {
    grant_setup(store).await;
    let code = NewCode {
        hash: SecretHash::of("code-1"),
        client_id: "c-1".into(),
        user_id: "u-1".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_given: true,
        scope: "read".into(),
        code_challenge: Some("challenge".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: NOW - 30,
        sid: Some("sid-1".into()),
        resources: Some("https://api.example/ urn:x".into()),
        amr: Some("pwd otp mfa".into()),
        created_at: NOW,
        expires_at: NOW + 60,
    };
    store.insert_code(&code).await.unwrap();
    let Redemption::Redeemed(spent) = store.redeem_code(&code.hash, NOW + 1, &ev()).await.unwrap()
    else {
        panic!("not redeemed")
    };
    assert_eq!(
        (
            spent.client_id.as_str(),
            spent.redirect_uri_given,
            spent.code_challenge.as_deref()
        ),
        ("c-1", true, Some("challenge"))
    );
    // What an ID token needs of the sign-in comes back with the code.
    assert_eq!(
        (
            spent.nonce.as_deref(),
            spent.auth_time,
            spent.sid.as_deref()
        ),
        (Some("n-0S6_WzA2Mj"), NOW - 30, Some("sid-1"))
    );
    assert_eq!(spent.amr.as_deref(), Some("pwd otp mfa"));
    // So do the resources its authorization request named (RFC 8707).
    assert_eq!(
        heliogate_core::oauth::resource::join(&spent.resources.0),
        "https://api.example/ urn:x"
    );
    // Spent without tokens (a refused exchange), its replay has none to revoke.
    assert_eq!(
        store.redeem_code(&code.hash, NOW + 2, &ev()).await.unwrap(),
        Redemption::Replayed { revoked: 0 }
    );
    // Spent with its tokens (`issue_from`, as an exchange spends it): a replay revokes them,
    // the access token and the refresh token of the family recorded on the code.
    let given = NewCode {
        hash: SecretHash::of("code-2"),
        ..code
    };
    store.insert_code(&given).await.unwrap();
    assert!(store
        .issue_from(
            OneTimeGrant::Code(given.hash),
            family_token("from-code", "fam-1"),
            Some(refresh("r-code", "fam-1")),
            None,
        )
        .await
        .unwrap());
    assert!(is_live(store, "from-code").await);
    assert_eq!(
        store
            .redeem_code(&given.hash, NOW + 2, &ev())
            .await
            .unwrap(),
        Redemption::Replayed { revoked: 2 }
    );
    assert!(!is_live(store, "from-code").await);
    assert!(store
        .refresh_token(&TokenKey::of("r-code"))
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    assert_eq!(
        store
            .redeem_code(&SecretHash::of("nope"), NOW, &ev())
            .await
            .unwrap(),
        Redemption::Unknown
    );
}

async fn a_refresh_token_rotates_once_and_a_replay_revokes_its_family(store: &dyn Store) {
    grant_setup(store).await;
    store
        .issue_tokens(family_token("a1", "fam"), Some(refresh("r1", "fam")), None)
        .await
        .unwrap();
    assert!(store
        .rotate_refresh(
            &TokenKey::of("r1"),
            &family_token("a2", "fam"),
            &refresh("r2", "fam"),
            NOW,
            None,
            &ev(),
        )
        .await
        .unwrap());
    let old = store
        .refresh_token(&TokenKey::of("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.rotated_at, Some(NOW));
    assert_eq!(
        (old.auth_time, old.sid.as_deref()),
        (Some(NOW - 5), Some("sid-1"))
    );
    assert!(is_live(store, "a2").await);
    // The rotated token again: refused, and the whole family goes.
    assert!(!store
        .rotate_refresh(
            &TokenKey::of("r1"),
            &family_token("a3", "fam"),
            &refresh("r3", "fam"),
            NOW,
            None,
            &named("refresh.replayed"),
        )
        .await
        .unwrap());
    assert!(!is_live(store, "a1").await && !is_live(store, "a2").await);
    // The losing use is recorded with what it revoked, in its own transaction.
    let recorded = store.recent_events(1).await.unwrap();
    assert_eq!(recorded[0].event, "refresh.replayed");
    assert_eq!(recorded[0].detail["revoked"], 4);
    assert!(store
        .access_token(&TokenKey::of("a3"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .refresh_token(&TokenKey::of("r2"))
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
}

async fn only_the_owning_client_revokes_a_token(store: &dyn Store) {
    grant_setup(store).await;
    store
        .issue_tokens(
            family_token("acc", "fam"),
            Some(refresh("ref", "fam")),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .revoke_token(
                &TokenKey::of("acc"),
                TokenHolder::Client(&cid("c-2")),
                NOW,
                &ev()
            )
            .await
            .unwrap(),
        Revocation::NotOwned
    );
    assert_eq!(
        store
            .revoke_token(
                &TokenKey::of("ref"),
                TokenHolder::Client(&cid("c-2")),
                NOW,
                &ev()
            )
            .await
            .unwrap(),
        Revocation::NotOwned
    );
    assert!(is_live(store, "acc").await);
    assert_eq!(
        store
            .revoke_token(
                &TokenKey::of("nope"),
                TokenHolder::Client(&cid("c-1")),
                NOW,
                &ev()
            )
            .await
            .unwrap(),
        Revocation::Unknown
    );
    // Revoking the refresh token takes the access tokens it produced with it.
    assert_eq!(
        store
            .revoke_token(
                &TokenKey::of("ref"),
                TokenHolder::Client(&cid("c-1")),
                NOW,
                &ev()
            )
            .await
            .unwrap(),
        Revocation::Revoked
    );
    assert!(!is_live(store, "acc").await);
}

async fn a_holder_s_live_tokens_are_listed_by_key_and_revoked_one_by_one(store: &dyn Store) {
    grant_setup(store).await;
    store
        .issue_tokens(
            family_token("acc", "fam"),
            Some(refresh("ref", "fam")),
            None,
        )
        .await
        .unwrap();
    // The client's own token, an expired one, and one revoked: only the first is listed for
    // the client, none of them for the user.
    for t in [
        token("own", "c-1", None, NOW + 60),
        token("old", "c-1", Some("u-1"), NOW - 1),
        token("gone", "c-1", Some("u-1"), NOW + 60),
    ] {
        store.issue_tokens(t, None, None).await.unwrap();
    }
    store
        .revoke_token(&TokenKey::of("gone"), TokenHolder::User("u-1"), NOW, &ev())
        .await
        .unwrap();
    let keys = |list: &[heliogate_store::TokenRecord]| {
        list.iter().map(|t| t.key.clone()).collect::<Vec<_>>()
    };
    let mut expected = vec![
        TokenKey::of("acc").as_bytes().to_vec(),
        TokenKey::of("ref").as_bytes().to_vec(),
    ];
    expected.sort();
    let user = TokenHolder::User("u-1");
    let listed = store.live_tokens(user, NOW, &[], 10).await.unwrap();
    assert_eq!(keys(&listed), expected);
    let access = listed
        .iter()
        .find(|t| t.kind == heliogate_store::TokenKind::Access)
        .unwrap();
    assert_eq!(access.username.as_deref(), Some("lee"));
    assert_eq!(
        (access.client_id.as_str(), access.scope.to_string().as_str()),
        ("c-1", "read")
    );
    // A page at a time, after the last key of the page before.
    let first = store.live_tokens(user, NOW, &[], 1).await.unwrap();
    let second = store
        .live_tokens(user, NOW, &first[0].key, 1)
        .await
        .unwrap();
    assert_eq!([keys(&first), keys(&second)].concat(), expected);
    assert_eq!(
        store
            .live_tokens(TokenHolder::Client(&cid("c-1")), NOW, &[], 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(store
        .live_tokens(TokenHolder::Client(&cid("c-2")), NOW, &[], 10)
        .await
        .unwrap()
        .is_empty());
    // A user revokes only their own tokens; revoking the refresh token ends its family.
    assert_eq!(
        store
            .revoke_token(&TokenKey::of("own"), user, NOW, &ev())
            .await
            .unwrap(),
        Revocation::NotOwned
    );
    assert_eq!(
        store
            .revoke_token(&TokenKey::of("ref"), user, NOW, &ev())
            .await
            .unwrap(),
        Revocation::Revoked
    );
    assert!(store
        .live_tokens(user, NOW, &[], 10)
        .await
        .unwrap()
        .is_empty());
    assert!(is_live(store, "own").await);
}

async fn consents_are_kept_listed_and_withdrawn(store: &dyn Store) {
    grant_setup(store).await;
    assert_eq!(store.consent("u-1", &cid("c-1")).await.unwrap(), None);
    store
        .save_consent("u-1", &cid("c-1"), &scope_set("read"), NOW, &ev())
        .await
        .unwrap();
    store
        .save_consent(
            "u-1",
            &cid("c-1"),
            &scope_set("openid read"),
            NOW + 1,
            &ev(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.consent("u-1", &cid("c-1")).await.unwrap(),
        Some(scope_set("openid read"))
    );
    let listed = store.consents("u-1", NOW).await.unwrap();
    assert_eq!(
        (
            listed.len(),
            listed[0].client_name.as_str(),
            listed[0].updated_at
        ),
        (1, "one", NOW + 1)
    );
    store
        .issue_tokens(
            family_token("acc", "fam"),
            Some(refresh("ref", "fam")),
            None,
        )
        .await
        .unwrap();
    assert!(store
        .revoke_consent("u-1", &cid("c-1"), NOW, &ev())
        .await
        .unwrap());
    assert_eq!(store.consent("u-1", &cid("c-1")).await.unwrap(), None);
    assert!(!is_live(store, "acc").await);
    assert!(!store
        .revoke_consent("u-1", &cid("c-1"), NOW, &ev())
        .await
        .unwrap());
}

async fn disabling_a_user_revokes_their_tokens(store: &dyn Store) {
    grant_setup(store).await;
    store
        .issue_tokens(
            family_token("acc", "fam"),
            Some(refresh("ref", "fam")),
            None,
        )
        .await
        .unwrap();
    store
        .set_disabled(&name("lee"), true, NOW, &ev())
        .await
        .unwrap();
    assert!(!is_live(store, "acc").await);
    assert!(store
        .refresh_token(&TokenKey::of("ref"))
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
}

async fn a_value_the_database_refuses_is_invalid_not_an_outage(store: &dyn Store) {
    // PostgreSQL refuses a NUL byte in text; SQLite stores it and finds nothing.
    let user = store.user_by_id("bad\0id").await;
    assert!(
        matches!(user, Ok(None) | Err(StoreError::Invalid(_))),
        "{user:?}"
    );
    let consents = store.consents("bad\0id", NOW).await;
    assert!(
        matches!(&consents, Ok(c) if c.is_empty())
            || matches!(consents, Err(StoreError::Invalid(_))),
        "{consents:?}"
    );
}

async fn a_row_that_refers_to_nothing_is_a_conflict(store: &dyn Store) {
    let consent = store
        .save_consent(
            "no-such-user",
            &cid("no-such-client"),
            &scope_set("read"),
            NOW,
            &ev(),
        )
        .await;
    assert!(
        matches!(consent, Err(StoreError::Conflict(_))),
        "{consent:?}"
    );
    let alone = store
        .issue_tokens(
            token("t-orphan", "no-such-client", None, NOW + 60),
            None,
            None,
        )
        .await;
    assert!(matches!(alone, Err(StoreError::Conflict(_))), "{alone:?}");
}

async fn a_change_and_its_audit_record_commit_together(store: &dyn Store) {
    let named = |event: &str| AuditEvent {
        event: event.into(),
        ..ev()
    };
    let events = || async { store.recent_events(100).await.unwrap() };
    store
        .create_user(
            &new_user("u-1", "root", &["administrator"]),
            &named("user.created"),
        )
        .await
        .unwrap();
    assert_eq!(events().await[0].event, "user.created");
    // A refused change leaves no record.
    let refused = store
        .delete_user(&name("root"), &named("user.deleted"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let refused = store
        .create_user(
            &new_user("u-2", "root", &["reader"]),
            &named("user.created.again"),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert!(!store
        .revoke_consent("u-1", &cid("c-none"), NOW, &named("consent.withdrawn"))
        .await
        .unwrap());
    let seen: Vec<String> = events().await.into_iter().map(|e| e.event).collect();
    assert_eq!(seen, ["user.created"]);
    // A revocation records how many it revoked.
    store
        .create_client(&service_client("c-1", "svc"), &named("client.created"))
        .await
        .unwrap();
    store
        .issue_tokens(token("t1", "c-1", Some("u-1"), NOW + 60), None, None)
        .await
        .unwrap();
    let revoked = store
        .revoke_user_tokens("u-1", NOW, &named("token.revoked"))
        .await
        .unwrap();
    let last = &events().await[0];
    assert_eq!(
        (revoked, last.event.as_str(), &last.detail["revoked"]),
        (1, "token.revoked", &serde_json::json!(1))
    );
}

#[tokio::test]
async fn the_sqlite_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDatabase::sqlite();
    let store = db.store().await;
    store
        .create_user(&new_user("u-1", "alice", &["reader"]), &ev())
        .await
        .unwrap();
    let path = db.url().trim_start_matches("sqlite://").to_owned();
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    store.close().await;
}

async fn a_code_is_spent_with_its_tokens_and_only_once(store: &dyn Store) {
    grant_setup(store).await;
    let code = |name: &str| NewCode {
        hash: SecretHash::of(name),
        client_id: "c-1".into(),
        user_id: "u-1".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_given: true,
        scope: "read".into(),
        code_challenge: None,
        nonce: None,
        auth_time: NOW,
        sid: None,
        resources: None,
        amr: None,
        created_at: NOW,
        expires_at: NOW + 60,
    };
    let the_code = SecretHash::of("the code");
    store.insert_code(&code("the code")).await.unwrap();
    // Reading a code spends nothing.
    // With its user as it stands, each role once.
    store
        .set_user_roles(&name("lee"), &[role("writer"), role("reader")], NOW, &ev())
        .await
        .unwrap();
    let (read, user) = store.authorization_code(&the_code).await.unwrap().unwrap();
    assert_eq!((read.client_id.as_str(), read.redeemed_at), ("c-1", None));
    assert_eq!(
        (user.name.as_str(), user.roles.as_slice()),
        ("lee", &["reader".to_owned(), "writer".to_owned()][..])
    );
    assert_eq!(Some(user), store.user_by_id(&read.user_id).await.unwrap());
    assert!(store
        .authorization_code(&SecretHash::of("nope"))
        .await
        .unwrap()
        .is_none());
    // Reads made together (answered by one statement): each finds its own code, or none.
    store
        .create_user(&new_user("u-2", "kim", &["writer"]), &ev())
        .await
        .unwrap();
    store
        .insert_code(&NewCode {
            user_id: "u-2".into(),
            scope: "write".into(),
            ..code("another code")
        })
        .await
        .unwrap();
    let read = |code: &'static str| async move {
        store
            .authorization_code(&SecretHash::of(code))
            .await
            .unwrap()
            .map(|(code, user)| (code.scope.to_string(), user.name))
    };
    let found = tokio::join!(
        read("the code"),
        read("nope"),
        read("another code"),
        read("the code"),
    );
    let lee = Some(("read".to_owned(), "lee".to_owned()));
    assert_eq!(
        found,
        (
            lee.clone(),
            None,
            Some(("write".to_owned(), "kim".to_owned())),
            lee
        )
    );
    let issue = |token: &'static str, family: &'static str, refresh_token: &'static str| async move {
        store
            .issue_from(
                OneTimeGrant::Code(the_code),
                family_token(token, family),
                Some(refresh(refresh_token, family)),
                Some(named("token.issued")),
            )
            .await
            .unwrap()
    };
    // Two uses at once: one transaction spends the code and writes its tokens; the other
    // writes nothing.
    let (first, second) = tokio::join!(
        issue("acc-1", "fam-1", "ref-1"),
        issue("acc-2", "fam-2", "ref-2")
    );
    assert!(first != second, "exactly one use wins: {first} {second}");
    let (won, lost) = if first {
        ("acc-1", "acc-2")
    } else {
        ("acc-2", "acc-1")
    };
    assert!(is_live(store, won).await);
    assert!(store
        .access_token(&TokenKey::of(lost))
        .await
        .unwrap()
        .is_none());
    let (read, _) = store.authorization_code(&the_code).await.unwrap().unwrap();
    assert_eq!(read.redeemed_at, Some(NOW));
    // A later use too; the replay, redeemed, finds the tokens that were written with the
    // spending, and revokes them.
    assert!(!issue("acc-3", "fam-3", "ref-3").await);
    assert_eq!(
        store
            .redeem_code(&the_code, NOW + 2, &named("code.replayed"))
            .await
            .unwrap(),
        Redemption::Replayed { revoked: 2 }
    );
    assert!(!is_live(store, won).await);
    let recorded = store.recent_events(1).await.unwrap();
    assert_eq!(recorded[0].event, "code.replayed");
    // A code spent by a refused exchange (`redeem_code`) gives no tokens afterwards.
    store.insert_code(&code("refused")).await.unwrap();
    assert!(matches!(
        store
            .redeem_code(&SecretHash::of("refused"), NOW, &ev())
            .await
            .unwrap(),
        Redemption::Redeemed(_)
    ));
    assert!(!store
        .issue_from(
            OneTimeGrant::Code(SecretHash::of("refused")),
            family_token("acc-4", "fam-4"),
            None,
            None,
        )
        .await
        .unwrap());
    assert!(store
        .access_token(&TokenKey::of("acc-4"))
        .await
        .unwrap()
        .is_none());
}

async fn old_audit_records_and_idle_sign_in_counters_are_purged(store: &dyn Store) {
    let at = |at: i64, name: &str| AuditEvent {
        at,
        event: name.into(),
        ..ev()
    };
    for day in 0..3 {
        store
            .record(&at(NOW - (400 - day) * 86_400, "old"))
            .await
            .unwrap();
    }
    store.record(&at(NOW, "new")).await.unwrap();
    assert_eq!(store.purge_audit(NOW - 365 * 86_400).await.unwrap(), 3);
    let left: Vec<String> = store
        .recent_events(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(left, ["new"]);

    store
        .reserve_login_attempt("user:idle", NOW - 1000, &THROTTLE, 3)
        .await
        .unwrap();
    store
        .reserve_login_attempt("user:recent", NOW - 10, &THROTTLE, 3)
        .await
        .unwrap();
    store
        .reserve_login_attempt("user:locked", NOW - 1000, &THROTTLE, 3)
        .await
        .unwrap();
    store.lock_login("user:locked", NOW + 60).await.unwrap();
    assert_eq!(store.purge_login_counters(NOW - 900, NOW).await.unwrap(), 1);
    // The recent one still counts: its next attempt is its second.
    assert!(matches!(
        store
            .reserve_login_attempt("user:recent", NOW, &THROTTLE, 3)
            .await
            .unwrap(),
        Attempt::Counted { count: 2, .. }
    ));
}

async fn losing_a_role_or_the_password_revokes_what_they_gave(store: &dyn Store) {
    grant_setup(store).await;
    store
        .set_user_roles(&name("lee"), &[role("reader"), role("writer")], NOW, &ev())
        .await
        .unwrap();
    let write = NewAccessToken {
        scope: "write".into(),
        ..token("t-write", "c-1", Some("u-1"), NOW + 60)
    };
    let both = NewAccessToken {
        scope: "read write".into(),
        ..token("t-both", "c-1", Some("u-1"), NOW + 60)
    };
    for access in [token("t-read", "c-1", Some("u-1"), NOW + 60), write, both] {
        store.issue_tokens(access, None, None).await.unwrap();
    }
    store
        .issue_tokens(
            family_token("t-fam", "fam"),
            Some(refresh("ref", "fam")),
            None,
        )
        .await
        .unwrap();
    let refresh_live = |secret: &'static str| async move {
        store
            .refresh_token(&TokenKey::of(secret))
            .await
            .unwrap()
            .is_some_and(|r| r.revoked_at.is_none())
    };
    store
        .issue_tokens(
            NewAccessToken {
                scope: "read write".into(),
                ..family_token("t-fam-w", "fam-w")
            },
            Some(NewRefreshToken {
                scope: "read write".into(),
                ..refresh("ref-w", "fam-w")
            }),
            None,
        )
        .await
        .unwrap();
    // Losing `writer` takes the tokens that carry `write`, refresh tokens too; those that do
    // not carry it stay.
    store
        .set_user_roles(&name("lee"), &[role("reader")], NOW + 1, &ev())
        .await
        .unwrap();
    assert!(is_live(store, "t-read").await && is_live(store, "t-fam").await);
    assert!(!is_live(store, "t-write").await && !is_live(store, "t-both").await);
    assert!(refresh_live("ref").await && !refresh_live("ref-w").await);
    let events = store.recent_events(2).await.unwrap();
    let ended = events
        .iter()
        .find(|e| e.event == "credentials.ended")
        .unwrap();
    assert_eq!(ended.subject.as_deref(), Some("lee"));
    assert_eq!(ended.detail["access_tokens"], 3);
    assert_eq!(ended.detail["refresh_tokens"], 1);
    // A new password takes every token of the user.
    store
        .issue_tokens(
            family_token("t-fam2", "fam2"),
            Some(refresh("ref2", "fam2")),
            None,
        )
        .await
        .unwrap();
    store
        .set_password_hash(&name("lee"), "$argon2id$new", NOW + 2, None, &ev())
        .await
        .unwrap();
    assert!(!refresh_live("ref2").await && !refresh_live("ref").await);
    assert!(!is_live(store, "t-fam2").await && !is_live(store, "t-read").await);
}

async fn an_instance_value_is_recorded_once_by_the_first_node(store: &dyn Store) {
    assert_eq!(store.instance_value("server_key").await.unwrap(), None);
    assert_eq!(
        store
            .instance_value_or("server_key", "first")
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        store
            .instance_value_or("server_key", "second")
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        store.instance_value("server_key").await.unwrap().as_deref(),
        Some("first")
    );
}

async fn second_factors_are_enrolled_used_once_and_reset(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "ada", &["reader"]), &ev())
        .await
        .unwrap();
    store
        .create_user(&new_user("u-2", "bob", &["administrator"]), &ev())
        .await
        .unwrap();
    // An authenticator app: begun, begun again (the unconfirmed secret replaced), confirmed once.
    assert!(store.totp_factor("u-1").await.unwrap().is_none());
    store.begin_totp("u-1", &[1; 20], NOW).await.unwrap();
    store.begin_totp("u-1", &[2; 20], NOW).await.unwrap();
    let factor = store.totp_factor("u-1").await.unwrap().unwrap();
    assert_eq!((factor.secret, factor.confirmed), (vec![2; 20], false));
    assert!(
        !store.use_totp_step("u-1", 10).await.unwrap(),
        "unconfirmed"
    );
    assert!(store.confirm_totp("u-1", 10, &ev()).await.unwrap());
    assert!(!store.confirm_totp("u-1", 11, &ev()).await.unwrap());
    assert!(matches!(
        store.begin_totp("u-1", &[3; 20], NOW).await,
        Err(StoreError::Conflict(_))
    ));
    // Each step once, and none before the last.
    assert!(!store.use_totp_step("u-1", 10).await.unwrap());
    assert!(store.use_totp_step("u-1", 11).await.unwrap());
    assert!(!store.use_totp_step("u-1", 11).await.unwrap());
    assert!(!store.use_totp_step("u-1", 9).await.unwrap());
    assert!(!store.use_totp_step("u-2", 12).await.unwrap());

    // Recovery codes: each once; a new set replaces the old.
    let (a, b) = (SecretHash::of("a"), SecretHash::of("b"));
    store
        .set_recovery_codes("u-1", &[a, b], &ev())
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left("u-1").await.unwrap(), 2);
    assert!(store
        .use_recovery_code("u-1", &a, NOW, &ev())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code("u-1", &a, NOW, &ev())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code("u-2", &b, NOW, &ev())
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left("u-1").await.unwrap(), 1);
    store
        .set_recovery_codes("u-1", &[SecretHash::of("c")], &ev())
        .await
        .unwrap();
    assert!(!store
        .use_recovery_code("u-1", &b, NOW, &ev())
        .await
        .unwrap());

    // A reset removes both; a second one finds nothing.
    assert!(store.reset_factors("u-1", &ev()).await.unwrap());
    assert!(store.totp_factor("u-1").await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left("u-1").await.unwrap(), 0);
    assert!(!store.reset_factors("u-1", &ev()).await.unwrap());

    // Roles that require a second factor.
    assert!(!store.mfa_required("u-2").await.unwrap());
    store
        .set_role_mfa(&role("administrator"), true, &ev())
        .await
        .unwrap();
    assert!(store.mfa_required("u-2").await.unwrap());
    assert!(!store.mfa_required("u-1").await.unwrap());
    let roles = store.list_roles().await.unwrap();
    let requiring: Vec<&str> = roles
        .iter()
        .filter(|r| r.mfa_required)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(requiring, ["administrator"]);
    assert!(matches!(
        store.set_role_mfa(&role("nope"), true, &ev()).await,
        Err(StoreError::NotFound(_))
    ));

    // A pending sign-in lasts until it expires or is ended, and is purged after.
    let pending = SecretHash::of("pending");
    store
        .create_mfa_pending(&pending, "u-1", "pwd", NOW, NOW + 300)
        .await
        .unwrap();
    assert_eq!(
        store.mfa_pending(&pending, NOW + 299).await.unwrap(),
        Some(("u-1".to_owned(), "pwd".to_owned()))
    );
    assert_eq!(store.mfa_pending(&pending, NOW + 300).await.unwrap(), None);
    assert!(store.purge_expired(NOW + 300).await.unwrap() >= 1);
    // How the first step went is kept for the session to come.
    store
        .create_mfa_pending(&pending, "u-1", "fed pwd", NOW, NOW + 300)
        .await
        .unwrap();
    assert_eq!(
        store.mfa_pending(&pending, NOW).await.unwrap(),
        Some(("u-1".to_owned(), "fed pwd".to_owned()))
    );
    store.delete_mfa_pending(&pending).await.unwrap();
    store
        .create_mfa_pending(&pending, "u-1", "pwd", NOW, NOW + 300)
        .await
        .unwrap();
    store.delete_mfa_pending(&pending).await.unwrap();
    assert_eq!(store.mfa_pending(&pending, NOW).await.unwrap(), None);
}

async fn passkeys_and_their_ceremonies_are_kept(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "ada", &["reader"]), &ev())
        .await
        .unwrap();
    store
        .create_user(&new_user("u-2", "bob", &["reader"]), &ev())
        .await
        .unwrap();
    let key = |id: &str, user: &str| StoredPasskey {
        credential_id: id.into(),
        user_id: user.into(),
        name: format!("key {id}"),
        passkey: "{}".into(),
        created_at: NOW,
        last_used_at: None,
    };
    store.add_passkey(&key("c1", "u-1"), &ev()).await.unwrap();
    store.add_passkey(&key("c2", "u-1"), &ev()).await.unwrap();
    assert!(matches!(
        store.add_passkey(&key("c1", "u-2"), &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    let listed = store.passkeys("u-1").await.unwrap();
    assert_eq!(listed.len(), 2);
    store
        .passkey_used("c1", "{\"counter\":2}", NOW + 5)
        .await
        .unwrap();
    let used = store.passkey("c1").await.unwrap().unwrap();
    assert_eq!(
        (used.passkey.as_str(), used.last_used_at),
        ("{\"counter\":2}", Some(NOW + 5))
    );
    // Only its owner removes it.
    assert!(!store.delete_passkey("u-2", "c1", &ev()).await.unwrap());
    assert!(store.delete_passkey("u-1", "c1", &ev()).await.unwrap());
    assert!(store.passkey("c1").await.unwrap().is_none());
    // A reset takes the rest.
    assert!(store.reset_factors("u-1", &ev()).await.unwrap());
    assert!(store.passkeys("u-1").await.unwrap().is_empty());

    // A ceremony's state is taken once, while it lasts.
    let id = SecretHash::of("ceremony");
    store
        .put_challenge(&id, Some("u-1"), "state", NOW + 300)
        .await
        .unwrap();
    assert_eq!(
        store.take_challenge(&id, NOW).await.unwrap(),
        Some((Some("u-1".to_owned()), "state".to_owned()))
    );
    assert_eq!(store.take_challenge(&id, NOW).await.unwrap(), None);
    store
        .put_challenge(&id, None, "old", NOW + 300)
        .await
        .unwrap();
    assert_eq!(store.take_challenge(&id, NOW + 300).await.unwrap(), None);
}

async fn a_user_is_changed_at_once_only_as_read(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "ada", &["administrator"]), &ev())
        .await
        .unwrap();
    store
        .create_user(&new_user("u-2", "bob", &["reader"]), &ev())
        .await
        .unwrap();
    let read = store.user_by_name(&name("bob")).await.unwrap().unwrap();
    let change = UserChangeSet {
        email: Some(Some(
            heliogate_core::Email::parse("bob@example.org").unwrap(),
        )),
        roles: Some(vec![role("writer")]),
        disabled: Some(true),
    };
    // In the second it was read, twice from the same read: the second is refused.
    let now = read.updated_at;
    assert!(store
        .change_user(&name("bob"), &change, read.updated_at, now, &[ev(), ev()])
        .await
        .unwrap());
    let changed = store.user_by_name(&name("bob")).await.unwrap().unwrap();
    assert_eq!(changed.email.as_deref(), Some("bob@example.org"));
    assert_eq!(changed.roles, ["writer"]);
    assert!(changed.disabled);
    assert_eq!(changed.updated_at, read.updated_at + 1);
    let again = UserChangeSet {
        disabled: Some(false),
        ..Default::default()
    };
    assert!(!store
        .change_user(&name("bob"), &again, read.updated_at, now, &[ev()])
        .await
        .unwrap());
    assert!(
        store
            .user_by_name(&name("bob"))
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    // The last administrator stays, and a refused change writes nothing.
    let ada = store.user_by_name(&name("ada")).await.unwrap().unwrap();
    let demote = UserChangeSet {
        email: Some(None),
        roles: Some(vec![role("reader")]),
        disabled: None,
    };
    assert!(matches!(
        store
            .change_user(&name("ada"), &demote, ada.updated_at, NOW + 10, &[ev()])
            .await,
        Err(StoreError::Conflict(_))
    ));
    let kept = store.user_by_name(&name("ada")).await.unwrap().unwrap();
    assert_eq!(
        (kept.roles.clone(), kept.updated_at),
        (ada.roles, ada.updated_at)
    );
}

async fn a_role_is_changed_at_once_only_as_read(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "ada", &["administrator"]), &ev())
        .await
        .unwrap();
    let read = async |name: &str| {
        store
            .list_roles()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.name.as_str() == name)
            .unwrap()
    };
    let writer = read("writer").await;
    let scopes = scopes(&["write", "publish"]);
    assert!(store
        .change_role(
            &role("writer"),
            &writer,
            Some(&scopes),
            Some(true),
            &[ev(), ev()]
        )
        .await
        .unwrap());
    let changed = read("writer").await;
    assert_eq!(changed.scopes.to_vec(), ["publish", "write"]);
    assert!(changed.mfa_required);
    // A second change made from the same read is refused, and writes nothing.
    assert!(!store
        .change_role(&role("writer"), &writer, None, Some(false), &[ev()])
        .await
        .unwrap());
    assert!(read("writer").await.mfa_required);
    // The last administrator stays.
    let admin = read("administrator").await;
    assert!(matches!(
        store
            .change_role(&role("administrator"), &admin, Some(&scopes), None, &[ev()])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(read("administrator").await, admin);
    assert!(matches!(
        store
            .change_role(&role("nobody"), &admin, None, Some(true), &[ev()])
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// The SHA-256 of a token, as the revocation feed names it.
fn sha256_of(token: &str) -> Vec<u8> {
    let key = TokenKey::of(token);
    key.as_bytes()[key.as_bytes().len() - 32..].to_vec()
}

async fn the_revocation_feed_names_every_ended_token_in_commit_order(store: &dyn Store) {
    for (id, user) in [("u-1", "frank"), ("u-2", "grace")] {
        store
            .create_user(&new_user(id, user, &["reader"]), &ev())
            .await
            .unwrap();
    }
    for (id, label) in [("c-1", "one"), ("c-2", "two"), ("c-3", "three")] {
        store
            .create_client(&service_client(id, label), &ev())
            .await
            .unwrap();
    }
    let issued = [
        ("a", "c-1", Some("u-1")),
        ("b", "c-2", Some("u-1")),
        ("c", "c-2", None),
        ("d", "c-1", Some("u-2")),
        ("e", "c-3", None),
        ("kept", "c-1", None),
    ];
    for (secret, client, user) in issued {
        store
            .issue_tokens(token(secret, client, user, NOW + 60), None, None)
            .await
            .unwrap();
    }
    store
        .issue_tokens(token("expired", "c-1", None, NOW - 1), None, None)
        .await
        .unwrap();
    assert!(store.revoked_after(0, NOW, 100).await.unwrap().is_empty());

    // Every way a token ends early: by user, one by one, with its user, with its client.
    store.revoke_user_tokens("u-1", NOW, &ev()).await.unwrap();
    store
        .revoke_token(
            &TokenKey::of("c"),
            TokenHolder::Client(&cid("c-2")),
            NOW,
            &ev(),
        )
        .await
        .unwrap();
    store.delete_user(&name("grace"), &ev()).await.unwrap();
    store.delete_client(&cid("c-3"), &ev()).await.unwrap();
    // Nothing for a token already revoked, nor for one that had expired anyway.
    store.revoke_user_tokens("u-1", NOW, &ev()).await.unwrap();
    store
        .revoke_token(
            &TokenKey::of("expired"),
            TokenHolder::Client(&cid("c-1")),
            NOW,
            &ev(),
        )
        .await
        .unwrap();

    let feed = store.revoked_after(0, NOW, 100).await.unwrap();
    let named: Vec<Vec<u8>> = feed.iter().map(|e| e.token_sha256.clone()).collect();
    let mut first_two = named[..2].to_vec();
    first_two.sort();
    let mut expected = vec![sha256_of("a"), sha256_of("b")];
    expected.sort();
    assert_eq!(first_two, expected);
    assert_eq!(named[2..], [sha256_of("c"), sha256_of("d"), sha256_of("e")]);
    assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(feed.iter().all(|e| e.expires_at == NOW + 60));
    // A reader goes on after the last entry it saw, a page at a time.
    let page = store.revoked_after(0, NOW, 2).await.unwrap();
    assert_eq!(page, feed[..2]);
    let rest = store.revoked_after(page[1].seq, NOW, 100).await.unwrap();
    assert_eq!(rest, feed[2..]);
    // Once the tokens would have expired the feed forgets them.
    assert!(store
        .revoked_after(0, NOW + 60, 100)
        .await
        .unwrap()
        .is_empty());
    store.purge_expired(NOW + 61).await.unwrap();
    assert!(store.revoked_after(0, NOW, 100).await.unwrap().is_empty());
}

async fn a_user_s_sessions_are_listed_and_ended_only_by_their_owner(store: &dyn Store) {
    for (id, user) in [("u-1", "jay"), ("u-2", "kim")] {
        store
            .create_user(&new_user(id, user, &["reader"]), &ev())
            .await
            .unwrap();
    }
    for (id, user, expires) in [
        ("a", "u-1", NOW + 100),
        ("b", "u-1", NOW + 200),
        ("old", "u-1", NOW - 1),
        ("d", "u-2", NOW + 100),
    ] {
        store
            .create_session(&session(id, user, expires), &ev())
            .await
            .unwrap();
    }
    store
        .touch_session(&SecretHash::of("b"), NOW + 5, NOW + 200)
        .await
        .unwrap();
    let listed = store.user_sessions("u-1", NOW).await.unwrap();
    let hashes: Vec<SecretHash> = listed.iter().map(|s| s.id_hash).collect();
    // Live only, the most recently used first.
    assert_eq!(hashes, [SecretHash::of("b"), SecretHash::of("a")]);
    assert_eq!(listed[0].last_seen_at, NOW + 5);
    assert_eq!(listed[1].client_addr.as_deref(), Some("192.0.2.1"));
    assert_eq!(listed[1].user_agent.as_deref(), Some("test"));

    // Another user's session is not theirs to end: nothing changes, nothing is recorded.
    let before = store.recent_events(100).await.unwrap().len();
    assert!(!store
        .end_session("u-1", &SecretHash::of("d"), &ev())
        .await
        .unwrap());
    assert_eq!(store.recent_events(100).await.unwrap().len(), before);
    assert!(store
        .session(&SecretHash::of("d"), NOW)
        .await
        .unwrap()
        .is_some());

    assert!(store
        .end_session("u-1", &SecretHash::of("a"), &ev())
        .await
        .unwrap());
    assert_eq!(store.recent_events(100).await.unwrap().len(), before + 1);
    assert!(store
        .session(&SecretHash::of("a"), NOW)
        .await
        .unwrap()
        .is_none());
    assert!(!store
        .end_session("u-1", &SecretHash::of("a"), &ev())
        .await
        .unwrap());
    assert_eq!(store.user_sessions("u-1", NOW).await.unwrap().len(), 1);
}

async fn clients_are_paged_by_name_and_owner(store: &dyn Store) {
    store
        .create_user(&new_user("u-1", "jay", &["reader"]), &ev())
        .await
        .unwrap();
    for (id, display, owner) in [
        ("c-1", "beta", Some("jay")),
        ("c-2", "alpha", None),
        ("c-3", "beta", None),
        ("c-4", "gamma", Some("jay")),
    ] {
        let mut client = service_client(id, display);
        client.owner = owner.map(name);
        store.create_client(&client, &ev()).await.unwrap();
    }
    let ids = |clients: Vec<heliogate_store::Client>| -> Vec<String> {
        clients
            .into_iter()
            .map(|c| c.client_id.as_str().to_owned())
            .collect()
    };
    // By name, then id; each page starts after the last client of the one before.
    let first = store.clients_page(None, None, 2).await.unwrap();
    assert_eq!(ids(first), ["c-2", "c-1"]);
    let second = store
        .clients_page(None, Some(&cid("c-1")), 2)
        .await
        .unwrap();
    assert_eq!(ids(second), ["c-3", "c-4"]);
    let last = store
        .clients_page(None, Some(&cid("c-4")), 2)
        .await
        .unwrap();
    assert!(last.is_empty());
    let owned = store
        .clients_page(Some(&name("jay")), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(owned), ["c-1", "c-4"]);
    let owned = store
        .clients_page(Some(&name("jay")), Some(&cid("c-1")), 10)
        .await
        .unwrap();
    assert_eq!(ids(owned), ["c-4"]);
    let nobody = store
        .clients_page(Some(&name("kim")), None, 10)
        .await
        .unwrap();
    assert!(nobody.is_empty());
}

async fn personal_tokens_are_kept_listed_and_marked_used(store: &dyn Store) {
    use heliogate_store::{NewPersonalToken, PERSONAL_TOKENS_CLIENT};
    for (id, user) in [("u-1", "jay"), ("u-2", "kim")] {
        store
            .create_user(&new_user(id, user, &["reader"]), &ev())
            .await
            .unwrap();
    }
    // The built-in client they are issued to is no client anyone can find or list.
    assert!(store
        .client(&cid(PERSONAL_TOKENS_CLIENT))
        .await
        .unwrap()
        .is_none());
    assert!(store.list_clients().await.unwrap().is_empty());
    assert!(store.clients_page(None, None, 10).await.unwrap().is_empty());

    let made = |secret: &str, user: &str, name: &str, expires_at: i64| NewPersonalToken {
        key: TokenKey::of(secret),
        user_id: user.into(),
        name: name.into(),
        scope: "read".into(),
        created_at: NOW,
        expires_at,
    };
    for token in [
        made("pat-a", "u-1", "nightly report", NOW + 100),
        made("pat-b", "u-1", "backup", NOW + 200),
        made("pat-old", "u-1", "expired", NOW - 1),
        made("pat-k", "u-2", "kim's", NOW + 100),
    ] {
        store.create_personal_token(&token, &ev()).await.unwrap();
    }
    // An ordinary token of the user is not one of their personal tokens.
    store
        .create_client(&service_client("svc", "Service"), &ev())
        .await
        .unwrap();
    store
        .issue_tokens(token("oauth", "svc", Some("u-1"), NOW + 100), None, None)
        .await
        .unwrap();

    let listed = store.personal_tokens("u-1", NOW).await.unwrap();
    let mut names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["backup", "nightly report"]);
    assert!(listed
        .iter()
        .all(|t| t.last_used_at.is_none() && t.scope.to_string() == "read"));

    // Checked like any access token of the user, and marked when used.
    let found = store
        .access_token(&TokenKey::of("pat-a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.client_id, PERSONAL_TOKENS_CLIENT);
    assert_eq!(found.username.as_deref(), Some("jay"));
    assert_eq!(found.last_used_at, None);
    store
        .personal_token_used(&TokenKey::of("pat-a"), NOW + 5)
        .await
        .unwrap();
    let found = store
        .access_token(&TokenKey::of("pat-a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.last_used_at, Some(NOW + 5));
    // Only personal tokens are marked.
    store
        .personal_token_used(&TokenKey::of("oauth"), NOW + 5)
        .await
        .unwrap();
    let oauth = store
        .access_token(&TokenKey::of("oauth"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(oauth.last_used_at, None);

    // Revoked with the user's tokens, like every other.
    store.revoke_user_tokens("u-1", NOW, &ev()).await.unwrap();
    assert!(store.personal_tokens("u-1", NOW).await.unwrap().is_empty());
    assert_eq!(store.personal_tokens("u-2", NOW).await.unwrap().len(), 1);
}

async fn scope_descriptions_are_seeded_written_and_forgotten(store: &dyn Store) {
    let described = store.scope_descriptions().await.unwrap();
    let words = |all: &[(String, String)], scope: &str| {
        all.iter().find(|(s, _)| s == scope).map(|(_, w)| w.clone())
    };
    assert_eq!(
        words(&described, "openid").as_deref(),
        Some("confirm who you are")
    );
    assert!(words(&described, "read").is_some());
    let write = Scope::parse("write").unwrap();
    store
        .set_scope_description(&write, Some("change your data"), NOW, &ev())
        .await
        .unwrap();
    let launch = Scope::parse("launch").unwrap();
    store
        .set_scope_description(&launch, Some("launch 'rockets' \u{1f680}"), NOW, &ev())
        .await
        .unwrap();
    let described = store.scope_descriptions().await.unwrap();
    assert_eq!(
        words(&described, "write").as_deref(),
        Some("change your data")
    );
    assert_eq!(
        words(&described, "launch").as_deref(),
        Some("launch 'rockets' \u{1f680}")
    );
    store
        .set_scope_description(&write, None, NOW, &ev())
        .await
        .unwrap();
    let described = store.scope_descriptions().await.unwrap();
    assert_eq!(words(&described, "write"), None);
}

async fn an_imported_disabled_client_is_enabled_once(store: &dyn Store) {
    let batch = heliogate_store::ImportBatch {
        clients: vec![
            service_client("legacy", "Legacy"),
            service_client("fine", "Fine"),
        ],
        disabled_clients: vec!["legacy".into()],
        ..Default::default()
    };
    let counts = store.import(&batch, &ev(), &|_| {}).await.unwrap();
    assert_eq!(counts.clients, 2);
    let legacy = store.client(&cid("legacy")).await.unwrap().unwrap();
    assert!(legacy.disabled);
    assert!(!store.client(&cid("fine")).await.unwrap().unwrap().disabled);

    let before = store.recent_events(100).await.unwrap().len();
    assert!(store
        .enable_client(&cid("legacy"), NOW, &ev())
        .await
        .unwrap());
    assert!(
        !store
            .client(&cid("legacy"))
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    // Enabling again changes and records nothing.
    assert!(!store
        .enable_client(&cid("legacy"), NOW, &ev())
        .await
        .unwrap());
    assert_eq!(store.recent_events(100).await.unwrap().len(), before + 1);
    assert!(matches!(
        store.enable_client(&cid("nothing"), NOW, &ev()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn upstream_identities_link_once_and_follow_their_upstream(store: &dyn Store) {
    let corp = Upstream {
        name: "corp".into(),
        preset: "oidc".into(),
        issuer: "https://login.corp.example".into(),
        client_id: "heliogate".into(),
        client_secret: Some(b"HGK1sealed".to_vec()),
        scopes: "openid email".into(),
        display_name: "Corp".into(),
        provision: "create".into(),
        default_roles: r#"["reader"]"#.into(),
        role_claim: Some("groups".into()),
        role_map: r#"{"data-team":"writer"}"#.into(),
        trust_mfa: true,
        managed_by: None,
        created_at: NOW,
    };
    store.create_upstream(&corp, &ev()).await.unwrap();
    assert!(matches!(
        store.create_upstream(&corp, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.upstream("corp").await.unwrap(), Some(corp.clone()));
    assert_eq!(store.list_upstreams().await.unwrap(), vec![corp.clone()]);

    // A user made together with their identity; the identity links to one user only.
    let identity = UpstreamIdentity {
        issuer: corp.issuer.clone(),
        subject: "248289761001".into(),
        upstream: "corp".into(),
        user_id: "u-ann".into(),
        email: Some("ann@corp.example".into()),
        mapped_roles: "[]".into(),
        created_at: NOW,
        last_used_at: Some(NOW),
    };
    let ann = store
        .provision_user(&new_user("u-ann", "ann", &["reader"]), &identity, &ev())
        .await
        .unwrap();
    assert_eq!(ann.name, "ann");
    store
        .create_user(&new_user("u-bob", "bob", &["reader"]), &ev())
        .await
        .unwrap();
    let again = UpstreamIdentity {
        user_id: "u-bob".into(),
        ..identity.clone()
    };
    assert!(matches!(
        store.link_identity(&again, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    // A taken name makes no user and links nothing.
    let other = UpstreamIdentity {
        subject: "other".into(),
        user_id: "u-x".into(),
        ..identity.clone()
    };
    assert!(matches!(
        store
            .provision_user(&new_user("u-x", "bob", &["reader"]), &other, &ev())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .upstream_identity(&corp.issuer, "other")
            .await
            .unwrap(),
        None
    );

    // A sign-in records itself and moves the user's roles in one step.
    let roles = [role("reader"), role("writer")];
    let ann_name = name("ann");
    store
        .upstream_signed_in(
            &UpstreamSignIn {
                issuer: &corp.issuer,
                subject: "248289761001",
                email: Some("ann@corp.example"),
                mapped_roles: r#"["writer"]"#,
                roles: Some((&ann_name, &roles)),
                now: NOW + 5,
            },
            &named("user.roles_changed"),
        )
        .await
        .unwrap();
    let linked = store
        .upstream_identity(&corp.issuer, "248289761001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.mapped_roles, r#"["writer"]"#);
    assert_eq!(linked.last_used_at, Some(NOW + 5));
    let ann = store.user_by_id("u-ann").await.unwrap().unwrap();
    assert_eq!(ann.roles, vec!["reader", "writer"]);
    assert_eq!(
        store.user_identities("u-ann").await.unwrap(),
        vec![linked.clone()]
    );

    // Addresses are found whatever their case.
    store
        .set_email(
            &name("bob"),
            Some(&Email::parse("Bob@Corp.example").unwrap()),
            NOW,
            &ev(),
        )
        .await
        .unwrap();
    let found = store.users_with_email("bob@corp.example").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "bob");

    // Unlinking is the user's own identity only; deleting the upstream unlinks the rest.
    assert!(!store
        .unlink_identity("u-bob", &corp.issuer, "248289761001", &ev())
        .await
        .unwrap());
    store.delete_upstream("corp", &ev()).await.unwrap();
    assert!(store.user_identities("u-ann").await.unwrap().is_empty());
    assert!(matches!(
        store.delete_upstream("corp", &ev()).await,
        Err(StoreError::NotFound(_))
    ));
}
