//! An OpenID provider the test scripts, for what a real one will not do on request: sign an ID
//! token for another audience, with another key, already expired, with another nonce, or
//! answer with another issuer. Otherwise it is a provider: discovery, keys, an authorization
//! endpoint that signs its one user in at once, a token endpoint that checks the client, the
//! code (once) and its PKCE verifier, and user info.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "heliogate-rp";
pub const CLIENT_SECRET: &str = "a-secret-only-the-two-of-them-know";

/// How the provider misbehaves on the next sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Twist {
    None,
    /// The ID token is for another client.
    Audience,
    /// The ID token is signed with a key the provider does not publish (same `kid`).
    Signature,
    /// The ID token expired long ago.
    Expired,
    /// The ID token carries another nonce.
    Nonce,
    /// The authorization response names another issuer (RFC 9207).
    Issuer,
}

/// The user the provider signs in.
#[derive(Debug, Clone)]
pub struct Person {
    pub sub: String,
    pub preferred_username: String,
    pub email: String,
    pub email_verified: bool,
    pub groups: Vec<String>,
    pub amr: Vec<String>,
}

impl Person {
    pub fn new(sub: &str, name: &str) -> Person {
        Person {
            sub: sub.into(),
            preferred_username: name.into(),
            email: format!("{name}@corp.example"),
            email_verified: true,
            groups: Vec::new(),
            amr: vec!["pwd".into()],
        }
    }
}

struct Key {
    encoding: EncodingKey,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let der = secret.to_pkcs8_der().unwrap();
    let point = secret.public_key().to_encoded_point(false);
    Key {
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        }),
    }
}

struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    used: bool,
}

struct Script {
    issuer: String,
    person: Person,
    twist: Twist,
    key: Key,
    stranger: Key,
    grants: HashMap<String, Grant>,
    codes: u32,
}

/// A running scripted provider.
#[derive(Clone)]
pub struct Provider {
    pub issuer: String,
    script: Arc<Mutex<Script>>,
}

impl Provider {
    pub async fn start(person: Person) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            issuer: issuer.clone(),
            person,
            twist: Twist::None,
            key: key("k1"),
            stranger: key("k1"),
            grants: HashMap::new(),
            codes: 0,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(Arc::clone(&script));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Provider { issuer, script }
    }

    pub fn twist(&self, twist: Twist) {
        self.script.lock().unwrap().twist = twist;
    }

    pub fn person(&self, change: impl FnOnce(&mut Person)) {
        change(&mut self.script.lock().unwrap().person);
    }

    /// Publishes a new signing key (the old one is gone): a rotation.
    pub fn rotate_key(&self) {
        let mut script = self.script.lock().unwrap();
        let n = script.codes;
        script.key = key(&format!("k-rotated-{n}"));
    }
}

type Shared = State<Arc<Mutex<Script>>>;

async fn discovery(State(script): Shared) -> Json<Value> {
    let issuer = script.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(script): Shared) -> Json<Value> {
    Json(json!({ "keys": [script.lock().unwrap().key.jwk.clone()] }))
}

async fn authorize(State(script): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut script = script.lock().unwrap();
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    if !ok {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    script.codes += 1;
    let code = format!("code-{}", script.codes);
    let redirect_uri = q["redirect_uri"].clone();
    script.grants.insert(
        code.clone(),
        Grant {
            nonce: q.get("nonce").cloned().unwrap_or_default(),
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri: redirect_uri.clone(),
            used: false,
        },
    );
    let iss = if script.twist == Twist::Issuer {
        "https://evil.example".to_owned()
    } else {
        script.issuer.clone()
    };
    let mut url = url::Url::parse(&redirect_uri).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.get("state").map_or("", String::as_str))
        .append_pair("iss", &iss);
    Redirect::to(url.as_str()).into_response()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn token(
    State(script): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut script = script.lock().unwrap();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let refuse =
        |error: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = script.grants.get_mut(&code) else {
        return refuse("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if grant.used
        || challenge != grant.challenge
        || form.get("redirect_uri") != Some(&grant.redirect_uri)
    {
        return refuse("invalid_grant");
    }
    grant.used = true;
    let nonce = grant.nonce.clone();
    let now = now();
    let person = script.person.clone();
    let mut claims = json!({
        "iss": script.issuer,
        "sub": person.sub,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "amr": person.amr,
    });
    let mut signer = &script.key;
    match script.twist {
        Twist::Audience => claims["aud"] = json!("another-client"),
        Twist::Expired => {
            claims["iat"] = json!(now - 4000);
            claims["exp"] = json!(now - 3700);
        }
        Twist::Nonce => claims["nonce"] = json!("not-the-nonce-sent"),
        Twist::Signature => signer = &script.stranger,
        Twist::None | Twist::Issuer => {}
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = signer.jwk["kid"].as_str().map(str::to_owned);
    let id_token = jsonwebtoken::encode(&header, &claims, &signer.encoding).unwrap();
    Json(json!({
        "access_token": format!("at-{code}"),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn userinfo(State(script): Shared, headers: HeaderMap) -> Response {
    let script = script.lock().unwrap();
    let token_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer at-code-"));
    if !token_ok {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let p = &script.person;
    Json(json!({
        "sub": p.sub,
        "preferred_username": p.preferred_username,
        "email": p.email,
        "email_verified": p.email_verified,
        "groups": p.groups,
    }))
    .into_response()
}

/// A GitHub Enterprise Server as far as heliogate's GitHub preset reads it: its OAuth 2
/// endpoints (a code once, for its client, with its PKCE verifier) and its REST API's user and
/// addresses.
pub struct GitHub {
    pub base: String,
}

#[derive(Default)]
struct GitHubScript {
    codes: HashMap<String, (String, bool)>,
    next: u32,
}

impl GitHub {
    pub async fn start() -> GitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(GitHubScript::default()));
        let app = Router::new()
            .route("/login/oauth/authorize", get(github_authorize))
            .route("/login/oauth/access_token", post(github_token))
            .route("/api/v3/user", get(github_user))
            .route("/api/v3/user/emails", get(github_emails))
            .with_state(script);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GitHub { base }
    }
}

type GitHubState = State<Arc<Mutex<GitHubScript>>>;

async fn github_authorize(
    State(script): GitHubState,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut script = script.lock().unwrap();
    script.next += 1;
    let code = format!("gh-{}", script.next);
    let challenge = q.get("code_challenge").cloned().unwrap_or_default();
    script.codes.insert(code.clone(), (challenge, false));
    let mut url = url::Url::parse(&q["redirect_uri"]).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.get("state").map_or("", String::as_str));
    Redirect::to(url.as_str()).into_response()
}

async fn github_token(
    State(script): GitHubState,
    Form(form): Form<HashMap<String, String>>,
) -> Json<Value> {
    let mut script = script.lock().unwrap();
    let client_ok = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let code = form.get("code").cloned().unwrap_or_default();
    match script.codes.get_mut(&code) {
        Some((expected, used)) if client_ok && !*used && *expected == challenge => {
            *used = true;
            Json(
                json!({ "access_token": "gho_token", "token_type": "bearer", "scope": "read:user,user:email" }),
            )
        }
        // As GitHub does: 200, with an error.
        _ => Json(json!({ "error": "bad_verification_code" })),
    }
}

fn github_token_ok(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer gho_token")
}

async fn github_user(headers: HeaderMap) -> Response {
    if !github_token_ok(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({ "id": 583231, "login": "octocat", "name": "The Octocat" })).into_response()
}

async fn github_emails(headers: HeaderMap) -> Response {
    if !github_token_ok(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!([
        { "email": "octo@old.example", "primary": false, "verified": true },
        { "email": "octocat@github.example", "primary": true, "verified": true },
    ]))
    .into_response()
}
