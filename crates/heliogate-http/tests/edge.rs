//! The front door in-process, on both engines: what a stranger or a greedy client can hold, and
//! the protocol points a conformance run found open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use base64::Engine;
use heliogate_app::admin::{self, AddClient};
use heliogate_app::Actor;
use heliogate_http::{router, AppState};
use heliogate_store::testing::{Backend, TestDatabase};
use heliogate_store::Store;
use support::{config, ISSUER};
use tower::ServiceExt;

/// The router, its store, the database under it (to count rows), and the installation's key.
struct Door<'a> {
    app: Router,
    store: &'a dyn Store,
    db: &'a TestDatabase,
    key: heliogate_core::ServerKey,
}

async fn on(backend: Backend, test: impl AsyncFnOnce(Door<'_>)) {
    let db = TestDatabase::new(backend).await;
    let store = db.store().await;
    let mut config = config(ISSUER);
    config.edge.feed_streams = 6;
    config.edge.feed_streams_per_client = 4;
    let key = config.server_key.clone();
    let app = router(AppState::new(store.clone(), config));
    let door = Door {
        app,
        store: &*store,
        db: &db,
        key,
    };
    test(door).await;
    store.close().await;
}

heliogate_store::for_each_backend!(crate::on;
    revocation_feed_streams_are_bounded_per_client_and_per_node,
    the_authorization_endpoint_accepts_post,
    a_flood_of_failed_client_authentications_writes_a_bounded_log,
    strangers_starting_passkey_sign_ins_write_nothing,
);

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// OpenID Connect Core §3.1.2.1: the authorization endpoint MUST accept POST, with the same
/// checks as GET; the consent form, posted to the same place, still works.
async fn the_authorization_endpoint_accepts_post(door: Door<'_>) {
    let (app, store) = (door.app.clone(), door.store);
    let actor = Actor::cli();
    let client = admin::add_client(
        store,
        &actor,
        AddClient {
            name: "web".into(),
            redirect_uris: vec!["https://web.example/cb".into()],
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["openid".into(), "read".into()],
            ..AddClient::default()
        },
    )
    .await
    .unwrap();
    let request = format!(
        "response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb\
         &scope=openid%20read&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256",
        client.client_id
    );
    let post = |cookie: Option<&str>, body: String| {
        let mut request = Request::post("/oauth/authorize")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(Body::from(body)).unwrap()
    };
    // Signed out: to the sign-in page, which comes back to the same request.
    let (status, location, _) = send(&app, post(None, request.clone())).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with("/login?next=%2Foauth%2Fauthorize%3F"),
        "{location}"
    );
    assert!(location.contains(client.client_id.as_str()), "{location}");

    // Signed in: the consent page, as by GET.
    admin::add_user(
        store,
        &actor,
        admin::AddUser {
            name: "ann".into(),
            roles: vec!["reader".into()],
            email: None,
            password: "correct horse battery".into(),
        },
    )
    .await
    .unwrap();
    let (session_id, csrf) = support::sign_in(store, "ann", "correct horse battery").await;
    let cookie = format!("heliogate_session={session_id}");
    let (status, _, page) = send(&app, post(Some(&cookie), request.clone())).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("name=\"decision\""), "{page}");
    // The same checks as GET: a wrong redirect URI is a page, never a redirect.
    let wrong = request.replace("web.example%2Fcb", "evil.example%2Fcb");
    let (status, location, _) = send(&app, post(Some(&cookie), wrong)).await;
    assert_eq!((status, location.as_str()), (StatusCode::BAD_REQUEST, ""));

    // The consent form it showed, sent back, gives the code.
    let consent = format!("{request}&csrf_token={csrf}&decision=approve");
    let (status, location, _) = send(&app, post(Some(&cookie), consent)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with("https://web.example/cb?code="),
        "{location}"
    );
    // Without its token the form is refused, and nothing is granted.
    let forged = format!("{request}&csrf_token=forged&decision=approve");
    let (status, _, _) = send(&app, post(Some(&cookie), forged)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A resource server's Basic credentials.
async fn resource_server(store: &dyn Store, name: &str) -> String {
    let added = admin::add_client(
        store,
        &Actor::cli(),
        AddClient {
            name: name.into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["read".into()],
            introspect: true,
            ..AddClient::default()
        },
    )
    .await
    .unwrap();
    let pair = format!("{}:{}", added.client_id, added.client_secret.unwrap());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Opens a stream (kept open while the response is held).
async fn follow(app: &Router, basic: &str) -> Response<Body> {
    let request = Request::get("/oauth/revocations")
        .header(header::AUTHORIZATION, basic)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap()
}

async fn revocation_feed_streams_are_bounded_per_client_and_per_node(door: Door<'_>) {
    let (app, store) = (door.app.clone(), door.store);
    let first = resource_server(store, "api-one").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let stream = follow(&app, &first).await;
        assert_eq!(stream.status(), StatusCode::OK);
        held.push(stream);
    }
    // A fifth stream of the same client: 429, come back later.
    let refused = follow(&app, &first).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    // One closed: its place is free again.
    held.pop();
    let again = follow(&app, &first).await;
    assert_eq!(again.status(), StatusCode::OK);
    held.push(again);

    // The node's bound (6 here): another client gets the two places left, then 503.
    let second = resource_server(store, "api-two").await;
    for _ in 0..2 {
        let stream = follow(&app, &second).await;
        assert_eq!(stream.status(), StatusCode::OK);
        held.push(stream);
    }
    let full = follow(&app, &second).await;
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(full.headers().contains_key(header::RETRY_AFTER));
}

/// 1,000 token requests with a wrong secret: each is refused alike, and the audit log gains
/// the first few records and nothing more (the count of the rest follows with the next one a
/// minute later).
async fn a_flood_of_failed_client_authentications_writes_a_bounded_log(door: Door<'_>) {
    let (app, store) = (door.app.clone(), door.store);
    let recorded = || async {
        let filter = heliogate_store::AuditFilter {
            limit: 10_000,
            ..heliogate_store::AuditFilter::default()
        };
        store.audit_records(&filter).await.unwrap().len()
    };
    let before = recorded().await;
    for _ in 0..1000 {
        let request = Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "grant_type=client_credentials&client_id=nobody&client_secret=guess",
            ))
            .unwrap();
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let written = recorded().await - before;
    assert!(written <= 10, "{written} records for 1,000 failures");
    assert!(written >= 1);
}

/// 1,000 passkey sign-ins started by a stranger: each gets its options, and the database gets
/// nothing (the ceremony's state travels signed with the browser).
async fn strangers_starting_passkey_sign_ins_write_nothing(door: Door<'_>) {
    let pre_login = "a-pre-login-session";
    let csrf = door.key.tag("login-form", pre_login);
    let before = door.db.rows("webauthn_challenges").await;
    let audit_before = door.db.rows("audit_log").await;
    let mut ceremonies = std::collections::HashSet::new();
    for _ in 0..1000 {
        let request = Request::post("/login/passkey/options")
            .header(header::COOKIE, format!("heliogate_login={pre_login}"))
            .header("x-csrf-token", csrf.as_str())
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(&door.app, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        ceremonies.insert(body["ceremony"].as_str().unwrap().to_owned());
    }
    assert_eq!(ceremonies.len(), 1000);
    assert_eq!(door.db.rows("webauthn_challenges").await, before);
    assert_eq!(door.db.rows("audit_log").await, audit_before);
}
