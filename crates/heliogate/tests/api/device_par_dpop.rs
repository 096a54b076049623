//! The refusals of the device grant (RFC 8628 §3.5), of pushed authorization requests (RFC
//! 9126 §2–§4) and of DPoP (RFC 9449 §4.3, §7, §8, §11) at heliogate and at heliogate-guard,
//! clause by clause, on both engines. (openid-client runs the flows end to end:
//! `openid_client.rs`.)

use axum::routing::get;
use axum::{Json, Router};
use heliogate_dpop::{ProofClaims, ProofKey};
use heliogate_guard::{Caller, Guard};
use serde_json::{json, Value};

use crate::helpers::{location, Server, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_8628_polls_are_answered_clause_by_clause,
    wrong_user_codes_are_throttled_like_passwords,
    rfc_9126_pushed_requests_are_refused_clause_by_clause,
    a_pushed_request_asking_for_a_fresh_sign_in_gets_one,
    rfc_9449_proofs_bind_tokens_and_are_refused_clause_by_clause,
    the_guard_checks_dpop_proofs_for_its_service,
);

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn device_client(app: &TestApp) -> String {
    let (id, _) = register(
        app,
        &["--public", "--grant-type", "device_code", "--scope", "read"],
    )
    .await;
    id
}

async fn start_device(server: &Server, client_id: &str) -> Value {
    let started = post_form(
        server,
        "/oauth/device_authorization",
        None,
        &[("client_id", client_id), ("scope", "read")],
    )
    .await;
    assert_eq!(started.status(), 200);
    started.json().await.unwrap()
}

async fn poll(server: &Server, client_id: &str, device_code: &str) -> (u16, String) {
    json_error(
        post_form(
            server,
            "/oauth/token",
            None,
            &[
                ("grant_type", DEVICE_GRANT),
                ("client_id", client_id),
                ("device_code", device_code),
            ],
        )
        .await,
    )
    .await
}

/// Answers the device's request with carol's browser.
async fn answer(server: &Server, user_code: &str, decision: &str) -> u16 {
    let browser = signed_in(server, "carol").await;
    let csrf = browser.csrf("/device").await;
    browser
        .post(
            "/device",
            &[
                ("csrf_token", &csrf),
                ("user_code", user_code),
                ("decision", decision),
            ],
        )
        .await
        .status()
        .as_u16()
}

async fn rfc_8628_polls_are_answered_clause_by_clause(app: TestApp) {
    add_carol(&app).await;
    let id = device_client(&app).await;
    let (web, web_secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    // §3.1: a client without the grant may not ask.
    let refused = post_form(
        &server,
        "/oauth/device_authorization",
        Some((&web, &web_secret)),
        &[],
    )
    .await;
    assert_eq!(
        json_error(refused).await,
        (400, "unauthorized_client".into())
    );

    let started = start_device(&server, &id).await;
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(started["interval"], 5);
    assert_eq!(started["expires_in"], 600);
    // §3.5: pending, then too fast.
    assert_eq!(
        poll(&server, &id, device_code).await,
        (400, "authorization_pending".into())
    );
    assert_eq!(
        poll(&server, &id, device_code).await,
        (400, "slow_down".into())
    );
    // Another client's code, and no code at all, are invalid grants.
    let other = device_client(&app).await;
    assert_eq!(
        poll(&server, &other, device_code).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(
        poll(&server, &id, "nothing").await,
        (400, "invalid_grant".into())
    );
    // Denied.
    assert_eq!(answer(&server, user_code, "deny").await, 200);
    assert_eq!(
        poll(&server, &id, device_code).await,
        (400, "access_denied".into())
    );

    // Approved: tokens once (the poll is not too fast: the interval is kept as last set,
    // so a new request is used), then the code is spent.
    let started = start_device(&server, &id).await;
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(
        answer(&server, started["user_code"].as_str().unwrap(), "approve").await,
        200
    );
    let issued = post_form(
        &server,
        "/oauth/token",
        None,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", &id),
            ("device_code", device_code),
        ],
    )
    .await;
    assert_eq!(issued.status(), 200);
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["scope"], "read");
    let token = issued["access_token"].as_str().unwrap();
    assert_eq!(tokeninfo_status(&server, token).await, 200);
    assert_eq!(
        poll(&server, &id, device_code).await,
        (400, "invalid_grant".into())
    );
    // A replayed device code takes its tokens with it, as a replayed code does.
    assert_eq!(tokeninfo_status(&server, token).await, 401);
    // A code answered already cannot be answered again.
    assert_eq!(
        answer(&server, started["user_code"].as_str().unwrap(), "approve").await,
        400
    );
}

async fn tokeninfo_status(server: &Server, token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/oauth/tokeninfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wrong_user_codes_are_throttled_like_passwords(app: TestApp) {
    add_carol(&app).await;
    let id = device_client(&app).await;
    let server = app.serve(&[]).await;
    let started = start_device(&server, &id).await;
    let browser = signed_in(&server, "carol").await;
    let csrf = browser.csrf("/device").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let guess = browser
            .post(
                "/device",
                &[("csrf_token", &csrf), ("user_code", "BCDF-GHJK")],
            )
            .await;
        statuses.push(guess.status().as_u16());
    }
    assert_eq!(statuses[0], 400);
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Locked: even the right code waits.
    let right = browser
        .post(
            "/device",
            &[
                ("csrf_token", &csrf),
                ("user_code", started["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(right.status(), 429);
}

fn key() -> ProofKey {
    ProofKey::generate().unwrap()
}

fn proof(
    key: &ProofKey,
    method: &str,
    uri: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> String {
    key.proof(ProofClaims {
        method,
        uri,
        access_token: token,
        nonce,
        iat: now(),
    })
}

/// A client-credentials token request with `proof`.
async fn dpop_token(server: &Server, client: (&str, &str), proof: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/oauth/token"))
        .basic_auth(client.0, Some(client.1))
        .header("dpop", proof)
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap()
}

/// The server's nonce, from a first request without one (§8).
async fn nonce(server: &Server, client: (&str, &str), key: &ProofKey) -> String {
    let first = dpop_token(
        server,
        client,
        &proof(key, "POST", &server.url("/oauth/token"), None, None),
    )
    .await;
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(json_error(first).await, (400, "use_dpop_nonce".into()));
    nonce
}

async fn rfc_9449_proofs_bind_tokens_and_are_refused_clause_by_clause(app: TestApp) {
    let (rs, rs_secret) = register_resource_server(&app).await;
    let (bound, bound_secret) = register(
        &app,
        &[
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--require-dpop",
        ],
    )
    .await;
    let client = (bound.as_str(), bound_secret.as_deref().unwrap());
    let server = app.serve(&[]).await;
    let token_uri = server.url("/oauth/token");
    // --require-dpop: no proof, no token.
    let plain = post_form(
        &server,
        "/oauth/token",
        Some(client),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(json_error(plain).await, (400, "invalid_dpop_proof".into()));

    let key = key();
    let nonce = nonce(&server, client, &key).await;
    let good = proof(&key, "POST", &token_uri, None, Some(&nonce));
    let issued = dpop_token(&server, client, &good).await;
    assert_eq!(issued.status(), 200);
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["token_type"], "DPoP");
    let token = issued["access_token"].as_str().unwrap().to_owned();
    // §11.1: the same proof again is a replay.
    let replay = dpop_token(&server, client, &good).await;
    assert_eq!(json_error(replay).await, (400, "invalid_dpop_proof".into()));
    // §4.3: wrong htm, wrong htu, a bad nonce.
    for wrong in [
        proof(&key, "GET", &token_uri, None, Some(&nonce)),
        proof(
            &key,
            "POST",
            &server.url("/oauth/revoke"),
            None,
            Some(&nonce),
        ),
    ] {
        let answer = dpop_token(&server, client, &wrong).await;
        assert_eq!(json_error(answer).await, (400, "invalid_dpop_proof".into()));
    }
    let stale = proof(&key, "POST", &token_uri, None, Some("1.forged"));
    assert_eq!(
        json_error(dpop_token(&server, client, &stale).await).await,
        (400, "use_dpop_nonce".into())
    );

    // Introspection names the key (§6.2).
    let introspected: Value = post_form(
        &server,
        "/oauth/introspect",
        Some((&rs, &rs_secret)),
        &[("token", &token)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(introspected["token_type"], "DPoP", "{introspected}");
    assert_eq!(introspected["cnf"]["jkt"], key.jkt());

    // §7 at tokeninfo: as DPoP with a proof of its key, for this request, once.
    let info = server.url("/oauth/tokeninfo");
    let present = |scheme: &str, proof: Option<String>| {
        let mut request = reqwest::Client::new()
            .get(&info)
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let right = proof(&key, "GET", &info, Some(&token), None);
    assert_eq!(
        present("DPoP", Some(right.clone())).await.unwrap().status(),
        200
    );
    assert_eq!(
        present("DPoP", Some(right)).await.unwrap().status(),
        401,
        "replay"
    );
    assert_eq!(
        present("Bearer", None).await.unwrap().status(),
        401,
        "as Bearer"
    );
    assert_eq!(
        present("DPoP", None).await.unwrap().status(),
        401,
        "no proof"
    );
    let stranger = self::key();
    let theirs = proof(&stranger, "GET", &info, Some(&token), None);
    assert_eq!(
        present("DPoP", Some(theirs)).await.unwrap().status(),
        401,
        "wrong key"
    );
    let wrong_ath = proof(&key, "GET", &info, Some("another token"), None);
    assert_eq!(
        present("DPoP", Some(wrong_ath)).await.unwrap().status(),
        401,
        "wrong ath"
    );
    let wrong_htm = proof(&key, "POST", &info, Some(&token), None);
    let refused = present("DPoP", Some(wrong_htm)).await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("invalid_dpop_proof"),
        "{challenge}"
    );
}

async fn the_guard_checks_dpop_proofs_for_its_service(app: TestApp) {
    let (rs, rs_secret) = register_resource_server(&app).await;
    let (caller, caller_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let client = (caller.as_str(), caller_secret.as_deref().unwrap());
    let server = app.serve(&[]).await;
    let key = key();
    let nonce = nonce(&server, client, &key).await;
    let issued: Value = dpop_token(
        &server,
        client,
        &proof(
            &key,
            "POST",
            &server.url("/oauth/token"),
            None,
            Some(&nonce),
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();

    async fn whoami(caller: Caller) -> Json<Value> {
        Json(json!({ "sub": caller.sub, "jkt": caller.jkt }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let guard = Guard::discover(&server.base)
        .await
        .unwrap()
        .introspection_client(&rs, &rs_secret)
        .origin(&base);
    let service = Router::new().route("/read", get(whoami).layer(guard.require("read")));
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let url = format!("{base}/read");
    let http = reqwest::Client::new();
    let call = |scheme: &str, proof: Option<String>| {
        let mut request = http
            .get(&url)
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let right = proof(&key, "GET", &url, Some(&token), None);
    let passed = call("DPoP", Some(right.clone())).await.unwrap();
    assert_eq!(passed.status(), 200);
    let passed: Value = passed.json().await.unwrap();
    assert_eq!(passed["jkt"], key.jkt());
    assert_eq!(
        call("DPoP", Some(right)).await.unwrap().status(),
        401,
        "replay"
    );
    let as_bearer = call("Bearer", None).await.unwrap();
    assert_eq!(as_bearer.status(), 401, "as Bearer");
    assert!(as_bearer.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("DPoP "));
    assert_eq!(call("DPoP", None).await.unwrap().status(), 401, "no proof");
    let elsewhere = proof(&key, "GET", &format!("{base}/write"), Some(&token), None);
    assert_eq!(
        call("DPoP", Some(elsewhere)).await.unwrap().status(),
        401,
        "wrong htu"
    );
    let stranger = self::key();
    let theirs = proof(&stranger, "GET", &url, Some(&token), None);
    assert_eq!(
        call("DPoP", Some(theirs)).await.unwrap().status(),
        401,
        "wrong key"
    );
}

/// RFC 7636 §B's challenge, of `VERIFIER`.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn push(
    server: &Server,
    client: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    post_form(server, "/oauth/par", client, form).await
}

async fn rfc_9126_pushed_requests_are_refused_clause_by_clause(app: TestApp) {
    add_carol(&app).await;
    let (id, secret) = register_web(&app).await;
    let (other, other_secret) = register_web(&app).await;
    let client = (id.as_str(), secret.as_str());
    let server = app.serve(&[]).await;
    let request = [
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("scope", "read"),
        ("state", "s-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    // §2: the client authenticates as at the token endpoint.
    assert_eq!(
        json_error(push(&server, None, &request).await).await,
        (401, "invalid_client".into())
    );
    let wrong = (id.as_str(), "not the secret");
    assert_eq!(
        json_error(push(&server, Some(wrong), &request).await).await,
        (401, "invalid_client".into())
    );
    // §2.1: no request_uri inside a pushed request; the request is validated here, answered as JSON.
    let mut nested = request.to_vec();
    nested.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    assert_eq!(
        json_error(push(&server, Some(client), &nested).await).await,
        (400, "invalid_request".into())
    );
    let mut elsewhere = request.to_vec();
    elsewhere[1] = ("redirect_uri", "https://attacker.example/cb");
    assert_eq!(
        json_error(push(&server, Some(client), &elsewhere).await).await,
        (400, "invalid_request".into())
    );
    let mut unknown = request.to_vec();
    unknown[2] = ("scope", "launch-missiles");
    assert_eq!(
        json_error(push(&server, Some(client), &unknown).await).await,
        (400, "invalid_scope".into())
    );
    let without_pkce: Vec<_> = request
        .iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .copied()
        .collect();
    assert_eq!(
        json_error(push(&server, Some(client), &without_pkce).await).await,
        (400, "invalid_request".into())
    );

    let pushed = push(&server, Some(client), &request).await;
    assert_eq!(pushed.status(), 201);
    assert_eq!(pushed.headers()["cache-control"], "no-store");
    let pushed: Value = pushed.json().await.unwrap();
    assert_eq!(pushed["expires_in"], 60);
    let request_uri = pushed["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let encoded: String = url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect();

    let browser = signed_in(&server, "carol").await;
    // §4: only the client that pushed it may use it; an unknown one is no request.
    let theirs = format!("/oauth/authorize?client_id={other}&request_uri={encoded}");
    assert_eq!(browser.get(&theirs).await.status(), 400);
    let unknown = format!("/oauth/authorize?client_id={id}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Anope");
    assert_eq!(browser.get(&unknown).await.status(), 400);
    // §4: parameters sent beside request_uri are ignored: the pushed scope and state stand.
    let url = format!(
        "{}/oauth/authorize?client_id={id}&request_uri={encoded}&scope=write&state=forged",
        server.base
    );
    let callback = authorize(&browser, &server, &url).await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some("s-1"),
        "{callback}"
    );
    let code = query_param(&callback, "code").unwrap();
    let tokens = post_form(
        &server,
        "/oauth/token",
        Some(client),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let tokens: Value = tokens.json().await.unwrap();
    assert_eq!(tokens["scope"], "read", "{tokens}");
    // Used: the same request_uri gets no second code.
    assert_eq!(open(&browser, &server, &url).await.status(), 400);
    let _ = other_secret;
}

/// `prompt=login` in a pushed request: the signed-in user signs in again, once, and comes back
/// to a code (the request's parameters are at the server, so its `prompt` cannot be left out
/// of the way back, as it is for a request in the URL).
async fn a_pushed_request_asking_for_a_fresh_sign_in_gets_one(app: TestApp) {
    add_carol(&app).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "carol").await;
    let pushed: Value = push(
        &server,
        Some((&id, &secret)),
        &[
            ("response_type", "code"),
            ("redirect_uri", CALLBACK),
            ("scope", "read"),
            ("prompt", "login"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let encoded: String =
        url::form_urlencoded::byte_serialize(pushed["request_uri"].as_str().unwrap().as_bytes())
            .collect();
    let path = format!("/oauth/authorize?client_id={id}&request_uri={encoded}");
    let asked = browser.get(&path).await;
    assert_eq!(asked.status(), 303);
    let login = location(&asked).to_owned();
    assert!(
        login.starts_with("/login?") && login.contains("again=1"),
        "{login}"
    );
    // The same session is asked again, however often it comes back.
    assert_eq!(location(&browser.get(&path).await), login);
    let next = query_param(&server.url(&login), "next").unwrap();
    let csrf = browser.csrf(&login).await;
    let again = browser
        .post(
            "/login",
            &[
                ("username", "carol"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(location(&again), next);
    let callback = authorize(&browser, &server, &server.url(&next)).await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");
}
