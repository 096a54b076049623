//! heliogate-guard in an axum service, against a running heliogate: scopes per route, RFC 6750
//! answers, the cache and its single flight, an unreachable heliogate, JWTs verified offline
//! across a key rotation, and revocations by the feed and by the TTL.

use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use heliogate_guard::{Caller, CallerToken, Guard};
use serde_json::{json, Value};

use crate::helpers::{free_port, Server, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_6750_answers_scopes_per_route_and_the_cache,
    concurrent_requests_with_one_new_token_make_one_introspection,
    an_unreachable_heliogate_is_503_never_a_pass,
    jwt_access_tokens_are_verified_offline_and_across_a_key_rotation,
    the_revocation_feed_refuses_ended_tokens_at_once_and_after_a_reconnection,
    without_the_feed_a_revocation_reaches_the_guard_within_its_ttl,
    the_revocation_feed_admits_only_resource_servers,
    the_guard_exchanges_the_callers_token_for_a_downstream_service,
    a_signed_out_users_token_is_refused_by_a_guard_following_the_feed,
);

const API: &str = "https://api.example.org/";

/// heliogate on a port of its own, so that it can be restarted where the guard looks for it.
async fn heliogate(app: &TestApp, port: u16) -> Server {
    let mut command = app.command();
    command.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--issuer",
        &format!("http://127.0.0.1:{port}"),
    ]);
    Server::start(command, app.dir.path()).await
}

/// A resource server's own client (may introspect), and a client that calls it.
async fn clients(app: &TestApp, extra: &[&str]) -> ((String, String), (String, String)) {
    let (rs, rs_secret) = register_resource_server(app).await;
    let mut args = vec![
        "--grant-type",
        "client_credentials",
        "--scope",
        "read",
        "--scope",
        "write",
    ];
    args.extend_from_slice(extra);
    let (caller, caller_secret) = register(app, &args).await;
    ((rs, rs_secret), (caller, caller_secret.unwrap()))
}

async fn token_for(server: &Server, client: (&str, &str), form: &[(&str, &str)]) -> String {
    let mut all = vec![("grant_type", "client_credentials")];
    all.extend_from_slice(form);
    let answer: Value = post_form(server, "/oauth/token", Some(client), &all)
        .await
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

/// Revokes `token` (RFC 7009) as its `client`.
async fn revoke(server: &Server, client: (&str, &str), token: &str) {
    let revoked = post_form(server, "/oauth/revoke", Some(client), &[("token", token)]).await;
    assert_eq!(revoked.status(), 200);
}

/// A guard that introspects with the resource server's client `rs`.
async fn guard_for(server: &Server, (rs, rs_secret): (&str, &str)) -> Guard {
    Guard::discover(&server.base)
        .await
        .unwrap()
        .introspection_client(rs, rs_secret)
}

/// A guarded service's address, and one HTTP client for every call to it (making one costs
/// milliseconds; sharing one across tests' runtimes would not work).
struct Guarded {
    base: String,
    client: reqwest::Client,
}

/// An axum service with guarded routes: `GET /read` needs `read`, `POST /write` needs
/// `write`, `GET /both` needs both.
async fn service(guard: &Guard) -> Guarded {
    async fn whoami(caller: Caller) -> Json<Value> {
        Json(json!({
            "sub": caller.sub,
            "client_id": caller.client_id,
            "scopes": caller.scopes,
            "username": caller.username,
            "user": caller.is_user(),
        }))
    }
    let app = Router::new()
        .route("/read", get(whoami).layer(guard.require("read")))
        .route("/write", post(whoami).layer(guard.require("write")))
        .route("/both", get(whoami).layer(guard.require("read write")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Guarded {
        base,
        client: reqwest::Client::new(),
    }
}

/// What the service answered: status, `WWW-Authenticate`, body.
async fn call(service: &Guarded, path: &str, authorization: Option<&str>) -> (u16, String, String) {
    let url = format!("{}{path}", service.base);
    let mut request = if path == "/write" {
        service.client.post(url)
    } else {
        service.client.get(url)
    };
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, response.text().await.unwrap())
}

async fn status(base: &Guarded, path: &str, token: &str) -> u16 {
    call(base, path, Some(&format!("Bearer {token}"))).await.0
}

async fn introspections(server: &Server) -> u64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("heliogate_token_checks_total{") && l.contains("introspect"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn rfc_6750_answers_scopes_per_route_and_the_cache(app: TestApp) {
    let ((rs, rs_secret), (caller, caller_secret)) = clients(&app, &[]).await;
    let (reader, reader_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let reader_secret = reader_secret.unwrap();
    let server = heliogate(&app, free_port()).await;
    let guard = guard_for(&server, (&rs, &rs_secret)).await;
    let base = service(&guard).await;

    // RFC 6750 §3.1: no token, no error code; a bad token, invalid_token; a malformed
    // request, invalid_request; too few scopes, insufficient_scope with the scope needed.
    let expect = |got: (u16, String, String), status: u16, challenge: &str, body: &str| {
        assert_eq!(got, (status, challenge.to_owned(), body.to_owned()));
    };
    expect(call(&base, "/read", None).await, 401, "Bearer", "");
    expect(
        call(&base, "/read", Some("Basic YTpi")).await,
        401,
        "Bearer",
        "",
    );
    expect(
        call(&base, "/read", Some("Bearer not-a-token")).await,
        401,
        r#"Bearer error="invalid_token""#,
        r#"{"error":"invalid_token"}"#,
    );
    expect(
        call(&base, "/read", Some("Bearer two words")).await,
        400,
        r#"Bearer error="invalid_request""#,
        r#"{"error":"invalid_request"}"#,
    );
    let read_only = token_for(&server, (&reader, &reader_secret), &[]).await;
    expect(
        call(&base, "/write", Some(&format!("Bearer {read_only}"))).await,
        403,
        r#"Bearer error="insufficient_scope", scope="write""#,
        r#"{"error":"insufficient_scope","scope":"write"}"#,
    );
    expect(
        call(&base, "/both", Some(&format!("Bearer {read_only}"))).await,
        403,
        r#"Bearer error="insufficient_scope", scope="read write""#,
        r#"{"error":"insufficient_scope","scope":"read write"}"#,
    );
    // A good token reaches the handler, which gets its caller.
    let both = token_for(
        &server,
        (&caller, &caller_secret),
        &[("scope", "read write")],
    )
    .await;
    let (code, _, body) = call(&base, "/both", Some(&format!("Bearer {both}"))).await;
    assert_eq!(code, 200, "{body}");
    let who: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        who,
        json!({"sub": caller, "client_id": caller, "scopes": ["read", "write"],
               "username": null, "user": false})
    );
    assert_eq!(status(&base, "/write", &both).await, 200);
    // Three requests with one token: one introspection, two answers from the cache.
    let stats = guard.stats();
    assert_eq!((stats.remote_checks, stats.cache_hits), (3, 2), "{stats:?}");

    // A user's token names the user.
    let (_, answer) = alice_tokens(&app, &server).await;
    let user_token = answer["access_token"].as_str().unwrap();
    let (code, _, body) = call(&base, "/read", Some(&format!("Bearer {user_token}"))).await;
    assert_eq!(code, 200, "{body}");
    let who: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&who["username"], &who["user"]),
        (&json!("alice"), &json!(true))
    );
    // A refresh token is not a bearer credential.
    let refresh = answer["refresh_token"].as_str().unwrap();
    assert_eq!(status(&base, "/read", refresh).await, 401);

    // Without a client of its own the guard asks tokeninfo: the same answers.
    let plain = Guard::discover(&server.base).await.unwrap();
    let plain_base = service(&plain).await;
    assert_eq!(status(&plain_base, "/read", &both).await, 200);
    assert_eq!(status(&plain_base, "/write", &read_only).await, 403);
    assert_eq!(status(&plain_base, "/read", "not-a-token").await, 401);
    assert_eq!(status(&plain_base, "/read", refresh).await, 401);
}

async fn concurrent_requests_with_one_new_token_make_one_introspection(app: TestApp) {
    let ((rs, rs_secret), (caller, caller_secret)) = clients(&app, &[]).await;
    let server = heliogate(&app, free_port()).await;
    let guard = guard_for(&server, (&rs, &rs_secret))
        .await
        .cache(1000, Duration::from_secs(30));
    let base = service(&guard).await;
    let token = token_for(&server, (&caller, &caller_secret), &[]).await;
    let before = introspections(&server).await;
    let client = &base.client;
    let requests = (0..100).map(|_| {
        client
            .get(format!("{}/read", base.base))
            .bearer_auth(&token)
            .send()
    });
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.as_ref().unwrap().status() == 200));
    assert_eq!(introspections(&server).await - before, 1);
    assert_eq!(guard.stats().remote_checks, 1);
}

async fn an_unreachable_heliogate_is_503_never_a_pass(app: TestApp) {
    let ((rs, rs_secret), (caller, caller_secret)) = clients(&app, &[]).await;
    let port = free_port();
    let mut server = heliogate(&app, port).await;
    let guard = guard_for(&server, (&rs, &rs_secret)).await;
    let base = service(&guard).await;
    let token = token_for(&server, (&caller, &caller_secret), &[]).await;
    assert_eq!(status(&base, "/read", &token).await, 200);
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).await;
    // A new token, and the known one once its answer is older than the TTL (one second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for token in [token.as_str(), "never-seen"] {
        let (code, challenge, body) = call(&base, "/read", Some(&format!("Bearer {token}"))).await;
        assert_eq!(
            (code, challenge.as_str(), body.as_str()),
            (503, "", r#"{"error":"temporarily_unavailable"}"#)
        );
    }
    // A wrong secret is an outage of the service's own making: 503 too, not 401 for the caller.
    let server = heliogate(&app, port).await;
    let misconfigured = Guard::discover(&server.base)
        .await
        .unwrap()
        .introspection_client(&rs, "wrong");
    let token = token_for(&server, (&caller, &caller_secret), &[]).await;
    assert_eq!(
        status(&service(&misconfigured).await, "/read", &token).await,
        503
    );
}

async fn jwt_access_tokens_are_verified_offline_and_across_a_key_rotation(app: TestApp) {
    let ((rs, rs_secret), (caller, caller_secret)) =
        clients(&app, &["--access-token-format", "jwt", "--resource", API]).await;
    let port = free_port();
    let mut server = heliogate(&app, port).await;
    let guard = guard_for(&server, (&rs, &rs_secret)).await.audience(API);
    let base = service(&guard).await;
    let for_us = token_for(&server, (&caller, &caller_secret), &[("resource", API)]).await;
    let for_others = token_for(&server, (&caller, &caller_secret), &[]).await;
    assert_eq!(jwt_payload(&for_us)["aud"], API);
    assert_eq!(status(&base, "/read", &for_us).await, 200);
    // The guard fetched the key set during that request.
    let fetched = Instant::now();
    // A JWT for another audience (here: its client) is refused.
    assert_eq!(status(&base, "/read", &for_others).await, 401);
    // A forged signature, an ID token's header, an expired or unsigned token: refused here.
    let mut forged = for_us.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(status(&base, "/read", &forged).await, 401);
    let parts: Vec<&str> = for_us.split('.').collect();
    let unsigned = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        parts[1]
    );
    assert_eq!(status(&base, "/read", &unsigned).await, 401);
    assert_eq!(guard.stats().jwt_verified, 1);
    assert_eq!(guard.stats().remote_checks, 0);

    // Offline: heliogate stopped, the JWT still passes (no feed asked for: nothing to ask).
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status(&base, "/read", &for_us).await, 200);

    // A key rotation: the next node signs with a new key the guard has not seen.
    app.run(&["--key-rotation-overlap", "0", "key", "rotate"])
        .await
        .ok();
    let server = heliogate(&app, port).await;
    let rotated = token_for(&server, (&caller, &caller_secret), &[("resource", API)]).await;
    let kid = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    assert_ne!(kid(&rotated), kid(&for_us));
    // The key set is fetched again for an unknown kid at most every ten seconds.
    tokio::time::sleep(Duration::from_millis(10_100).saturating_sub(fetched.elapsed())).await;
    assert_eq!(status(&base, "/read", &rotated).await, 200);
    assert_eq!(status(&base, "/read", &for_us).await, 200);
    // Every check was made here.
    assert_eq!(guard.stats().remote_checks, 0);
}

async fn the_revocation_feed_refuses_ended_tokens_at_once_and_after_a_reconnection(app: TestApp) {
    let ((rs, rs_secret), (caller, caller_secret)) =
        clients(&app, &["--access-token-format", "jwt", "--resource", API]).await;
    let port = free_port();
    let mut server = heliogate(&app, port).await;
    // An hour's TTL: only the feed can make the guard refuse within the test.
    let guard = guard_for(&server, (&rs, &rs_secret))
        .await
        .audience(API)
        .cache(1000, Duration::from_secs(3600))
        .follow_revocations();
    assert!(guard.feed_ready(Duration::from_secs(10)).await);
    let base = service(&guard).await;

    let jwt = token_for(&server, (&caller, &caller_secret), &[("resource", API)]).await;
    let opaque_client = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let opaque_client = (opaque_client.0, opaque_client.1.unwrap());
    let opaque = token_for(&server, (&opaque_client.0, &opaque_client.1), &[]).await;
    for token in [&jwt, &opaque] {
        assert_eq!(status(&base, "/read", token).await, 200);
        assert_eq!(status(&base, "/read", token).await, 200);
    }
    // Revoked (RFC 7009) by their clients: refused as soon as the feed says so.
    let mut latencies = Vec::new();
    for (token, client) in [
        (&jwt, (caller.as_str(), caller_secret.as_str())),
        (
            &opaque,
            (opaque_client.0.as_str(), opaque_client.1.as_str()),
        ),
    ] {
        revoke(&server, client, token).await;
        let at = Instant::now();
        latencies.push(refused_within(&base, token, Duration::from_secs(5)).await);
        assert!(at.elapsed() < Duration::from_secs(5));
    }
    // A disabled user's tokens end with them.
    let (_, answer) = alice_tokens(&app, &server).await;
    let alice = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(status(&base, "/read", &alice).await, 200);
    app.run(&["user", "disable", "alice"]).await.ok();
    latencies.push(refused_within(&base, &alice, Duration::from_secs(5)).await);
    println!("revocation to refusal through the feed: {latencies:?}");
    assert!(guard.stats().feed_revocations >= 3);

    // heliogate stops; a token is revoked meanwhile (on the database); when it is back, the
    // guard reconnects after the last entry it saw and learns of it.
    let later = token_for(&server, (&caller, &caller_secret), &[("resource", API)]).await;
    assert_eq!(status(&base, "/read", &later).await, 200);
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).await;
    app.run(&["token", "revoke", "--client", &caller])
        .await
        .ok();
    let _server = heliogate(&app, port).await;
    assert!(guard.feed_ready(Duration::from_secs(15)).await);
    assert_eq!(status(&base, "/read", &later).await, 401);
}

/// Calls until the token is refused; how long that took.
async fn refused_within(base: &Guarded, token: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        match status(base, "/read", token).await {
            401 => return start.elapsed(),
            200 => tokio::time::sleep(Duration::from_millis(2)).await,
            other => panic!("answered {other}"),
        }
    }
    panic!("still passing after {limit:?}");
}

async fn without_the_feed_a_revocation_reaches_the_guard_within_its_ttl(app: TestApp) {
    let ((rs, rs_secret), (caller, caller_secret)) = clients(&app, &[]).await;
    let server = heliogate(&app, free_port()).await;
    let ttl = Duration::from_secs(3);
    let guard = guard_for(&server, (&rs, &rs_secret)).await.cache(1000, ttl);
    let base = service(&guard).await;
    let token = token_for(&server, (&caller, &caller_secret), &[]).await;
    // Taken before the answer is cached, so that the cache's TTL runs from after it.
    let checked = Instant::now();
    assert_eq!(status(&base, "/read", &token).await, 200);
    revoke(&server, (&caller, &caller_secret), &token).await;
    // The cached answer holds until the TTL, and no longer.
    if checked.elapsed() < ttl / 2 {
        assert_eq!(status(&base, "/read", &token).await, 200);
    }
    refused_within(&base, &token, ttl * 2).await;
    assert!(checked.elapsed() >= ttl);
}

async fn the_revocation_feed_admits_only_resource_servers(app: TestApp) {
    let ((rs, rs_secret), (caller, caller_secret)) = clients(&app, &[]).await;
    let mut server = heliogate(&app, free_port()).await;
    let metadata: Value = reqwest::get(server.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["revocation_feed_endpoint"],
        server.url("/oauth/revocations")
    );
    let feed = |client: Option<(&str, &str)>, last: Option<&str>| {
        let mut request = reqwest::Client::new().get(server.url("/oauth/revocations"));
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        request.send()
    };
    let refused = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body["error"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        refused(feed(None, None).await.unwrap()).await,
        (401, "invalid_client".into())
    );
    assert_eq!(
        refused(feed(Some((&rs, "wrong")), None).await.unwrap()).await,
        (401, "invalid_client".into())
    );
    assert_eq!(
        refused(feed(Some((&caller, &caller_secret)), None).await.unwrap()).await,
        (400, "unauthorized_client".into())
    );
    assert_eq!(
        refused(feed(Some((&rs, &rs_secret)), Some("-1")).await.unwrap()).await,
        (400, "invalid_request".into())
    );

    // A resource server gets `ready` at once, then each revocation as it commits.
    let mut response = feed(Some((&rs, &rs_secret)), None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    let mut next_event = async |seen: &mut String| -> String {
        loop {
            if let Some(end) = seen.find("\n\n") {
                let event: String = seen.drain(..end + 2).collect();
                if !event.starts_with(':') {
                    return event;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    assert_eq!(next_event(&mut seen).await, "event: ready\ndata: {}\n\n");
    let token = token_for(&server, (&caller, &caller_secret), &[]).await;
    revoke(&server, (&caller, &caller_secret), &token).await;
    let event = next_event(&mut seen).await;
    let lines: Vec<&str> = event.lines().collect();
    assert_eq!(lines[0], "event: revoked");
    let id = lines[1].strip_prefix("id: ").unwrap().to_owned();
    let data: Value = serde_json::from_str(lines[2].strip_prefix("data: ").unwrap()).unwrap();
    use sha2::Digest;
    let sha256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(token.as_bytes()));
    assert_eq!(data[0]["sha256"], sha256.as_str());
    assert_eq!(data.as_array().unwrap().len(), 1);

    // A reconnection after the last id gets nothing it saw; one from the start gets it again.
    let mut again = feed(Some((&rs, &rs_secret)), Some(&id)).await.unwrap();
    let first = again.chunk().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&first)
        .unwrap()
        .starts_with("event: ready"));
    let mut fresh = feed(Some((&rs, &rs_secret)), None).await.unwrap();
    let mut replayed = String::new();
    while !replayed.contains("event: ready") {
        let chunk = fresh.chunk().await.unwrap().unwrap();
        replayed.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(replayed.starts_with("event: revoked"), "{replayed}");
    assert!(replayed.contains(&sha256), "{replayed}");

    // Open feeds do not keep the server from stopping.
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
    drop((again, fresh));
}

/// Two nodes on one PostgreSQL: tokens revoked concurrently on one node reach a guard that
/// follows the other's feed, every one of them (the feed's order holds under concurrent
/// commits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_on_one_node_reach_a_guard_that_follows_another() {
    let app = TestApp::new(crate::helpers::Backend::Postgres).await;
    let ((rs, rs_secret), (caller, caller_secret)) =
        clients(&app, &["--access-token-format", "jwt", "--resource", API]).await;
    let port = free_port();
    let a = heliogate(&app, port).await;
    let mut command = app.command();
    command.args([
        "--listen",
        "127.0.0.1:0",
        "--issuer",
        &format!("http://127.0.0.1:{port}"),
    ]);
    let b = Server::start(command, app.dir.path()).await;
    let guard = guard_for(&a, (&rs, &rs_secret))
        .await
        .audience(API)
        .cache(1000, Duration::from_secs(3600))
        .follow_revocations();
    assert!(guard.feed_ready(Duration::from_secs(10)).await);
    let base = service(&guard).await;
    let mut tokens = Vec::new();
    for _ in 0..40 {
        tokens.push(token_for(&a, (&caller, &caller_secret), &[("resource", API)]).await);
    }
    for token in &tokens {
        assert_eq!(status(&base, "/read", token).await, 200);
    }
    let revocations = tokens
        .iter()
        .map(|token| revoke(&b, (&caller, &caller_secret), token));
    futures_util::future::join_all(revocations).await;
    for token in &tokens {
        refused_within(&base, token, Duration::from_secs(5)).await;
    }
    assert_eq!(guard.stats().feed_revocations, 40);
}

/// RFC 8693 from the guard: a route calls a downstream service for its caller with a token
/// exchanged for it, the same one while it lasts, acting for the caller.
async fn the_guard_exchanges_the_callers_token_for_a_downstream_service(app: TestApp) {
    let server = app.serve(&[]).await;
    let (_, answer) = alice_tokens(&app, &server).await;
    let alice = answer["access_token"].as_str().unwrap().to_owned();
    let downstream = "https://downstream.example/";
    let (rs, rs_secret) = register(
        &app,
        &[
            "--grant-type",
            "client_credentials",
            "--grant-type",
            "token_exchange",
            "--scope",
            "read",
            "--introspect",
            "--resource",
            downstream,
        ],
    )
    .await;
    let guard = guard_for(&server, (&rs, rs_secret.as_deref().unwrap())).await;
    let exchanging = guard.clone();
    let relay = move |_caller: Caller, token: CallerToken| {
        let guard = exchanging.clone();
        async move {
            match guard.exchange(&token, downstream, Some("read")).await {
                Ok(exchanged) => Json(json!({ "token": exchanged })),
                Err(e) => Json(json!({ "error": e.to_string() })),
            }
        }
    };
    let app_router = Router::new().route("/relay", get(relay).layer(guard.require("read")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app_router).await.unwrap() });
    let call = || async {
        let answer: Value = reqwest::Client::new()
            .get(format!("{base}/relay"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"))
            .to_owned()
    };
    let first = call().await;
    assert_eq!(call().await, first, "kept until shortly before it expires");
    let info: Value = post_form(
        &server,
        "/oauth/introspect",
        Some((&rs, rs_secret.as_deref().unwrap())),
        &[("token", &first)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(info["active"], true);
    assert_eq!(info["username"], "alice");
    assert_eq!(info["aud"], downstream);
    assert_eq!(info["act"]["sub"], rs.as_str());
}

/// Tokens follow their session to the guard: alice signs out of heliogate, and a service behind
/// a guard that follows the feed refuses the token she got through that session.
async fn a_signed_out_users_token_is_refused_by_a_guard_following_the_feed(app: TestApp) {
    let ((rs, rs_secret), _) = clients(&app, &[]).await;
    let server = app.serve(&[]).await;
    let guard = guard_for(&server, (&rs, &rs_secret))
        .await
        .cache(1000, Duration::from_secs(3600))
        .follow_revocations();
    assert!(guard.feed_ready(Duration::from_secs(10)).await);
    let base = service(&guard).await;
    let alice = alice_session(&app, &server).await;
    let token = alice.tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(status(&base, "/read", &token).await, 200);
    assert_eq!(status(&base, "/read", &token).await, 200);
    assert_eq!(alice.browser.sign_out().await, 303);
    let took = refused_within(&base, &token, Duration::from_secs(1)).await;
    println!("sign-out to refusal at the guard: {took:?}");
}
