//! The front door in-process, on both engines: what a stranger or a greedy client can hold.
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

async fn on(backend: Backend, name: &str, test: impl AsyncFnOnce(Router, &dyn Store)) {
    let Some(db) = TestDatabase::new(backend, name).await else {
        return;
    };
    let store = db.store().await;
    let mut config = config(ISSUER);
    config.edge.feed_streams = 6;
    config.edge.feed_streams_per_client = 4;
    let app = router(AppState::new(store.clone(), config));
    test(app, &*store).await;
    store.close().await;
}

heliogate_store::for_each_backend!(crate::on;
    revocation_feed_streams_are_bounded_per_client_and_per_node,
);

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

async fn revocation_feed_streams_are_bounded_per_client_and_per_node(
    app: Router,
    store: &dyn Store,
) {
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
