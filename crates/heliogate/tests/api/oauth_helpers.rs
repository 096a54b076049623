//! What the OAuth tests share: registering clients, walking a browser through sign-in and
//! consent, and an `oauth2` crate client pointed at the server.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    IntrospectionUrl, PkceCodeChallenge, RedirectUrl, RevocationUrl, Scope, TokenUrl,
};
use serde_json::Value;

use crate::helpers::{hidden_fields, location, Browser, Server, TestApp};

pub use crate::constants::{CALLBACK, PASSWORD};

pub type Client =
    oauth2::basic::BasicClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

/// Registers a client with the CLI; its id and, when confidential, its secret.
pub async fn register(app: &TestApp, extra: &[&str]) -> (String, Option<String>) {
    let mut args = vec!["client", "add", "Test app", "--json"];
    args.extend_from_slice(extra);
    let out = app.run(&args).await.json();
    (
        out["client_id"].as_str().unwrap().to_owned(),
        out["client_secret"].as_str().map(str::to_owned),
    )
}

/// A resource server's own client: client credentials for `read`, and introspection of
/// others' tokens; its id and secret.
pub async fn register_resource_server(app: &TestApp) -> (String, String) {
    let (id, secret) = register(
        app,
        &[
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--introspect",
        ],
    )
    .await;
    (id, secret.unwrap())
}

/// A web application: confidential, authorization code and refresh, read and write.
pub async fn register_web(app: &TestApp) -> (String, String) {
    let (id, secret) = register(
        app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "read",
            "--scope",
            "write",
            "--scope",
            "openid",
            "--scope",
            "offline_access",
        ],
    )
    .await;
    (id, secret.unwrap())
}

/// The `oauth2` crate's client for a registered client.
pub fn oauth_client(server: &Server, id: &str, secret: Option<&str>) -> Client {
    let mut client = BasicClient::new(ClientId::new(id.to_owned()))
        .set_auth_uri(AuthUrl::new(server.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap())
        .set_revocation_url(RevocationUrl::new(server.url("/oauth/revoke")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(server.url("/oauth/introspect")).unwrap());
    if let Some(secret) = secret {
        client = client.set_client_secret(ClientSecret::new(secret.to_owned()));
    }
    client
}

/// The HTTP client the `oauth2` crate sends with: no redirects followed (RFC 9700 §4.11).
/// A JSON document the server publishes at `path` (metadata, the OpenAPI document).
pub async fn get_json<T: serde::de::DeserializeOwned>(server: &Server, path: &str) -> T {
    serde_json::from_str(&get_text(server, path).await).unwrap()
}

/// What the server answers at `path`, as text (metrics, a document).
pub async fn get_text(server: &Server, path: &str) -> String {
    http()
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Undoes HTML escaping of an attribute value.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// One query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The path and query of an absolute URL on the server.
pub fn local(server: &Server, url: &str) -> String {
    url.strip_prefix(&server.base).unwrap_or(url).to_owned()
}

/// Opens an authorization URL as the signed-in `browser`; returns the response.
pub async fn open(browser: &Browser, server: &Server, auth_url: &str) -> reqwest::Response {
    browser.get(&local(server, auth_url)).await
}

/// Approves (or denies) the consent page the browser shows for `auth_url`; returns where the
/// browser is sent.
pub async fn answer_consent(
    browser: &Browser,
    server: &Server,
    auth_url: &str,
    decision: &str,
) -> String {
    let page = open(browser, server, auth_url).await;
    assert_eq!(
        page.status(),
        200,
        "expected a consent page, got a {} to {}",
        page.status(),
        location(&page)
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Allow"), "{html}");
    // As a browser submits it: every hidden field of the form, in order.
    let mut form: Vec<(String, String)> = hidden_fields(&html)
        .into_iter()
        .map(|(name, value)| (name, unescape(&value)))
        .collect();
    form.push(("decision".into(), decision.into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer = browser.post("/oauth/authorize", &pairs).await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    location(&answer).to_owned()
}

/// Signs `name` in on a fresh browser.
pub async fn signed_in(server: &Server, name: &str) -> Browser {
    let browser = Browser::new(server);
    assert_eq!(browser.sign_in(name, PASSWORD).await.status(), 303);
    browser
}

/// Runs consent for `auth_url` (when it is asked for) and returns the redirect with the code.
pub async fn authorize(browser: &Browser, server: &Server, auth_url: &str) -> String {
    let opened = open(browser, server, auth_url).await;
    if opened.status() == 303 {
        return location(&opened).to_owned();
    }
    answer_consent(browser, server, auth_url, "approve").await
}

/// Posts a raw form to a back-channel endpoint.
pub async fn post_form(
    server: &crate::helpers::Server,
    path: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = http().post(server.url(path)).form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

pub async fn json_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

pub async fn tokeninfo(server: &crate::helpers::Server, token: &str) -> reqwest::Response {
    http()
        .get(server.url("/oauth/tokeninfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The status tokeninfo answers for `token`: 200 while it is live, 401 once it is not.
pub async fn tokeninfo_status(server: &crate::helpers::Server, token: &str) -> u16 {
    tokeninfo(server, token).await.status().as_u16()
}

/// Signs alice in, runs the code flow for `scopes`, and returns the tokens.
pub async fn code_flow(
    server: &crate::helpers::Server,
    client: &Client,
    browser: &Browser,
    scopes: &[&str],
) -> oauth2::basic::BasicTokenResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for s in scopes {
        request = request.add_scope(Scope::new((*s).into()));
    }
    let (url, _) = request.url();
    let opened = open(browser, server, url.as_str()).await;
    let callback = if opened.status() == 303 {
        location(&opened).to_owned()
    } else {
        authorize(browser, server, url.as_str()).await
    };
    let code = query_param(&callback, "code").unwrap();
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap()
}

/// A user with an e-mail address, for the claims.
pub async fn add_carol(app: &TestApp) -> String {
    let out = app
        .run_with_input(
            &[
                "user",
                "add",
                "carol",
                "--role",
                "reader",
                "--email",
                "carol@example.org",
                "--password-stdin",
                "--json",
            ],
            &format!("{PASSWORD}\n"),
        )
        .await
        .json();
    out["id"].as_str().unwrap().to_owned()
}

/// RFC 7636 §B's verifier, whose S256 challenge `code_tokens` sends.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Runs the code flow by hand: authorizes with `query` (`scope=…` and anything else) for a
/// code, then exchanges it with `extra` token parameters; the token endpoint's answer.
pub async fn code_tokens(
    server: &Server,
    browser: &Browser,
    (id, secret): (&str, &str),
    query: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let url = format!(
        "{}/oauth/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback\
         &{query}&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.base
    );
    let code = query_param(&authorize(browser, server, &url).await, "code").unwrap();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    form.extend_from_slice(extra);
    post_form(server, "/oauth/token", Some((id, secret)), &form).await
}

/// alice (a reader) signs in to a web application and authorizes it for `read`: the
/// application's id and the token endpoint's answer (an access token acting for her, and a
/// refresh token).
pub async fn alice_tokens(app: &TestApp, server: &Server) -> (String, Value) {
    let alice = alice_session(app, server).await;
    (alice.client.0, alice.tokens)
}

/// alice's sign-in to a web application: the application (id, secret), her browser, and the
/// token endpoint's answer.
pub struct AliceSession {
    pub client: (String, String),
    pub browser: Browser,
    pub tokens: Value,
}

/// As `alice_tokens`, keeping the application's secret and alice's browser.
pub async fn alice_session(app: &TestApp, server: &Server) -> AliceSession {
    app.add_user("alice", &["reader"]).await;
    let (web, web_secret) = register_web(app).await;
    let browser = signed_in(server, "alice").await;
    let tokens = code_tokens(server, &browser, (&web, &web_secret), "scope=read", &[])
        .await
        .json()
        .await
        .unwrap();
    AliceSession {
        client: (web, web_secret),
        browser,
        tokens,
    }
}

/// A client-credentials access token for `client`.
pub async fn client_token(server: &Server, client: (&str, &str)) -> String {
    let form = [("grant_type", "client_credentials")];
    let issued: Value = post_form(server, "/oauth/token", Some(client), &form)
        .await
        .json()
        .await
        .unwrap();
    issued["access_token"].as_str().unwrap().to_owned()
}

/// The claims of a JWT, unverified: for what a test looks at beyond a library.
pub fn jwt_payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
