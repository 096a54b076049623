//! The web console in a real browser (headless Debian Chromium): a user registers an
//! application, signs in to it and deletes it; a user makes a personal access token, uses it
//! and revokes it; an administrator adds a user who then signs
//! in; a stale administrator is asked to sign in again; a user without `admin` is refused; and
//! axe-core (npm) checks every console page for accessibility. With
//! `HELIOGATE_SCREENSHOTS=1`, the accessibility test also writes the book's screenshots.

use std::path::PathBuf;

use serde_json::Value;

use crate::constants::{CALLBACK, PASSWORD};
use crate::helpers::{Backend, Server, TestApp};
use crate::oauth_helpers::{post_form, query_param, tokeninfo_status, VERIFIER};
use crate::webdriver::{chromedriver, Chrome};

/// The S256 challenge of `VERIFIER` (RFC 7636 §B).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The text of the element with id `id` in a page's source.
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}: {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

async fn sign_in(chrome: &Chrome, server: &Server, name: &str, password: &str) {
    chrome.open(&server.url("/login")).await;
    chrome.fill("#username", name).await;
    chrome.fill("#password", password).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/")).await;
}

async fn sign_out(chrome: &Chrome, server: &Server) {
    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_url(&server.url("/login")).await;
}

/// Registers an application on the console's form; its id and secret as the page shows them.
async fn register(chrome: &Chrome, server: &Server, name: &str) -> (String, String) {
    chrome.open(&server.url("/")).await;
    chrome.click("a[href='/account/clients']").await;
    chrome.wait_for_url(&server.url("/account/clients")).await;
    chrome.click("a[href='/account/clients/new']").await;
    chrome
        .wait_for_url(&server.url("/account/clients/new"))
        .await;
    chrome.fill("#name", name).await;
    chrome.fill("#redirect_uris", CALLBACK).await;
    chrome.click("input[name=scope][value=read]").await;
    chrome.click("form[action='/account/clients'] button").await;
    chrome.wait_for_text("is registered").await;
    let page = chrome.source().await;
    (text_of(&page, "client-id"), text_of(&page, "client-secret"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_registers_an_application_signs_in_to_it_and_deletes_it() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["reader"]).await;
    let server = Server::start(app.command(), app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    sign_in(&chrome, &server, "alice", PASSWORD).await;
    let (id, secret) = register(&chrome, &server, "Alice's notebook").await;

    // The application sends alice to sign in and asks for her consent.
    let authorize = server.url(&format!(
        "/oauth/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback\
         &scope=read&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    chrome.open(&authorize).await;
    chrome.wait_for_text("Allow Alice").await;
    chrome.click("button[value=approve]").await;
    let callback = chrome.wait_for_url_prefix(CALLBACK).await;
    assert_eq!(query_param(&callback, "state").as_deref(), Some("s1"));
    let code = query_param(&callback, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let issued: Value = post_form(&server, "/oauth/token", Some((&id, &secret)), &form)
        .await
        .json()
        .await
        .unwrap();
    let token = issued["access_token"].as_str().unwrap();
    assert_eq!(issued["scope"], "read");
    assert_eq!(tokeninfo_status(&server, token).await, 200);

    // Deleted from the list: its token stops working.
    chrome.open(&server.url("/account/clients")).await;
    chrome.wait_for_text(&id).await;
    chrome
        .click("form[action='/account/clients/delete'] button")
        .await;
    chrome
        .wait_for_url(&server.url("/account/clients?deleted=1"))
        .await;
    chrome
        .wait_for_text("You have registered no application.")
        .await;
    assert_eq!(tokeninfo_status(&server, token).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_makes_a_personal_token_uses_it_and_revokes_it() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["moderator"]).await;
    let server = Server::start(app.command(), app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    sign_in(&chrome, &server, "alice", PASSWORD).await;

    chrome.click("a[href='/account/tokens']").await;
    chrome.wait_for_url(&server.url("/account/tokens")).await;
    chrome.fill("#token-name", "nightly report").await;
    chrome.click("input[name=scope][value=read]").await;
    chrome.click("form[action='/account/tokens'] button").await;
    chrome.wait_for_text("shown this once").await;
    let token = text_of(&chrome.source().await, "token-value");

    // A script uses it.
    let info: Value = crate::oauth_helpers::tokeninfo(&server, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["scope"], serde_json::json!(["read"]));
    let alice_id = app.run(&["user", "show", "alice", "--json"]).await.json()["id"].clone();
    assert_eq!(info["sub"], alice_id);
    assert_eq!(info["client_id"], heliogate_store::PERSONAL_TOKENS_CLIENT);

    // The list shows its use; revoked there, it stops working.
    chrome.open(&server.url("/account/tokens")).await;
    chrome.wait_for_text("nightly report").await;
    assert!(!chrome.source().await.contains(">never<"));
    chrome
        .click("form[action='/account/tokens/revoke'] button")
        .await;
    chrome
        .wait_for_url(&server.url("/account/tokens?revoked=1"))
        .await;
    chrome
        .wait_for_text("You have no personal access token.")
        .await;
    assert_eq!(tokeninfo_status(&server, &token).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_a_user_who_then_signs_in() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("root", &["administrator"]).await;
    let server = Server::start(app.command(), app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    sign_in(&chrome, &server, "root", PASSWORD).await;

    chrome.click("a[href='/admin/']").await;
    chrome.wait_for_url(&server.url("/admin/")).await;
    chrome.click("a[href='/admin/users']").await;
    chrome.click("a[href='/admin/users/new']").await;
    chrome.wait_for_url(&server.url("/admin/users/new")).await;
    chrome.fill("#name", "bob").await;
    chrome.fill("#email", "bob@example.org").await;
    chrome.click("input[name=role][value=reader]").await;
    chrome.click("form[action='/admin/users'] button").await;
    chrome.wait_for_text("bob was added").await;
    let password = text_of(&chrome.source().await, "one-time-password");
    chrome.open(&server.url("/")).await;
    sign_out(&chrome, &server).await;

    // Bob signs in with it and is asked to choose his own first.
    sign_in(&chrome, &server, "bob", &password).await;
    chrome.wait_for_text("choose one of your own").await;
    chrome.fill("#current", &password).await;
    chrome.fill("#new", "bob's own long password").await;
    chrome.fill("#confirm", "bob's own long password").await;
    chrome
        .click("form[action='/account/password'] button")
        .await;
    chrome.wait_for_url(&server.url("/?password=changed")).await;
    let shown = app.run(&["user", "show", "bob", "--json"]).await.json();
    assert_eq!(shown["roles"], serde_json::json!(["reader"]));
    assert_eq!(shown["email"], "bob@example.org");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_administrator_is_asked_to_sign_in_again() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("root", &["administrator"]).await;
    let mut command = app.command();
    command.env("HELIOGATE_ADMIN_REAUTH", "2");
    let server = Server::start(command, app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    sign_in(&chrome, &server, "root", PASSWORD).await;
    chrome.open(&server.url("/admin/users")).await;
    chrome.wait_for_text(">root</a>").await;

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    chrome.open(&server.url("/admin/roles")).await;
    chrome
        .wait_for_url(&server.url("/login?again=1&next=%2Fadmin%2Froles"))
        .await;
    chrome.wait_for_text("sign in again").await;
    chrome.fill("#username", "root").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/admin/roles")).await;
    chrome.wait_for_text("New role").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_admin_is_refused_the_administration() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["moderator"]).await;
    let server = Server::start(app.command(), app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    sign_in(&chrome, &server, "alice", PASSWORD).await;
    assert!(
        !chrome.source().await.contains("href=\"/admin/\""),
        "no way to the administration is shown"
    );
    chrome.open(&server.url("/admin/")).await;
    chrome.wait_for_text("Not allowed").await;
    chrome
        .wait_for_text("your roles do not give you the admin scope")
        .await;
}

/// axe-core's script, installed by `npm ci` in `tests/axe`.
fn axe_script() -> String {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/axe/node_modules/axe-core/axe.min.js"
    ));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("this test needs axe-core: run `npm ci` in tests/axe"))
}

/// The serious and critical violations axe finds on the page the browser shows.
async fn violations(chrome: &Chrome, axe: &str) -> Vec<Value> {
    chrome.execute(&format!("{axe}\nreturn true;")).await;
    let found = chrome
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({
                   id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-failed', impact: 'critical', help: String(e) }]));",
        )
        .await;
    found
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_passes_the_accessibility_check() {
    let driver = chromedriver();
    let axe = axe_script();
    let screenshots = std::env::var("HELIOGATE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let shots = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/src/screenshots"
    ));
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("root", &["administrator"]).await;
    for name in ["alice", "bob", "carol"] {
        app.add_user(name, &["reader"]).await;
    }
    // An identity provider, and alice's identity there.
    app.run(&[
        "upstream",
        "add",
        "corp",
        "--issuer",
        "https://login.corp.example",
        "--client-id",
        "heliogate",
        "--display-name",
        "Corp SSO",
        "--role-claim",
        "groups",
        "--role-map",
        "data-team=writer",
    ])
    .await
    .ok();
    app.run(&[
        "upstream",
        "link",
        "corp",
        "--user",
        "alice",
        "--subject",
        "a-1",
    ])
    .await
    .ok();
    let server = Server::start(app.command(), app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    let mut found = Vec::new();
    let mut check = async |chrome: &Chrome, what: &str, shot: Option<&str>| {
        for v in violations(chrome, &axe).await {
            found.push(format!("{what}: {v}"));
        }
        if let (true, Some(name)) = (screenshots, shot) {
            std::fs::create_dir_all(&shots).unwrap();
            std::fs::write(shots.join(name), chrome.screenshot().await).unwrap();
        }
    };

    chrome.resize(1100, 900).await;
    chrome.open(&server.url("/login")).await;
    check(&chrome, "/login", None).await;
    sign_in(&chrome, &server, "root", PASSWORD).await;
    check(&chrome, "/", None).await;
    let (_, _) = register(&chrome, &server, "Team dashboard").await;
    check(&chrome, "the new secret", None).await;
    // The form sent back with an error, tied to its field.
    chrome.open(&server.url("/account/clients/new")).await;
    chrome.fill("#name", "Broken").await;
    chrome.fill("#redirect_uris", "not a uri").await;
    chrome.click("input[name=scope][value=read]").await;
    chrome.click("form[action='/account/clients'] button").await;
    chrome.wait_for_text("form-error").await;
    check(&chrome, "the registration form with an error", None).await;

    // A new personal token, shown once.
    chrome.open(&server.url("/account/tokens")).await;
    chrome.fill("#token-name", "nightly report").await;
    chrome.click("input[name=scope][value=read]").await;
    chrome.click("form[action='/account/tokens'] button").await;
    chrome.wait_for_text("shown this once").await;
    check(&chrome, "the new token", Some("tokens.png")).await;

    let pages = [
        ("/account/tokens", None),
        ("/account/clients", Some("applications.png")),
        ("/account/clients/new", Some("register-application.png")),
        ("/account/sessions", Some("sessions.png")),
        ("/admin/", None),
        ("/admin/users", Some("admin-users.png")),
        ("/admin/users/new", None),
        ("/admin/users/alice", Some("admin-user.png")),
        ("/admin/roles", Some("admin-roles.png")),
        ("/admin/clients", None),
        ("/admin/clients/new", None),
        ("/admin/audit", Some("admin-audit.png")),
        ("/admin/audit?event=bad%20event", None),
        ("/admin/upstreams?user=alice", Some("admin-upstreams.png")),
    ];
    for (path, shot) in pages {
        chrome.open(&server.url(path)).await;
        chrome.wait_for_text("</h1>").await;
        check(&chrome, path, shot).await;
    }
    chrome.open(&server.url("/admin/users/new")).await;
    chrome.fill("#name", "dave").await;
    chrome.click("input[name=role][value=reader]").await;
    chrome.click("form[action='/admin/users'] button").await;
    chrome.wait_for_text("dave was added").await;
    check(&chrome, "the one-time password", None).await;

    // A phone's width: the pages still pass.
    chrome.resize(360, 740).await;
    for path in ["/admin/users", "/account/clients", "/admin/audit"] {
        chrome.open(&server.url(path)).await;
        chrome.wait_for_text("</h1>").await;
        check(&chrome, &format!("{path} at 360 px"), None).await;
    }
    chrome.open(&server.url("/account/sessions")).await;
    check(
        &chrome,
        "/account/sessions at 360 px",
        Some("phone-sessions.png"),
    )
    .await;

    // A refusal page, as a user without `admin` sees it.
    chrome.resize(1100, 900).await;
    chrome.open(&server.url("/")).await;
    sign_out(&chrome, &server).await;
    sign_in(&chrome, &server, "alice", PASSWORD).await;
    chrome.open(&server.url("/admin/")).await;
    chrome.wait_for_text("Not allowed").await;
    check(&chrome, "the 403 page", None).await;

    assert!(
        found.is_empty(),
        "accessibility violations:\n{}",
        found.join("\n")
    );
}
