//! A person in a real browser: headless Debian Chromium signs in, sees the account page,
//! changes the password, signs out, and cannot get back in without signing in again.

use crate::constants::PASSWORD;
use crate::helpers::{Backend, Server, TestApp};
use crate::webdriver::{chromedriver, Chrome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_changes_the_password_and_signs_out() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["moderator"]).await;
    let server = Server::start(app.command(), app.dir.path()).await;
    let chrome = Chrome::start(driver).await;

    chrome.open(&server.url("/")).await;
    chrome.wait_for_url(&server.url("/login?next=%2F")).await;
    assert!(
        chrome.has_focus("#username").await,
        "the first field has the focus"
    );
    chrome.fill("#username", "alice").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/")).await;
    chrome.wait_for_text(">alice</h1>").await;
    let page = chrome.source().await;
    assert!(
        page.contains(">moderator</span>") && page.contains(">write</span>"),
        "{page}"
    );

    chrome.fill("#current", PASSWORD).await;
    chrome.fill("#new", "a better longer password").await;
    chrome.fill("#confirm", "a better longer password").await;
    chrome
        .click("form[action='/account/password'] button")
        .await;
    chrome.wait_for_url(&server.url("/?password=changed")).await;
    chrome.wait_for_text("Your password was changed").await;

    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_url(&server.url("/login")).await;
    // Neither going back nor opening the page again shows the account without signing in.
    chrome.back().await;
    chrome.wait_for_text("Sign in").await;
    assert!(
        !chrome.source().await.contains(">alice</h1>"),
        "the account page came back from a cache"
    );
    chrome.open(&server.url("/")).await;
    chrome.wait_for_url(&server.url("/login?next=%2F")).await;

    chrome.fill("#username", "alice").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_text("Wrong user name or password.").await;
    chrome.fill("#password", "a better longer password").await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/")).await;
    chrome.wait_for_text(">alice</h1>").await;
}

/// The same person turns on an authenticator app (the test computes its codes), keeps the
/// recovery codes, and is asked for a code at the next sign-in; a replayed code is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_turns_on_an_authenticator_app_and_signs_in_with_it() {
    use heliogate_core::mfa::TotpSecret;
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["reader"]).await;
    let server = Server::start(app.command(), app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let sign_in = async |password: &str| {
        chrome.open(&server.url("/login")).await;
        chrome.fill("#username", "alice").await;
        chrome.fill("#password", password).await;
        chrome.click("button[type=submit]").await;
    };

    sign_in(PASSWORD).await;
    chrome.wait_for_url(&server.url("/")).await;
    chrome.click("a[href='/account/totp']").await;
    chrome.wait_for_url(&server.url("/account/totp")).await;
    let page = chrome.source().await;
    assert!(page.contains("<svg"), "the QR code is shown: {page}");
    let start = page.find("<code id=\"totp-secret\">").unwrap() + 23;
    let end = start + page[start..].find("</code>").unwrap();
    let secret = TotpSecret::from_text(&page[start..end]).unwrap();
    let first = secret.code_at(now());
    chrome.fill("#code", &first).await;
    chrome.click("form[action='/account/totp'] button").await;
    chrome.wait_for_text("Your recovery codes").await;
    assert_eq!(
        chrome.source().await.matches("<li><code>").count(),
        10,
        "ten recovery codes"
    );

    chrome.open(&server.url("/")).await;
    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_url(&server.url("/login")).await;
    sign_in(PASSWORD).await;
    chrome
        .wait_for_url(&server.url("/login/second-factor?next=%2F"))
        .await;
    assert!(
        chrome.has_focus("#code").await,
        "the code field has the focus"
    );
    // The code that turned the app on is spent.
    chrome.fill("#code", &first).await;
    chrome.click("button[type=submit]").await;
    chrome
        .wait_for_text("That code is wrong, or was used already.")
        .await;
    chrome.fill("#code", &secret.code_at(now() + 30)).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/")).await;
    chrome.wait_for_text("Signing in asks for a code").await;
}

/// A person adds a passkey on the account page (Chromium's virtual authenticator), then signs
/// in with it alone, and with it as the second factor after the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_adds_a_passkey_and_signs_in_with_it() {
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["reader"]).await;
    // WebAuthn needs a domain name: the issuer is localhost, on a port chosen here.
    let port = crate::helpers::free_port();
    let base = format!("http://localhost:{port}");
    let mut command = app.command();
    command.args(["--listen", &format!("127.0.0.1:{port}"), "--issuer", &base]);
    let _server = Server::start(command, app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    chrome.add_virtual_authenticator().await;
    let url = |path: &str| format!("{base}{path}");

    chrome.open(&url("/login")).await;
    chrome.fill("#username", "alice").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&url("/")).await;
    chrome.wait_for_text("You have no passkey.").await;
    chrome.fill("#passkey-name", " on this laptop").await;
    chrome.click("#add-passkey").await;
    chrome.wait_for_url(&url("/?passkey=added")).await;
    chrome.wait_for_text("My passkey on this laptop").await;

    // Alone: no user name, no password.
    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_url(&url("/login")).await;
    chrome.click("#passkey-sign-in").await;
    chrome.wait_for_url(&url("/")).await;
    chrome.wait_for_text(">alice</h1>").await;

    // After the password, as the second factor.
    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_url(&url("/login")).await;
    chrome.fill("#username", "alice").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome
        .wait_for_url(&url("/login/second-factor?next=%2F"))
        .await;
    chrome.click("#use-passkey").await;
    chrome.wait_for_url(&url("/")).await;
    chrome.wait_for_text(">alice</h1>").await;
    let audit = app
        .run(&["audit", "list", "--user", "alice", "--json"])
        .await
        .json();
    let amrs: Vec<String> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "login.succeeded")
        .map(|e| e["detail"]["amr"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(amrs[..2], ["pwd hwk mfa", "hwk mfa"], "{amrs:?}");
}

/// A role requires a second factor: the person sets up an authenticator app right after the
/// password, makes recovery codes, signs in with one of them, and is locked out by wrong
/// codes like by wrong passwords.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_requires_a_second_factor_and_wrong_codes_lock() {
    use heliogate_core::mfa::TotpSecret;
    let driver = chromedriver();
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["reader"]).await;
    app.run(&["role", "set-mfa", "reader", "required"])
        .await
        .ok();
    let mut command = app.command();
    command.env("HELIOGATE_LOGIN_MAX_FAILURES", "3");
    let server = Server::start(command, app.dir.path()).await;
    let chrome = Chrome::start(driver).await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let sign_in = async || {
        chrome.open(&server.url("/login")).await;
        chrome.fill("#username", "alice").await;
        chrome.fill("#password", PASSWORD).await;
        chrome.click("button[type=submit]").await;
        chrome
            .wait_for_url(&server.url("/login/second-factor?next=%2F"))
            .await;
    };
    let sign_out = async || {
        chrome.click("form[action='/logout'] button").await;
        chrome.wait_for_url(&server.url("/login")).await;
    };

    // Led through setting up an app before anything else.
    sign_in().await;
    chrome.wait_for_text("Set up an authenticator app").await;
    let page = chrome.source().await;
    let start = page.find("<code id=\"totp-secret\">").unwrap() + 23;
    let end = start + page[start..].find("</code>").unwrap();
    let secret = TotpSecret::from_text(&page[start..end]).unwrap();
    chrome.fill("#code", &secret.code_at(now())).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/")).await;
    chrome.wait_for_text("Signing in asks for a code").await;

    // Recovery codes, made on the account page, each signs in once.
    chrome
        .click("form[action='/account/recovery-codes'] button")
        .await;
    chrome.wait_for_text("Your recovery codes").await;
    let page = chrome.source().await;
    let start = page.find("<li><code>").unwrap() + 10;
    let code = page[start..start + 19].to_owned();
    chrome.open(&server.url("/")).await;
    sign_out().await;
    sign_in().await;
    chrome.fill("#code", &code).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_url(&server.url("/")).await;
    chrome.wait_for_text("Recovery codes left:\n     9").await;
    sign_out().await;

    // Wrong codes lock the account: the right one is refused after the third.
    sign_in().await;
    let form = server.url("/login/second-factor?next=%2F");
    for _ in 0..3 {
        // A fresh form each time, so that the answer awaited is this one's.
        chrome.open(&form).await;
        chrome.fill("#code", "000000").await;
        chrome.click("button[type=submit]").await;
        chrome
            .wait_for_text("That code is wrong, or was used already.")
            .await;
    }
    chrome.open(&form).await;
    chrome.fill("#code", &secret.code_at(now() + 30)).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_text("Too many failed attempts.").await;
}
