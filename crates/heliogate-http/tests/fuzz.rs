//! A bounded fuzz of the HTTP surface, in-process on both engines: the OAuth and OpenID
//! endpoints and the pages get random methods, repeated and hostile parameters, bytes that are
//! not UTF-8, odd content types, and credentials that are missing, forged or real. Whatever
//! comes, the answer is never a 5xx. `HELIOGATE_FUZZ_CASES` sets how many requests an engine
//! gets (default 400; CI sends more).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use heliogate_app::account::tokens::{create_personal_token, NewToken};
use heliogate_app::admin::{self, AddClient, AddUser};
use heliogate_app::Actor;
use heliogate_http::{router, AppState};
use heliogate_store::testing::{Backend, TestDatabase};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use support::{config, ISSUER};
use tower::ServiceExt;

async fn on(backend: Backend, test: impl AsyncFnOnce(Router, Credentials)) {
    let db = TestDatabase::new(backend).await;
    let store = db.store().await;
    let state = AppState::new(store.clone(), config(ISSUER));
    let app = state.app.clone();
    let actor = Actor::cli();
    let root = AddUser {
        name: "root".into(),
        roles: vec!["administrator".into()],
        email: None,
        password: "correct horse battery".into(),
    };
    admin::add_user(&*store, &actor, root).await.unwrap();
    let client = AddClient {
        name: "web".into(),
        redirect_uris: vec!["https://web.example/cb".into()],
        grant_types: vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
        ],
        scopes: vec!["openid".into(), "read".into()],
        introspect: true,
        ..AddClient::default()
    };
    let client = admin::add_client(&*store, &actor, client).await.unwrap();
    let (session_id, csrf) = support::sign_in(&*store, "root", "correct horse battery").await;
    let user = store
        .user_by_name(&heliogate_core::UserName::parse("root").unwrap())
        .await
        .unwrap()
        .unwrap();
    let token = NewToken {
        name: "fuzz".into(),
        scopes: vec!["admin".into(), "read".into()],
        days: 1,
    };
    let (_, bearer) = create_personal_token(&app, &actor, &user, app.now(), token)
        .await
        .unwrap();
    let credentials = Credentials {
        session: session_id,
        csrf,
        bearer,
        client_id: client.client_id,
        client_secret: client.client_secret.unwrap(),
    };
    test(router(state), credentials).await;
    store.close().await;
}

heliogate_store::for_each_backend!(crate::on;
    no_request_gets_a_server_error,
);

/// Real credentials the fuzz may use, so that it reaches past the gates.
#[derive(Debug, Clone)]
struct Credentials {
    session: String,
    csrf: String,
    bearer: String,
    client_id: String,
    client_secret: String,
}

const PATHS: &[&str] = &[
    "/",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/oauth/authorize",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/tokeninfo",
    "/oauth/userinfo",
    "/oauth/jwks",
    "/oauth/logout",
    "/login",
    "/login/second-factor",
    "/login/passkey",
    "/login/passkey/options",
    "/logout",
    "/account/password",
    "/account/applications/revoke",
    "/account/clients",
    "/account/clients/new",
    "/account/clients/secret",
    "/account/clients/delete",
    "/account/tokens",
    "/account/tokens/revoke",
    "/account/sessions",
    "/account/sessions/end",
    "/account/totp",
    "/account/recovery-codes",
    "/account/mfa/remove",
    "/admin/",
    "/admin/users",
    "/admin/users/{}",
    "/admin/users/{}/change",
    "/admin/users/{}/password",
    "/admin/users/{}/delete",
    "/admin/roles",
    "/admin/roles/{}",
    "/admin/scopes",
    "/admin/clients",
    "/admin/clients/edit",
    "/admin/audit",
    "/api/v1/users/{}",
    "/api/v1/clients/{}",
    "/healthz",
    "/metrics",
];

const NAMES: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "grant_type",
    "refresh_token",
    "token",
    "token_type_hint",
    "resource",
    "prompt",
    "max_age",
    "acr_values",
    "id_token_hint",
    "post_logout_redirect_uri",
    "access_token",
    "username",
    "password",
    "next",
    "csrf_token",
    "decision",
    "name",
    "cursor",
    "scopes",
    "days",
    "redirect_uris",
    "grant_type",
    "client_type",
    "email",
    "roles",
    "disabled",
    "read_at",
];

/// A value as a form or query carries it, percent-encoded or not: hostile text, bytes that are
/// not UTF-8 (`%FF`), NUL, huge numbers, or a value that means something.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "(%[0-9A-Fa-f]{2}){0,12}",
        Just("%00".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("https%3A%2F%2Fweb.example%2Fcb".to_owned()),
        Just("openid%20read".to_owned()),
        Just("code".to_owned()),
        Just("authorization_code".to_owned()),
        Just("client_credentials".to_owned()),
        Just("refresh_token".to_owned()),
        Just("approve".to_owned()),
        Just("S256".to_owned()),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                proptest::sample::select(NAMES).prop_map(str::to_owned),
                "[a-z_%]{0,8}"
            ],
            value(),
        ),
        0..10,
    )
}

fn encoded(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Debug, Clone)]
struct Fuzzed {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<&'static str>,
    body: Body_,
    auth: usize,
    form_csrf: bool,
}

#[derive(Debug, Clone)]
enum Body_ {
    Form(Vec<(String, String)>),
    Bytes(Vec<u8>),
}

fn request() -> impl Strategy<Value = Fuzzed> {
    // Mostly what the routes take, so that most requests reach a handler.
    let method = prop_oneof![
        4 => Just(Method::GET),
        5 => Just(Method::POST),
        1 => proptest::sample::select(vec![
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ]),
    ];
    let path = (proptest::sample::select(PATHS), "[a-z0-9%.-]{0,12}")
        .prop_map(|(path, part)| path.replace("{}", &part));
    let content_type = proptest::sample::select(vec![
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        Some("text/plain"),
        Some("application/x-www-form-urlencoded;;;"),
    ]);
    let body = prop_oneof![
        pairs().prop_map(Body_::Form),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Body_::Bytes),
    ];
    (
        method,
        path,
        pairs(),
        content_type,
        body,
        0..5usize,
        any::<bool>(),
    )
        .prop_map(
            |(method, path, query, content_type, body, auth, form_csrf)| Fuzzed {
                method,
                path,
                query,
                content_type,
                body,
                auth,
                form_csrf,
            },
        )
}

fn build(fuzzed: &Fuzzed, credentials: &Credentials) -> Request<Body> {
    let uri = if fuzzed.query.is_empty() {
        fuzzed.path.clone()
    } else {
        format!("{}?{}", fuzzed.path, encoded(&fuzzed.query))
    };
    let mut request = Request::builder().method(fuzzed.method.clone()).uri(uri);
    if let Some(content_type) = fuzzed.content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let basic = |id: &str, secret: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    request = match fuzzed.auth {
        1 => request.header(
            header::COOKIE,
            format!("heliogate_session={}", credentials.session),
        ),
        2 => request.header(
            header::AUTHORIZATION,
            format!("Bearer {}", credentials.bearer),
        ),
        3 => request.header(
            header::AUTHORIZATION,
            basic(&credentials.client_id, &credentials.client_secret),
        ),
        4 => request
            .header(
                header::COOKIE,
                "heliogate_session=forged; heliogate_login=x",
            )
            .header(header::AUTHORIZATION, "Basic %%%"),
        _ => request,
    };
    let body = match &fuzzed.body {
        Body_::Form(pairs) => {
            let mut form = encoded(pairs);
            if fuzzed.form_csrf {
                form.push_str(&format!("&csrf_token={}", credentials.csrf));
            }
            Body::from(form)
        }
        Body_::Bytes(bytes) => Body::from(bytes.clone()),
    };
    request
        .body(body)
        .unwrap_or_else(|_| Request::get("/healthz").body(Body::empty()).unwrap())
}

async fn no_request_gets_a_server_error(app: Router, credentials: Credentials) {
    let cases: u32 = std::env::var("HELIOGATE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut runner = TestRunner::deterministic();
    let strategy = request();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..cases {
        let fuzzed = strategy.new_tree(&mut runner).unwrap().current();
        let request = build(&fuzzed, &credentials);
        let shown = format!("{:?} {}", request.method(), request.uri());
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{shown} {fuzzed:?} → {status} {}",
            String::from_utf8_lossy(&body)
        );
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    // The fuzz reached past the gates: not everything was refused the same way.
    assert!(statuses.len() >= 4, "{statuses:?}");
    eprintln!("{cases} requests: {statuses:?}");
}
