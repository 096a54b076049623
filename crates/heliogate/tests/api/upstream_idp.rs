//! A real upstream: panva's node oidc-provider (npm, `tests/openid-client/upstream-idp.mjs`),
//! which users sign in through — by plain HTTP, its pages' forms filled as a browser fills
//! them, and in headless Chromium from heliogate's sign-in page. A role that requires a second
//! factor still asks for one after the upstream's sign-in.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::{free_port, hidden_fields, location, Backend, Browser, Server, TestApp};
use crate::openid_client::relying_party;
use crate::webdriver::{chromedriver, Chrome};

const CLIENT_ID: &str = "heliogate";
const CLIENT_SECRET: &str = "a-long-secret-for-the-upstream-client";

/// The provider's process.
struct Idp {
    child: Child,
    issuer: String,
}

impl Idp {
    fn start(redirect_uri: &str, users: Value) -> Idp {
        let port = free_port();
        let mut child = Command::new("node")
            .arg(relying_party().join("upstream-idp.mjs"))
            .args([
                &port.to_string(),
                CLIENT_ID,
                CLIENT_SECRET,
                redirect_uri,
                &users.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // Whatever it prints later is read, so that it never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap()["listening"],
            port,
            "{line}"
        );
        Idp {
            child,
            issuer: format!("http://localhost:{port}"),
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// heliogate serving with the provider added as `idp` (users made on first sign-in, readers,
/// writers when in the `data-team` group).
async fn federated(app: &TestApp, users: Value) -> (Server, Idp) {
    let server = app.serve(&[]).await;
    let idp = Idp::start(
        &format!("{}/login/upstream/idp/callback", server.base),
        users,
    );
    app.run_with_input(
        &[
            "upstream",
            "add",
            "idp",
            "--issuer",
            &idp.issuer,
            "--client-id",
            CLIENT_ID,
            "--client-secret-stdin",
            "--display-name",
            "the IdP",
            "--scope",
            "openid",
            "--scope",
            "email",
            "--scope",
            "profile",
            "--scope",
            "groups",
            "--provision",
            "create",
            "--default-role",
            "reader",
            "--role-claim",
            "groups",
            "--role-map",
            "data-team=writer",
        ],
        &format!("{CLIENT_SECRET}\n"),
    )
    .await
    .ok();
    (server, idp)
}

/// Follows a sign-in through the provider's pages as a browser does: each redirect, and each
/// page's form submitted with its fields (the user name and any password where asked) until
/// the provider sends the browser back to heliogate; heliogate's answer.
async fn sign_in_at_provider(browser: &Browser, server: &Server, user: &str) -> reqwest::Response {
    let start = browser.get("/login/upstream/idp?next=/").await;
    assert_eq!(start.status(), 303, "{:?}", start.text().await);
    let mut url = url::Url::parse(location(&start)).unwrap();
    for _ in 0..20 {
        if url.as_str().starts_with(&server.base) {
            return browser.client.get(url.as_str()).send().await.unwrap();
        }
        let answer = browser.client.get(url.as_str()).send().await.unwrap();
        if answer.status().is_redirection() {
            url = url.join(location(&answer)).unwrap();
            continue;
        }
        let page = answer.text().await.unwrap();
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no form on {url}: {page}"));
        let mut form = hidden_fields(&page);
        if page.contains("name=\"login\"") {
            form.push(("login".into(), user.into()));
            form.push(("password".into(), "any password".into()));
        }
        let posted = browser
            .client
            .post(url.join(action).unwrap())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(posted.status().is_redirection(), "{}", posted.status());
        url = url.join(location(&posted)).unwrap();
    }
    panic!("the provider never sent the browser back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sign_in_through_node_oidc_provider_over_http() {
    let app = TestApp::new(Backend::Sqlite).await;
    let users = json!({
        "erin": { "email": "erin@idp.example", "email_verified": true, "groups": ["data-team"] },
        "frank": { "email": "frank@idp.example", "email_verified": true, "groups": [] },
    });
    let (server, _idp) = federated(&app, users).await;

    let browser = Browser::new(&server);
    let answer = sign_in_at_provider(&browser, &server, "erin").await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert_eq!(location(&answer), "/");
    let page = browser.get("/").await.text().await.unwrap();
    assert!(page.contains(">erin</h1>"), "{page}");
    let erin = app.run(&["user", "show", "erin", "--json"]).await.json();
    assert_eq!(erin["roles"], json!(["reader", "writer"]));
    assert_eq!(erin["email"], "erin@idp.example");
    let log = app.audit("login.succeeded").await;
    assert_eq!(log["events"][0]["detail"]["amr"], "fed", "{log}");

    // A role that requires a second factor asks for it after the upstream's sign-in: frank,
    // made a reader, sets one up before he is signed in.
    app.run(&["role", "set-mfa", "reader", "required"])
        .await
        .ok();
    let browser = Browser::new(&server);
    let answer = sign_in_at_provider(&browser, &server, "frank").await;
    assert_eq!(answer.status(), 303);
    assert!(
        location(&answer).starts_with("/login/second-factor"),
        "{}",
        location(&answer)
    );
    assert!(browser.session_cookie().is_none());
    let page = browser.get(location(&answer)).await.text().await.unwrap();
    assert!(page.contains("authenticator app"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_node_oidc_provider_in_chromium() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    let users = json!({ "gina": { "email": "gina@idp.example", "email_verified": true } });
    let (server, idp) = federated(&app, users).await;
    let chrome = Chrome::start(driver).await;

    chrome.open(&server.url("/")).await;
    chrome.wait_for_url(&server.url("/login?next=%2F")).await;
    chrome.wait_for_text("Sign in with the IdP").await;
    chrome.click(".upstreams a").await;
    // The provider's own pages: its sign-in, then its consent.
    chrome
        .wait_for_url_prefix(&format!("{}/interaction/", idp.issuer))
        .await;
    chrome.fill("input[name=login]", "gina").await;
    chrome.fill("input[name=password]", "any password").await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_text("Authorize").await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/")).await;
    chrome.wait_for_text(">gina</h1>").await;
    let page = chrome.source().await;
    assert!(page.contains("Linked identities"), "{page}");
}
