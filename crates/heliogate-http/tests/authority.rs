//! A credential never outlives the authority behind it: each change of authority, made through
//! the API or the console as an administrator would, ends at once (no sleep, in-process, on
//! both engines) what it takes away — after the test has seen the credential work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use heliogate_app::account::clients::{register_client, OwnClient};
use heliogate_app::account::tokens::{create_personal_token, NewToken};
use heliogate_app::admin::{self, AddUser};
use heliogate_app::login;
use heliogate_app::{Actor, App, Clock};
use heliogate_core::{TokenKey, UserName};
use heliogate_http::{router, AppState};
use heliogate_store::testing::{Backend, TestDatabase};
use heliogate_store::{AuditFilter, NewAccessToken, NewRefreshToken, Store};
use serde_json::{json, Value};
use sha2::Digest;
use tower::ServiceExt;

mod support;

use support::{config, policy};

const PASSWORD: &str = "correct horse battery";

/// The router, the application object behind it, and an administrator's token to drive the
/// API: `root` holds `administrator`; `bob` holds `ops` (admin read).
struct World {
    router: Router,
    app: App,
    store: std::sync::Arc<dyn Store>,
    root: String,
    /// The id of a client users sign in to.
    webapp: String,
}

async fn on(backend: Backend, test: impl AsyncFnOnce(World)) {
    let db = TestDatabase::new(backend).await;
    let store = db.store().await;
    let state = AppState::new(store.clone(), config(support::ISSUER));
    let app = state.app.clone();
    let router = router(state);
    let actor = Actor::cli();
    admin::add_role(&*store, &actor, "ops", &["admin".into(), "read".into()])
        .await
        .unwrap();
    for (name, role) in [("root", "administrator"), ("bob", "ops")] {
        let input = AddUser {
            name: name.into(),
            roles: vec![role.into()],
            email: None,
            password: PASSWORD.into(),
        };
        admin::add_user(&*store, &actor, input).await.unwrap();
    }
    let webapp = admin::AddClient {
        name: "webapp".into(),
        redirect_uris: vec!["https://webapp.example/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["admin".into(), "read".into(), "write".into()],
        ..admin::AddClient::default()
    };
    let added = admin::add_client(&*store, &actor, webapp).await.unwrap();
    let root = personal_token(&app, "root", &["admin"]).await;
    let world = World {
        router,
        app,
        store: store.clone(),
        root,
        webapp: added.client_id,
    };
    test(world).await;
    store.close().await;
}

heliogate_store::for_each_backend!(crate::on;
    editing_a_role_ends_what_it_no_longer_gives,
    a_users_applications_end_with_their_owner,
    a_disabled_owners_application_tokens_end_and_it_cannot_act,
    a_new_password_ends_every_token,
    a_change_through_the_api_holds_at_this_node_at_once,
    a_stale_session_cannot_make_what_reaches_admin,
    requiring_a_second_factor_ends_password_only_sessions,
    narrowing_a_client_ends_its_tokens_that_carry_what_it_lost,
);

async fn user(app: &App, name: &str) -> heliogate_store::User {
    app.store()
        .user_by_name(&UserName::parse(name).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// A personal access token of `name`'s, made on a fresh sign-in.
async fn personal_token(app: &App, name: &str, scopes: &[&str]) -> String {
    let holder = user(app, name).await;
    let input = NewToken {
        name: format!("{} token", scopes.join(" ")),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        days: 365,
    };
    let actor = Actor {
        name: name.into(),
        client_addr: None,
    };
    let (_, token) = create_personal_token(app, &actor, &holder, app.now(), input)
        .await
        .unwrap();
    token
}

/// An access token and a refresh token of `name`'s, as the token endpoint stores them.
async fn user_tokens(world: &World, name: &str, client: &str, scope: &str) -> (String, String) {
    let holder = user(&world.app, name).await;
    let (access, refresh) = (heliogate_app::new_token(), heliogate_app::new_token());
    let now = world.app.now();
    let family = heliogate_app::new_token_id();
    world
        .store
        .issue_tokens(
            NewAccessToken {
                key: TokenKey::of(&access),
                client_id: client.into(),
                user_id: Some(holder.id.clone()),
                scope: scope.into(),
                family_id: Some(family.clone()),
                audience: None,
                created_at: now,
                expires_at: now + 3600,
                jkt: None,
                subject_key: None,
                act: None,
                sid: None,
            },
            Some(NewRefreshToken {
                key: TokenKey::of(&refresh),
                family_id: family,
                client_id: client.into(),
                user_id: holder.id,
                scope: scope.into(),
                auth_time: Some(now),
                sid: None,
                amr: Some("pwd".into()),
                created_at: now,
                expires_at: now + 86_400,
                jkt: None,
            }),
            None,
        )
        .await
        .unwrap();
    (access, refresh)
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    (status, location.unwrap_or(body))
}

/// An administration API call with `token`.
async fn api(
    world: &World,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::IF_MATCH, "*");
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    };
    let (status, text) = send(&world.router, request.unwrap()).await;
    assert!(
        !status.is_server_error(),
        "{method} {path}: {status} {text}"
    );
    status
}

/// An administration API call as `root`, the administrator.
async fn as_root(world: &World, method: &str, path: &str, body: Option<Value>) -> StatusCode {
    api(world, method, path, &world.root, body).await
}

/// Whether tokeninfo takes `token` as live.
async fn active(world: &World, token: &str) -> bool {
    let request = Request::get("/oauth/tokeninfo")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&world.router, request).await;
    assert!(
        status == StatusCode::OK
            || status == StatusCode::UNAUTHORIZED
            || status == StatusCode::BAD_REQUEST,
        "{status} {body}"
    );
    status == StatusCode::OK
}

/// Whether a refresh token is still usable, as the store keeps it.
async fn refreshable(world: &World, token: &str) -> bool {
    let found = world
        .store
        .refresh_token(&TokenKey::of(token))
        .await
        .unwrap()
        .unwrap();
    found.revoked_at.is_none()
}

/// Whether the revocation feed names `token` (by its SHA-256), for every node and guard.
async fn on_the_feed(world: &World, token: &str) -> bool {
    let sha = sha2::Sha256::digest(token.as_bytes()).to_vec();
    let entries = world
        .store
        .revoked_after(0, world.app.now(), 1000)
        .await
        .unwrap();
    entries.iter().any(|e| e.token_sha256 == sha)
}

/// The `credentials.ended` records about `subject`.
async fn endings(world: &World, subject: &str) -> Vec<Value> {
    let filter = AuditFilter {
        parties: vec![subject.into()],
        event: Some("credentials.ended".into()),
        limit: 100,
        ..AuditFilter::default()
    };
    world
        .store
        .audit_records(&filter)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.subject.as_deref() == Some(subject))
        .map(|r| r.event.detail)
        .collect()
}

async fn editing_a_role_ends_what_it_no_longer_gives(world: World) {
    let admin_token = personal_token(&world.app, "bob", &["admin"]).await;
    let read_token = personal_token(&world.app, "bob", &["read"]).await;
    let (access, refresh) = user_tokens(&world, "bob", &world.webapp, "admin read").await;
    assert_eq!(
        api(&world, "GET", "/api/v1/users", &admin_token, None).await,
        StatusCode::OK
    );
    assert!(active(&world, &access).await && active(&world, &read_token).await);

    // A change that changes nothing ends nothing (and is no error).
    assert_eq!(
        as_root(&world, "PATCH", "/api/v1/roles/ops", Some(json!({}))).await,
        StatusCode::OK
    );
    assert!(active(&world, &access).await);
    let edit = json!({ "scopes": ["read"] });
    assert_eq!(
        as_root(&world, "PATCH", "/api/v1/roles/ops", Some(edit)).await,
        StatusCode::OK
    );
    // At once: the personal token that held admin no longer administers, and every token that
    // carried it is gone; what carries only `read` stays.
    assert_eq!(
        api(&world, "GET", "/api/v1/users", &admin_token, None).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!active(&world, &access).await);
    assert!(!refreshable(&world, &refresh).await);
    assert!(active(&world, &read_token).await);
    assert!(on_the_feed(&world, &admin_token).await && !on_the_feed(&world, &read_token).await);
    let ended = endings(&world, "bob").await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["personal_tokens"], 1);
    assert_eq!(ended[0]["access_tokens"], 1);
    assert_eq!(ended[0]["refresh_tokens"], 1);
    assert_eq!(ended[0]["lost_scopes"], json!(["admin"]));
}

/// Registers an application of bob's with the client-credentials grant and `scopes`, and gets
/// a token for it at the token endpoint.
async fn bobs_application(world: &World, scopes: &[&str]) -> (String, String) {
    let bob = user(&world.app, "bob").await;
    let actor = Actor {
        name: "bob".into(),
        client_addr: None,
    };
    let input = OwnClient {
        name: "bob's bot".into(),
        public: false,
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    };
    let issued = register_client(&world.app, &actor, &bob, world.app.now(), input)
        .await
        .unwrap();
    let (id, secret) = (issued.client_id, issued.client_secret.unwrap());
    let request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}"
        )))
        .unwrap();
    let (status, body) = send(&world.router, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    (id, body["access_token"].as_str().unwrap().to_owned())
}

async fn a_users_applications_end_with_their_owner(world: World) {
    let (client_id, bot) = bobs_application(&world, &["admin"]).await;
    assert_eq!(
        api(&world, "GET", "/api/v1/users", &bot, None).await,
        StatusCode::OK
    );

    assert_eq!(
        as_root(&world, "DELETE", "/api/v1/users/bob", None).await,
        StatusCode::NO_CONTENT
    );
    // The bot cannot create an administrator after its owner is gone, nor act at all.
    let carol = json!({ "name": "carol", "roles": ["administrator"], "password": PASSWORD });
    assert_eq!(
        api(&world, "POST", "/api/v1/users", &bot, Some(carol)).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(on_the_feed(&world, &bot).await);
    let id = heliogate_core::ClientId::parse(&client_id).unwrap();
    assert!(world.store.client(&id).await.unwrap().is_none());
    let ended = endings(&world, "bob").await;
    assert_eq!(
        ended[0]["applications_deleted"],
        json!([client_id]),
        "{ended:?}"
    );

    // A later user of the same name inherits nothing.
    let again = AddUser {
        name: "bob".into(),
        roles: vec!["ops".into()],
        email: None,
        password: PASSWORD.into(),
    };
    admin::add_user(world.app.store(), &Actor::cli(), again)
        .await
        .unwrap();
    assert_eq!(
        api(&world, "GET", "/api/v1/users", &bot, None).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_disabled_owners_application_tokens_end_and_it_cannot_act(world: World) {
    let (client_id, bot) = bobs_application(&world, &["admin", "read"]).await;
    assert!(active(&world, &bot).await);
    let disable = json!({ "disabled": true });
    assert_eq!(
        as_root(&world, "PATCH", "/api/v1/users/bob", Some(disable)).await,
        StatusCode::OK
    );
    assert!(!active(&world, &bot).await);
    let id = heliogate_core::ClientId::parse(&client_id).unwrap();
    // Still registered, to act again when bob is enabled; meanwhile it gets nothing.
    let client = world.store.client(&id).await.unwrap().unwrap();
    assert_eq!(client.owner_id, Some(user(&world.app, "bob").await.id));
    let usable = heliogate_app::scopes::usable_client(world.app.store(), &id)
        .await
        .unwrap()
        .unwrap();
    assert!(usable.scopes.is_empty(), "{:?}", usable.scopes);
    assert_eq!(endings(&world, "bob").await[0]["application_tokens"], 1);
}

async fn a_new_password_ends_every_token(world: World) {
    let token = personal_token(&world.app, "bob", &["read"]).await;
    let (access, refresh) = user_tokens(&world, "bob", &world.webapp, "read").await;
    assert!(active(&world, &token).await && active(&world, &access).await);
    let new = json!({ "password": "a brand new passphrase" });
    assert_eq!(
        as_root(&world, "PUT", "/api/v1/users/bob/password", Some(new)).await,
        StatusCode::NO_CONTENT
    );
    assert!(!active(&world, &token).await && !active(&world, &access).await);
    assert!(!refreshable(&world, &refresh).await);

    // A user who changes their own password keeps the session they changed it in, and
    // nothing else.
    let token = personal_token(&world.app, "bob", &["read"]).await;
    let here = session(&world, "bob", "a brand new passphrase").await;
    let elsewhere = session(&world, "bob", "a brand new passphrase").await;
    let change = login::PasswordChange {
        current: "a brand new passphrase".into(),
        new: "yet another passphrase".into(),
        confirm: "yet another passphrase".into(),
    };
    let bob = user(&world.app, "bob").await;
    login::change_own_password(&world.app, &policy(), &here, &bob, change, None)
        .await
        .unwrap();
    assert!(!active(&world, &token).await);
    assert!(signed_in(&world, &here).await && !signed_in(&world, &elsewhere).await);
}

/// Signs `name` in: the session id the browser would hold.
async fn session(world: &World, name: &str, password: &str) -> String {
    support::sign_in(world.app.store(), name, password).await.0
}

/// Whether the session's cookie still opens the account pages.
async fn signed_in(world: &World, session_id: &str) -> bool {
    let request = Request::get("/account/tokens")
        .header(header::COOKIE, format!("heliogate_session={session_id}"))
        .body(Body::empty())
        .unwrap();
    let (status, _) = send(&world.router, request).await;
    status == StatusCode::OK
}

async fn a_change_through_the_api_holds_at_this_node_at_once(world: World) {
    let token = personal_token(&world.app, "bob", &["read"]).await;
    // Checked once: this node now trusts it for a second.
    assert!(active(&world, &token).await);
    let change = json!({ "roles": ["reader"] });
    assert_eq!(
        as_root(&world, "PATCH", "/api/v1/users/bob", Some(change)).await,
        StatusCode::OK
    );
    // `read` is still held through `reader`.
    assert!(active(&world, &token).await);
    let disable = json!({ "disabled": true });
    assert_eq!(
        as_root(&world, "PATCH", "/api/v1/users/bob", Some(disable)).await,
        StatusCode::OK
    );
    // No sleep: the cache was cleared by the use case.
    assert!(!active(&world, &token).await);
}

/// Posts a console form with the session's CSRF token.
async fn console_form(
    world: &World,
    session_id: &str,
    path: &str,
    form: &str,
) -> (StatusCode, String) {
    let session = world
        .store
        .session(&heliogate_core::SecretHash::of(session_id), world.app.now())
        .await
        .unwrap()
        .unwrap();
    let body = format!("csrf_token={}&{form}", session.csrf_token);
    let request = Request::post(path)
        .header(header::COOKIE, format!("heliogate_session={session_id}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(&world.router, request).await
}

async fn a_stale_session_cannot_make_what_reaches_admin(world: World) {
    let bob = session(&world, "bob", PASSWORD).await;
    let (status, _) = console_form(
        &world,
        &bob,
        "/account/tokens",
        "name=fresh&scope=admin&days=30",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Sixteen minutes on: the session still opens the account pages, but what reaches admin
    // needs a fresh sign-in; what does not, does not.
    let clock = Clock::fixed(world.app.now() + 16 * 60);
    let later = World {
        router: router(AppState::with_clock(
            world.store.clone(),
            config(support::ISSUER),
            clock,
        )),
        ..world
    };
    let (status, location) = console_form(
        &later,
        &bob,
        "/account/tokens",
        "name=stale&scope=admin&days=30",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with("/login?again=1&next=%2Faccount%2Ftokens"),
        "{location}"
    );
    let form = "name=bot&client_type=confidential&grant_type=client_credentials&scope=admin";
    let (status, location) = console_form(&later, &bob, "/account/clients", form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with("/login?again=1&next=%2Faccount%2Fclients%2Fnew"),
        "{location}"
    );
    let (status, _) = console_form(
        &later,
        &bob,
        "/account/tokens",
        "name=reading&scope=read&days=30",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let bob_user = user(&later.app, "bob").await;
    let names: Vec<String> = later
        .store
        .personal_tokens(&bob_user.id, later.app.now())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(!names.contains(&"stale".to_owned()), "{names:?}");
    assert!(names.contains(&"fresh".to_owned()) && names.contains(&"reading".to_owned()));
}

async fn requiring_a_second_factor_ends_password_only_sessions(world: World) {
    let bob = session(&world, "bob", PASSWORD).await;
    let (_, refresh) = user_tokens(&world, "bob", &world.webapp, "read").await;
    assert!(signed_in(&world, &bob).await);
    let change = json!({ "mfa_required": true });
    assert_eq!(
        as_root(&world, "PATCH", "/api/v1/roles/ops", Some(change)).await,
        StatusCode::OK
    );
    // The password-only session must step up: it is ended, and the next sign-in asks for the
    // second factor.
    assert!(!signed_in(&world, &bob).await);
    assert!(!refreshable(&world, &refresh).await);
    let ended = endings(&world, "bob").await;
    assert_eq!(ended[0]["because"], "second factor required", "{ended:?}");

    // Likewise when a user is given a role that requires one.
    let root = session(&world, "root", PASSWORD).await;
    assert!(signed_in(&world, &root).await);
    let change = json!({ "roles": ["administrator", "ops"] });
    assert_eq!(
        as_root(&world, "PATCH", "/api/v1/users/root", Some(change)).await,
        StatusCode::OK
    );
    assert!(!signed_in(&world, &root).await);
}

async fn narrowing_a_client_ends_its_tokens_that_carry_what_it_lost(world: World) {
    let root = user(&world.app, "root").await;
    let actor = Actor::cli();
    let input = admin::AddClient {
        name: "reports".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["read".into(), "write".into()],
        ..admin::AddClient::default()
    };
    let issued = admin::add_client(world.app.store(), &actor, input)
        .await
        .unwrap();
    let id = issued.client_id.clone();
    let (write, _) = user_tokens(&world, "root", &id, "read write").await;
    let (read, _) = user_tokens(&world, "root", &id, "read").await;
    assert!(active(&world, &write).await && active(&world, &read).await);
    let read_view = admin::show_client(world.app.store(), &id).await.unwrap();
    let change = admin::ClientChange {
        scopes: Some(vec!["read".into()]),
        ..admin::ClientChange::default()
    };
    admin::change_client(&world.app, &actor, &read_view, change)
        .await
        .unwrap();
    assert!(!active(&world, &write).await);
    assert!(active(&world, &read).await);
    assert_eq!(endings(&world, &id).await[0]["access_tokens"], 1);
    let _ = root;
}
