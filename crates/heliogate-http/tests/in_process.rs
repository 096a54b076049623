//! The router called in-process (no socket, no binary) on both engines: what an edge must
//! answer whatever the database would make of the input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use heliogate_http::{router, AppState};
use heliogate_store::testing::{Backend, TestDatabase};
use tower::ServiceExt;

mod support;

use support::{config, ISSUER};

async fn on(backend: Backend, test: impl AsyncFnOnce(Router)) {
    let db = TestDatabase::new(backend).await;
    let store = db.store().await;
    let app = router(AppState::new(store.clone(), config(ISSUER)));
    test(app).await;
    store.close().await;
}

heliogate_store::for_each_backend!(crate::on;
    a_nul_byte_in_a_client_id_is_refused_not_an_outage,
    control_characters_are_refused_at_the_edge,
    the_health_endpoints_answer,
    oversized_headers_get_431,
);

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// PostgreSQL refuses a NUL byte in text; that must reach the client as its own error, never
/// as "the database is unavailable".
async fn a_nul_byte_in_a_client_id_is_refused_not_an_outage(app: Router) {
    let authorize = Request::get("/oauth/authorize?response_type=code&client_id=%00")
        .body(Body::empty())
        .unwrap();
    let (status, page) = send(&app, authorize).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("not registered"), "{page}");

    // In a Basic header (base64 of "a\0b:x"): no such client, and nothing that the audit
    // log of the failure cannot hold.
    let token = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, "Basic YQBiOng=")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let (status, body) = send(&app, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("invalid_client"), "{body}");

    // In the form: refused as a malformed request before anything else.
    let token = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "grant_type=client_credentials&client_id=a%00b&client_secret=x",
        ))
        .unwrap();
    let (status, body) = send(&app, token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("invalid_request"), "{body}");
}

async fn the_health_endpoints_answer(app: Router) {
    let (status, _) = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&app, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn an_https_issuer_in_any_case_gets_secure_host_only_cookies() {
    for issuer in [
        "https://login.example",
        "HTTPS://login.example",
        "Https://login.example",
    ] {
        let config = config(issuer);
        assert!(config.secure_cookies(), "{issuer}");
        assert_eq!(config.session_cookie(), "__Host-heliogate_session");
        assert_eq!(config.pre_login_cookie(), "__Host-heliogate_login");
    }
    assert!(!config("http://127.0.0.1:8080").secure_cookies());
}

/// A control character in any form or query field is the sender's error (400), found before
/// the input reaches a rule, the store or the audit log.
async fn control_characters_are_refused_at_the_edge(app: Router) {
    let login = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "username=a%00b&password=x&csrf_token=y&next=%2F",
        ))
        .unwrap();
    let (status, page) = send(&app, login).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");

    let token = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, "Basic YTpi")
        .body(Body::from(
            "grant_type=client_credentials&scope=read%0Awrite",
        ))
        .unwrap();
    let (status, body) = send(&app, token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("invalid_request") && body.contains("control"),
        "{body}"
    );
}

/// RFC 6585 §5: one header over 16 KiB, or headers over 64 KiB in all, get 431 and nothing
/// else happens.
async fn oversized_headers_get_431(app: Router) {
    let big = "x".repeat(20 * 1024);
    let request = Request::get("/healthz")
        .header("x-big", big.as_str())
        .body(Body::empty())
        .unwrap();
    let (status, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let mut many = Request::get("/healthz");
    let part = "y".repeat(8 * 1024);
    for i in 0..10 {
        many = many.header(format!("x-part-{i}"), part.as_str());
    }
    let (status, _) = send(&app, many.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let request = Request::get("/healthz")
        .header("x-fine", part.as_str())
        .body(Body::empty())
        .unwrap();
    let (status, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
}
