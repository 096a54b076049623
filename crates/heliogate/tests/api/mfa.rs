//! Second factors: an authenticator app set up on the account page and asked for after the
//! password, recovery codes, a role that requires a second factor, the lock on wrong codes.

use heliogate_core::mfa::TotpSecret;

use serde_json::Value;

use crate::helpers::{event_names, hidden_fields, location, Browser, TestApp};
use crate::oauth_helpers::{
    code_tokens, jwt_payload, local, post_form, query_param, register, signed_in, unescape,
    CALLBACK, PASSWORD, VERIFIER,
};

heliogate_store::for_each_backend!(crate::helpers::on;
    an_authenticator_app_is_set_up_and_asked_for_after_the_password,
    a_recovery_code_signs_in_once,
    a_role_that_requires_a_second_factor_leads_through_setting_one_up,
    wrong_codes_lock_like_wrong_passwords,
    an_application_asks_for_a_second_factor_and_the_id_token_says_it_was_given,
    authenticator_secrets_are_sealed_under_the_key_encryption_key,
    passkey_ceremonies_refuse_what_a_page_did_not_send,
);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The key a setup page shows, as the person types it into their app.
fn shown_secret(page: &str) -> TotpSecret {
    let start = page.find("<code id=\"totp-secret\">").expect(page) + 23;
    let end = start + page[start..].find("</code>").unwrap();
    TotpSecret::from_text(&page[start..end]).unwrap()
}

fn recovery_codes(page: &str) -> Vec<String> {
    page.split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find("</code>").unwrap()].to_owned())
        .collect()
}

/// Sets up an authenticator app for a signed-in browser: its secret and recovery codes.
async fn set_up(browser: &Browser) -> (TotpSecret, Vec<String>) {
    let page = browser.get("/account/totp").await.text().await.unwrap();
    assert!(page.contains("<svg"), "a QR code: {page}");
    let secret = shown_secret(&page);
    let csrf = browser.csrf("/").await;
    let wrong = browser
        .post(
            "/account/totp",
            &[("code", "000000"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(wrong.status(), 400);
    // The page shown again shows the same key.
    assert_eq!(shown_secret(&wrong.text().await.unwrap()), secret);
    let confirmed = browser
        .post(
            "/account/totp",
            &[("code", &secret.code_at(now())), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(confirmed.headers()["cache-control"], "no-store");
    let codes = recovery_codes(&confirmed.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Signs in with the password and answers the second step with `code`.
async fn sign_in_with(server: &crate::helpers::Server, code: &str) -> (Browser, reqwest::Response) {
    let browser = Browser::new(server);
    let first = browser.sign_in_to("alice", PASSWORD, "/account/x").await;
    assert_eq!(first.status(), 303);
    assert_eq!(location(&first), "/login/second-factor?next=%2Faccount%2Fx");
    assert!(
        browser.session_cookie().is_none(),
        "half signed in is not signed in"
    );
    // Half signed in, nothing else opens.
    assert_eq!(location(&browser.get("/").await), "/login?next=%2F");
    let csrf = browser.csrf("/login/second-factor").await;
    let answered = browser
        .post(
            "/login/second-factor",
            &[
                ("code", code),
                ("csrf_token", &csrf),
                ("next", "/account/x"),
            ],
        )
        .await;
    (browser, answered)
}

async fn an_authenticator_app_is_set_up_and_asked_for_after_the_password(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let (secret, codes) = set_up(&browser).await;
    let account = browser.get("/").await.text().await.unwrap();
    // Reached by an IP address, heliogate offers no passkeys (WebAuthn needs a domain name).
    assert!(!account.contains("Passkeys"), "{account}");
    assert!(
        account.contains("Recovery codes left:\n     10"),
        "{account}"
    );

    // The code used to set it up is not taken again; the next step's is.
    let (_, replayed) = sign_in_with(&server, &secret.code_at(now())).await;
    assert_eq!(replayed.status(), 401);
    let next = secret.code_at(now() + 30);
    let (browser, signed) = sign_in_with(&server, &next).await;
    assert_eq!(signed.status(), 303);
    assert_eq!(location(&signed), "/account/x");
    assert!(browser.session_cookie().is_some());
    assert_eq!(browser.get("/").await.status(), 200);
    let (_, again) = sign_in_with(&server, &next).await;
    assert_eq!(again.status(), 401, "each code once");

    // Without the pending sign-in's cookie, or with another's token, nothing happens.
    let stranger = Browser::new(&server);
    let form = stranger.get("/login/second-factor").await;
    assert_eq!(location(&form), "/login");

    // Removing needs a current code (a recovery code here: the app's next code is 30 s away).
    let csrf = browser.csrf("/").await;
    let refused = browser
        .post(
            "/account/mfa/remove",
            &[("code", "123456"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(location(&refused), "/?mfa=wrong-code");
    let removed = browser
        .post(
            "/account/mfa/remove",
            &[("code", &codes[0]), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(location(&removed), "/?mfa=removed");
    assert_eq!(
        Browser::new(&server)
            .sign_in("alice", PASSWORD)
            .await
            .status(),
        303
    );
    let plain = Browser::new(&server);
    assert_eq!(location(&plain.sign_in("alice", PASSWORD).await), "/");
    let audit = app
        .run(&["audit", "list", "--user", "alice", "--json"])
        .await
        .json();
    let events = event_names(&audit);
    for expected in [
        "mfa.totp_enrolled",
        "login.second_factor_failed",
        "mfa.reset",
    ] {
        assert!(events.contains(&expected), "{expected}: {events:?}");
    }
}

async fn a_recovery_code_signs_in_once(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let (_, codes) = set_up(&browser).await;
    let typed = codes[3].to_lowercase().replace('-', " ");
    let (_, signed) = sign_in_with(&server, &typed).await;
    assert_eq!(signed.status(), 303);
    assert_eq!(location(&signed), "/account/x");
    let (_, again) = sign_in_with(&server, &codes[3]).await;
    assert_eq!(again.status(), 401);
    let shown = app.run(&["user", "show", "alice", "--json"]).await.json();
    assert_eq!(shown["mfa"]["totp"], true);
    assert_eq!(shown["mfa"]["recovery_codes_left"], 9);
    // New codes replace the old ones.
    let csrf = browser.csrf("/").await;
    let made = browser
        .post("/account/recovery-codes", &[("csrf_token", &csrf)])
        .await
        .text()
        .await
        .unwrap();
    let fresh = recovery_codes(&made);
    assert_eq!(fresh.len(), 10);
    let (_, old) = sign_in_with(&server, &codes[4]).await;
    assert_eq!(old.status(), 401);
    let (_, new) = sign_in_with(&server, &fresh[0]).await;
    assert_eq!(new.status(), 303);
    // An administrator resets a user who lost both.
    app.run(&["user", "mfa", "reset", "alice"]).await;
    let shown = app.run(&["user", "show", "alice", "--json"]).await.json();
    assert_eq!(shown["mfa"]["totp"], false);
    assert_eq!(
        location(&Browser::new(&server).sign_in("alice", PASSWORD).await),
        "/"
    );
}

async fn a_role_that_requires_a_second_factor_leads_through_setting_one_up(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    app.run(&["role", "set-mfa", "reader", "required"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    let first = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(location(&first), "/login/second-factor?next=%2F");
    let page = browser
        .get("/login/second-factor")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Set up an authenticator app"), "{page}");
    let secret = shown_secret(&page);
    let csrf = browser.csrf("/login/second-factor").await;
    let wrong = browser
        .post(
            "/login/second-factor",
            &[("code", "000000"), ("csrf_token", &csrf), ("next", "/")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(shown_secret(&wrong.text().await.unwrap()), secret);
    let done = browser
        .post(
            "/login/second-factor",
            &[
                ("code", &secret.code_at(now())),
                ("csrf_token", &csrf),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(location(&done), "/");
    let account = browser.get("/").await.text().await.unwrap();
    assert!(account.contains("Signing in asks for a code"), "{account}");
    // From now on it is asked for like any other.
    let (_, next) = sign_in_with(&server, &secret.code_at(now() + 30)).await;
    assert_eq!(next.status(), 303);
}

async fn wrong_codes_lock_like_wrong_passwords(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app
        .serve(&[
            ("HELIOGATE_LOGIN_MAX_FAILURES", "3"),
            ("HELIOGATE_LOGIN_LOCKOUT", "60"),
        ])
        .await;
    let browser = signed_in(&server, "alice").await;
    let (secret, _) = set_up(&browser).await;
    let pending = Browser::new(&server);
    assert_eq!(pending.sign_in("alice", PASSWORD).await.status(), 303);
    let csrf = pending.csrf("/login/second-factor").await;
    let answer = |code: String| {
        let (pending, csrf) = (&pending, &csrf);
        async move {
            pending
                .post(
                    "/login/second-factor",
                    &[("code", &code), ("csrf_token", csrf), ("next", "/")],
                )
                .await
        }
    };
    for _ in 0..3 {
        assert_eq!(answer("999999".into()).await.status(), 401);
    }
    // Locked: the right code is refused now, and so is the right password.
    let locked = answer(secret.code_at(now() + 30)).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(
        Browser::new(&server)
            .sign_in("alice", PASSWORD)
            .await
            .status(),
        429
    );
}

/// Form fields as a browser sends them: the HTML's character references read.
fn as_a_browser_sends(fields: &[(String, String)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), unescape(v)))
        .collect()
}

async fn an_application_asks_for_a_second_factor_and_the_id_token_says_it_was_given(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--scope",
            "openid",
            "--scope",
            "read",
        ],
    )
    .await;
    let client = (id.as_str(), secret.as_deref().unwrap());
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let tokens: Value = code_tokens(&server, &browser, client, "scope=openid%20read", &[])
        .await
        .json()
        .await
        .unwrap();
    let claims = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        (&claims["amr"], &claims["acr"]),
        (&serde_json::json!(["pwd"]), &Value::from("pwd"))
    );

    // acr_values=mfa: the password-only session is not enough; the user signs in again and,
    // having no second factor, sets one up on the way.
    let url = format!(
        "{}/oauth/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback\
         &scope=openid%20read&acr_values=mfa&state=s2&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.base
    );
    let again = browser.get(&local(&server, &url)).await;
    let to_login = location(&again).to_owned();
    assert!(
        to_login.starts_with("/login?next=") && to_login.ends_with("&again=1&mfa=1"),
        "{to_login}"
    );
    let form = browser.get(&to_login).await.text().await.unwrap();
    let mut fields = as_a_browser_sends(&hidden_fields(&form));
    assert!(fields.contains(&("mfa".into(), "1".into())), "{form}");
    fields.push(("username".into(), "alice".into()));
    fields.push(("password".into(), PASSWORD.into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let step = browser.post("/login", &fields).await;
    assert!(
        location(&step).starts_with("/login/second-factor?next="),
        "{}",
        location(&step)
    );
    let page = browser.get(location(&step)).await.text().await.unwrap();
    let secret_text = {
        let start = page.find("<code id=\"totp-secret\">").expect(&page) + 23;
        page[start..start + page[start..].find("</code>").unwrap()].to_owned()
    };
    let totp = TotpSecret::from_text(&secret_text).unwrap();
    let mut fields = as_a_browser_sends(&hidden_fields(&page));
    let code = totp.code_at(now());
    fields.push(("code".into(), code));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let back = browser.post("/login/second-factor", &fields).await;
    assert!(
        location(&back).starts_with("/oauth/authorize?"),
        "{}",
        location(&back)
    );
    let callback = browser.get(location(&back)).await;
    let status = callback.status();
    let to = location(&callback).to_owned();
    let body = callback.text().await.unwrap();
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("{status} {to} {body}"));
    let exchanged: Value = post_form(
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
    .await
    .json()
    .await
    .unwrap();
    let claims = jwt_payload(exchanged["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    // A refreshed ID token says the same of the same sign-in.
    let refreshed: Value = post_form(
        &server,
        "/oauth/token",
        Some(client),
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                exchanged["refresh_token"].as_str().unwrap(),
            ),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = jwt_payload(refreshed["id_token"].as_str().unwrap());
    assert_eq!(
        (&claims["acr"], &claims["amr"][2]),
        (&Value::from("mfa"), &Value::from("mfa"))
    );
    let metadata: Value = browser
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["acr_values_supported"],
        serde_json::json!(["pwd", "mfa"])
    );
}

async fn authenticator_secrets_are_sealed_under_the_key_encryption_key(app: TestApp) {
    use base64::Engine;
    let kek = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([42u8; 32]);
    app.add_user("alice", &["reader"]).await;
    let server = app
        .serve(&[("HELIOGATE_KEY_ENCRYPTION_KEY", kek.as_str())])
        .await;
    let browser = signed_in(&server, "alice").await;
    let (secret, _) = set_up(&browser).await;
    let store = app.store().await;
    let user = store
        .user_by_name(&crate::helpers::user_name("alice"))
        .await
        .unwrap()
        .unwrap();
    let stored = store.totp_factor(&user.id).await.unwrap().unwrap();
    assert!(stored.secret.starts_with(b"HGK1"), "sealed");
    assert!(!stored.secret.windows(20).any(|w| w == secret.as_bytes()));
    let (_, signed) = sign_in_with(&server, &secret.code_at(now() + 30)).await;
    assert_eq!(signed.status(), 303);
}

async fn passkey_ceremonies_refuse_what_a_page_did_not_send(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    // WebAuthn needs a domain name: the issuer is localhost.
    let port = crate::helpers::free_port();
    let mut command = app.command();
    command.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--issuer",
        &format!("http://localhost:{port}"),
    ]);
    let server = crate::helpers::Server::start(command, app.dir.path()).await;
    let browser = signed_in(&server, "alice").await;
    let json_post = |path: &'static str, token: Option<String>, body: Value| {
        let browser = &browser;
        async move {
            let mut request = browser
                .client
                .post(format!("{}{path}", browser.base))
                .json(&body);
            if let Some(token) = token {
                request = request.header("x-csrf-token", token);
            }
            request.send().await.unwrap()
        }
    };
    // Without the page's token: refused, nothing started.
    for path in [
        "/account/passkeys/options",
        "/login/passkey/options",
        "/login/second-factor/passkey/options",
    ] {
        let refused = json_post(path, None, serde_json::json!({})).await;
        assert_eq!(refused.status(), 403, "{path}");
        let body: Value = refused.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // With it: the options for the browser, and an answer that is not a credential's is
    // refused as bad input, not a failure of the server.
    let csrf = browser.csrf("/").await;
    let started: Value = json_post(
        "/account/passkeys/options",
        Some(csrf.clone()),
        serde_json::json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(started["options"]["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(
        started["options"]["publicKey"]["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    let forged = serde_json::json!({
        "ceremony": started["ceremony"],
        "name": "forged",
        "credential": {
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": { "attestationObject": "AAAA", "clientDataJSON": "AAAA" },
            "extensions": {}
        }
    });
    let refused = json_post("/account/passkeys", Some(csrf.clone()), forged.clone()).await;
    assert_eq!(refused.status(), 400);
    // The ceremony was used up by that answer.
    let again = json_post("/account/passkeys", Some(csrf), forged).await;
    assert_eq!(again.status(), 400);
    let account = browser.get("/").await.text().await.unwrap();
    assert!(account.contains("You have no passkey."), "{account}");
}
