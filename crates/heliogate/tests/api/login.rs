//! Session login over real HTTP: each rule of signing in, staying in, and signing out.

use std::time::{Duration, Instant};

use heliogate_core::SecretHash;

use crate::helpers::{location, user_name, Browser, TestApp};

use crate::constants::PASSWORD;

heliogate_store::for_each_backend!(crate::helpers::on;
    a_stranger_signs_in_and_comes_back,
    the_session_id_is_new_at_every_sign_in,
    signing_out_ends_the_session_on_the_server,
    forms_without_a_valid_csrf_token_are_refused,
    next_only_ever_leads_to_a_local_path,
    a_wrong_password_and_an_unknown_user_look_the_same,
    repeated_failures_are_throttled_per_account,
    repeated_failures_are_throttled_per_address,
    a_trusted_proxy_names_the_client_that_the_address_lock_counts,
    plain_http_reported_by_a_trusted_proxy_goes_to_https,
    a_disabled_or_deleted_user_is_signed_out,
    a_password_change_ends_the_other_sessions,
    an_idle_session_ends,
    cookies_and_headers_are_those_of_a_security_product,
    malformed_requests_get_a_clear_error_and_change_nothing,
    sign_ins_and_outs_are_audited,
    wrong_current_passwords_count_against_the_lock,
    a_carried_over_md5_hash_signs_in_once_and_becomes_argon2id,
);

async fn a_stranger_signs_in_and_comes_back(app: TestApp) {
    app.add_user("alice", &["reader", "writer"]).await;
    let server = app
        .serve(&[("HELIOGATE_INSTANCE_NAME", "Flarecast login")])
        .await;
    let browser = Browser::new(&server);
    let first = browser.get("/").await;
    assert_eq!(first.status(), 303);
    assert_eq!(location(&first), "/login?next=%2F");
    let page = browser.get("/login?next=%2F").await.text().await.unwrap();
    assert!(page.contains("Flarecast login"));
    assert!(page.contains("<label for=\"username\">") && page.contains("<label for=\"password\">"));
    let signed_in = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/");
    let account = browser.get("/").await;
    assert_eq!(account.status(), 200);
    let html = account.text().await.unwrap();
    assert!(html.contains("<h1 id=\"title\">alice</h1>"), "{html}");
    for tag in ["reader", "writer", "read", "write"] {
        assert!(
            html.contains(&format!("<span class=\"tag\">{tag}</span>")),
            "no {tag}: {html}"
        );
    }
    // Signed in, the sign-in page sends the user on.
    assert_eq!(location(&browser.get("/login?next=%2F").await), "/");
}

async fn the_session_id_is_new_at_every_sign_in(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    // An id planted by an attacker before sign-in is never adopted.
    let url = server.base.parse().unwrap();
    browser
        .jar
        .add_cookie_str("heliogate_session=planted-by-attacker; Path=/", &url);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    let first = browser.session_cookie().unwrap();
    assert_ne!(first, "planted-by-attacker");
    assert_eq!(first.len(), 43);
    // A browser that holds a live session and signs in again gets a new id, and the session
    // it held ends.
    let again = Browser::new(&server);
    let csrf = again.csrf("/login").await;
    again
        .jar
        .add_cookie_str(&format!("heliogate_session={first}; Path=/"), &url);
    let form = [
        ("username", "alice"),
        ("password", PASSWORD),
        ("csrf_token", csrf.as_str()),
        ("next", "/"),
    ];
    assert_eq!(again.post("/login", &form).await.status(), 303);
    let second = again.session_cookie().unwrap();
    assert_ne!(first, second);
    let store = app.store().await;
    assert!(store
        .session(&SecretHash::of(&first), heliogate_app::now())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .session(&SecretHash::of(&second), heliogate_app::now())
        .await
        .unwrap()
        .is_some());
}

async fn signing_out_ends_the_session_on_the_server(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    browser.sign_in("alice", PASSWORD).await;
    let stolen = browser.session_cookie().unwrap();
    let csrf = browser.csrf("/").await;
    let out = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!((out.status().as_u16(), location(&out)), (303, "/login"));
    assert_eq!(browser.get("/").await.status(), 303);
    // A copy of the cookie kept from before is worth nothing now.
    let replay = Browser::new(&server);
    replay.jar.add_cookie_str(
        &format!("heliogate_session={stolen}; Path=/"),
        &server.base.parse().unwrap(),
    );
    assert_eq!(location(&replay.get("/").await), "/login?next=%2F");
}

async fn forms_without_a_valid_csrf_token_are_refused(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    browser.sign_in("alice", PASSWORD).await;
    let store = app.store().await;
    let hash = store
        .credentials(&user_name("alice"))
        .await
        .unwrap()
        .unwrap()
        .password_hash;

    for token in ["", "forged", &"x".repeat(43)] {
        let out = browser.post("/logout", &[("csrf_token", token)]).await;
        assert_eq!(out.status(), 403);
        assert!(out.text().await.unwrap().contains("Form refused"));
        let change = [
            ("csrf_token", token),
            ("current", PASSWORD),
            ("new", "another long password"),
            ("confirm", "another long password"),
        ];
        assert_eq!(
            browser.post("/account/password", &change).await.status(),
            403
        );
    }
    assert_eq!(browser.get("/").await.status(), 200, "still signed in");
    assert_eq!(
        store
            .credentials(&user_name("alice"))
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash
    );

    // The sign-in form is protected too: a post from elsewhere cannot sign a browser in.
    let stranger = Browser::new(&server);
    let out = stranger
        .post(
            "/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", "guess"),
            ],
        )
        .await;
    assert_eq!(out.status(), 403);
    assert!(stranger.session_cookie().is_none());
    // Nor can it plant a pre-login cookie of its choosing and post the same value (the
    // double-submit that a cookie-writing attacker could pass), or pair this browser's
    // pre-login session with the token of another's.
    let url = server.base.parse().unwrap();
    stranger.jar.add_cookie_str(
        "heliogate_login=planted-planted-planted-planted-planted-pla",
        &url,
    );
    let planted = [
        ("username", "alice"),
        ("password", PASSWORD),
        ("csrf_token", "planted-planted-planted-planted-planted-pla"),
    ];
    assert_eq!(stranger.post("/login", &planted).await.status(), 403);
    let foreign_token = Browser::new(&server).csrf("/login").await;
    stranger.csrf("/login").await;
    let foreign = [
        ("username", "alice"),
        ("password", PASSWORD),
        ("csrf_token", foreign_token.as_str()),
    ];
    assert_eq!(stranger.post("/login", &foreign).await.status(), 403);
    assert!(stranger.session_cookie().is_none());
    // Its own pre-login session's token signs in.
    let own = stranger.csrf("/login").await;
    let real = [
        ("username", "alice"),
        ("password", PASSWORD),
        ("csrf_token", own.as_str()),
    ];
    assert_eq!(stranger.post("/login", &real).await.status(), 303);
    // Another browser's session token does not fit this session.
    let other = Browser::new(&server);
    other.sign_in("alice", PASSWORD).await;
    let other_token = other.csrf("/").await;
    assert_eq!(
        browser
            .post("/logout", &[("csrf_token", &other_token)])
            .await
            .status(),
        403
    );
}

async fn next_only_ever_leads_to_a_local_path(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    for (next, expected) in [
        ("/account?tab=apps", "/account?tab=apps"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("http:evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ] {
        let browser = Browser::new(&server);
        let out = browser.sign_in_to("alice", PASSWORD, next).await;
        assert_eq!(
            (out.status().as_u16(), location(&out)),
            (303, expected),
            "next = {next:?}"
        );
        // The sign-in page keeps only a safe value in its form.
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let page = Browser::new(&server)
            .get(&format!("/login?next={encoded}"))
            .await
            .text()
            .await
            .unwrap();
        let kept = crate::helpers::form_value(&page, "next").unwrap();
        assert_eq!(kept.replace("&amp;", "&"), expected);
    }
    // A control character in a form field is refused before anything else (400); in the
    // page's query, it leaves only the safe value in the form.
    let out = Browser::new(&server)
        .sign_in_to("alice", PASSWORD, "/\t/evil.example")
        .await;
    assert_eq!(out.status(), 400);
    let page = Browser::new(&server)
        .get("/login?next=%2F%09%2Fevil.example")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(crate::helpers::form_value(&page, "next").unwrap(), "/");
}

async fn a_wrong_password_and_an_unknown_user_look_the_same(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app
        .serve(&[
            ("HELIOGATE_LOGIN_MAX_FAILURES", "1000"),
            ("HELIOGATE_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
        ])
        .await;
    let browser = Browser::new(&server);
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let a = browser.sign_in("alice", "not the password").await;
        wrong.push(started.elapsed());
        let started = Instant::now();
        let b = browser
            .sign_in(&format!("ghost{i}"), "not the password")
            .await;
        unknown.push(started.elapsed());
        assert_eq!(
            (a.status(), b.status()),
            (
                reqwest::StatusCode::UNAUTHORIZED,
                reqwest::StatusCode::UNAUTHORIZED
            )
        );
        let a = a
            .text()
            .await
            .unwrap()
            .replace("value=\"alice\"", "value=\"X\"");
        let b = b
            .text()
            .await
            .unwrap()
            .replace(&format!("value=\"ghost{i}\""), "value=\"X\"");
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.contains("csrf_token"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&a), strip(&b));
        assert!(a.contains("Wrong user name or password."));
    }
    // An unknown user pays for a full password hash too: without it, this answer would come
    // back an order of magnitude faster than the other.
    wrong.sort();
    unknown.sort();
    assert!(
        unknown[2] * 3 > wrong[2],
        "unknown {:?} vs wrong password {:?}",
        unknown[2],
        wrong[2]
    );
}

async fn repeated_failures_are_throttled_per_account(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app
        .serve(&[
            ("HELIOGATE_LOGIN_MAX_FAILURES", "3"),
            ("HELIOGATE_LOGIN_LOCKOUT", "2"),
        ])
        .await;
    let browser = Browser::new(&server);
    for name in ["alice", "ghost"] {
        for _ in 0..3 {
            assert_eq!(browser.sign_in(name, "wrong password!").await.status(), 401);
        }
        // Locked now: even the right password is refused, and an unknown name the same way.
        let locked = browser.sign_in(name, PASSWORD).await;
        assert_eq!(locked.status(), 429, "{name}");
        let retry: u64 = locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
        assert!(locked
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts"));
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The next failure locks for twice as long.
    assert_eq!(
        browser.sign_in("alice", "wrong password!").await.status(),
        401
    );
    let locked = browser.sign_in("alice", PASSWORD).await;
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3..=4).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
}

/// Whether the next guess from this address is refused, counting nothing if it is.
async fn address_locked(app: &TestApp, addr: &str) -> bool {
    let store = app.store().await;
    let throttle = heliogate_core::ThrottlePolicy {
        account_threshold: 5,
        address_threshold: 20,
        base_delay: 2,
        max_delay: 900,
        window: 900,
    };
    let key = format!("addr:{addr}");
    match store
        .reserve_login_attempt(&key, heliogate_app::now(), &throttle, 20)
        .await
        .unwrap()
    {
        heliogate_core::Attempt::Locked { .. } => true,
        heliogate_core::Attempt::Counted { held, .. } => {
            store.release_login_attempt(&key, held).await.unwrap();
            false
        }
    }
}

async fn repeated_failures_are_throttled_per_address(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    app.add_user("bob", &["reader"]).await;
    let server = app
        .serve(&[
            ("HELIOGATE_LOGIN_MAX_FAILURES_PER_ADDRESS", "4"),
            ("HELIOGATE_LOGIN_LOCKOUT", "30"),
        ])
        .await;
    // No proxy is trusted: what a client says it forwards is not believed.
    let browser = Browser::forwarded(&server, "203.0.113.5");
    assert_eq!(
        browser.sign_in("bob", "wrong password!").await.status(),
        401
    );
    for i in 0..3 {
        let name = format!("user{i}");
        assert_eq!(
            browser.sign_in(&name, "wrong password!").await.status(),
            401
        );
    }
    assert!(address_locked(&app, "127.0.0.1").await);
    assert!(!address_locked(&app, "203.0.113.5").await);
    // A password spray from one address stops at every account it has tried...
    assert_eq!(
        browser.sign_in("user0", "wrong password!").await.status(),
        429
    );
    assert_eq!(browser.sign_in("bob", PASSWORD).await.status(), 429);
    // ...and gets one try at an account it has not, which marks it.
    assert_eq!(
        browser.sign_in("user9", "wrong password!").await.status(),
        401
    );
    assert_eq!(
        browser.sign_in("user9", "wrong password!").await.status(),
        429
    );
    // The lock cannot be turned against a user who made no mistake behind the same address.
    let colleague = Browser::new(&server);
    assert_eq!(colleague.sign_in("alice", PASSWORD).await.status(), 303);
}

async fn a_trusted_proxy_names_the_client_that_the_address_lock_counts(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app
        .serve(&[
            ("HELIOGATE_TRUSTED_PROXIES", "127.0.0.0/8"),
            ("HELIOGATE_LOGIN_MAX_FAILURES_PER_ADDRESS", "3"),
            ("HELIOGATE_LOGIN_LOCKOUT", "30"),
        ])
        .await;
    // The guesser writes an address of their choice; the proxy appends the real one.
    let guesser = Browser::forwarded(&server, "198.51.100.7, 203.0.113.5");
    for i in 0..3 {
        let name = format!("user{i}");
        assert_eq!(
            guesser.sign_in(&name, "wrong password!").await.status(),
            401
        );
    }
    assert!(address_locked(&app, "203.0.113.5").await);
    assert!(!address_locked(&app, "198.51.100.7").await);
    assert!(!address_locked(&app, "127.0.0.1").await);
    assert_eq!(
        guesser.sign_in("user1", "wrong password!").await.status(),
        429
    );
    // Another client behind the same proxy is counted apart, and the audit log names it.
    let other = Browser::forwarded(&server, "198.51.100.8");
    assert_eq!(
        other.sign_in("user1", "wrong password!").await.status(),
        401
    );
    assert_eq!(other.sign_in("alice", PASSWORD).await.status(), 303);
    let events = app.store().await.recent_events(1).await.unwrap();
    assert_eq!(events[0].event, "login.succeeded");
    assert_eq!(events[0].client_addr.as_deref(), Some("198.51.100.8"));
}

/// RFC 6749 §3.1, §3.2: behind a TLS-terminating proxy, a request the proxy got over plain
/// http is sent to the https issuer (pages) or refused (everything else).
async fn plain_http_reported_by_a_trusted_proxy_goes_to_https(app: TestApp) {
    let issuer = "https://login.example.org";
    app.run(&["--issuer", issuer, "migrate"]).await.ok();
    let proxied = app
        .serve(&[
            ("HELIOGATE_ISSUER", issuer),
            ("HELIOGATE_TRUSTED_PROXIES", "127.0.0.1"),
        ])
        .await;
    let direct = app.serve(&[("HELIOGATE_ISSUER", issuer)]).await;
    let send = |server: &crate::helpers::Server, method: reqwest::Method, path: &str, proto| {
        let mut request = Browser::new(server)
            .client
            .request(method, server.url(path));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let out = send(&proxied, get.clone(), "/login?next=%2F", Some("http"))
        .await
        .unwrap();
    assert_eq!(out.status(), 308);
    assert_eq!(location(&out), "https://login.example.org/login?next=%2F");
    let out = send(&proxied, post.clone(), "/oauth/token", Some("http"))
        .await
        .unwrap();
    assert_eq!(out.status(), 400);
    let body: serde_json::Value = out.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    for proto in [Some("https"), None] {
        let out = send(&proxied, get.clone(), "/login", proto).await.unwrap();
        assert_eq!(out.status(), 200, "{proto:?}");
        assert_eq!(
            out.headers()["strict-transport-security"],
            "max-age=31536000"
        );
    }
    // From a peer that is no trusted proxy, the header means nothing.
    let out = send(&direct, get, "/login", Some("http")).await.unwrap();
    assert_eq!(out.status(), 200);
}

async fn a_disabled_or_deleted_user_is_signed_out(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    app.add_user("bob", &["reader"]).await;
    let server = app.serve(&[]).await;
    let alice = Browser::new(&server);
    let bob = Browser::new(&server);
    alice.sign_in("alice", PASSWORD).await;
    bob.sign_in("bob", PASSWORD).await;
    app.run(&["user", "disable", "alice"]).await.ok();
    assert_eq!(location(&alice.get("/").await), "/login?next=%2F");
    let refused = alice.sign_in("alice", PASSWORD).await;
    assert_eq!(refused.status(), 401);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Wrong user name or password."));
    app.run(&["user", "enable", "alice"]).await.ok();
    assert_eq!(alice.sign_in("alice", PASSWORD).await.status(), 303);

    app.run(&["user", "delete", "bob"]).await.ok();
    assert_eq!(bob.get("/").await.status(), 303);
}

async fn a_password_change_ends_the_other_sessions(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let laptop = Browser::new(&server);
    let phone = Browser::new(&server);
    laptop.sign_in("alice", PASSWORD).await;
    phone.sign_in("alice", PASSWORD).await;
    let csrf = laptop.csrf("/").await;
    let change = |current: &'static str, new: &'static str, confirm: &'static str| {
        let csrf = csrf.clone();
        let laptop = &laptop;
        async move {
            laptop
                .post(
                    "/account/password",
                    &[
                        ("csrf_token", &csrf),
                        ("current", current),
                        ("new", new),
                        ("confirm", confirm),
                    ],
                )
                .await
        }
    };
    let wrong = change(
        "not my password",
        "brand new password",
        "brand new password",
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let body = wrong.text().await.unwrap();
    assert!(
        body.contains("the current password is wrong")
            && body.contains("aria-describedby=\"password-error\"")
    );
    assert_eq!(
        change(PASSWORD, "brand new password", "brand new passw0rd")
            .await
            .status(),
        400
    );
    assert_eq!(change(PASSWORD, "short", "short").await.status(), 400);
    assert_eq!(
        phone.get("/").await.status(),
        200,
        "refused changes end nothing"
    );

    let done = change(PASSWORD, "brand new password", "brand new password").await;
    assert_eq!(
        (done.status().as_u16(), location(&done)),
        (303, "/?password=changed")
    );
    assert!(laptop
        .get("/?password=changed")
        .await
        .text()
        .await
        .unwrap()
        .contains("Your password was changed"));
    assert_eq!(
        phone.get("/").await.status(),
        303,
        "the other session ended"
    );
    assert_eq!(
        Browser::new(&server)
            .sign_in("alice", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        Browser::new(&server)
            .sign_in("alice", "brand new password")
            .await
            .status(),
        303
    );
}

async fn an_idle_session_ends(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    browser.sign_in("alice", PASSWORD).await;
    assert_eq!(browser.get("/").await.status(), 200);
    // Time passes: the session's idle end is now behind us.
    let id = SecretHash::of(&browser.session_cookie().unwrap());
    let now = heliogate_app::now();
    app.store()
        .await
        .touch_session(&id, now - 3600, now - 1)
        .await
        .unwrap();
    let out = browser.get("/").await;
    assert_eq!(location(&out), "/login?next=%2F");
    let cleared = out
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("heliogate_session=;"));
    assert!(cleared, "the dead cookie is cleared");
}

async fn cookies_and_headers_are_those_of_a_security_product(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    for path in ["/login", "/login?next=%2F"] {
        let page = browser.get(path).await;
        let h = page.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        // One script, heliogate's own file (passkeys): nothing inline, nothing evaluated.
        assert!(
            !csp.contains("unsafe-") && csp.contains("script-src 'self';"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
    let signed_in = browser.sign_in("alice", PASSWORD).await;
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("heliogate_session="))
        .unwrap();
    for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure") && !cookie.contains("Max-Age"),
        "{cookie}"
    );
    let account = browser.get("/").await;
    assert_eq!(account.headers()["cache-control"], "no-store");
    // The only script is heliogate's own file; no page has inline script.
    let html = account.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(
        html.contains("<script src=\"/static/passkeys.js\" defer></script>"),
        "{html}"
    );
    let script = browser.get("/static/passkeys.js").await;
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let css = browser.get("/static/heliogate.css").await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");

    // Behind https, the cookie is Secure and host-bound. Changing the issuer of an
    // installation is done on purpose, with migrate.
    app.run(&["--issuer", "https://login.example.org", "migrate"])
        .await
        .ok();
    let https = app
        .serve(&[("HELIOGATE_ISSUER", "https://login.example.org")])
        .await;
    let out = Browser::new(&https).sign_in("alice", PASSWORD).await;
    let cookie = out
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.contains("_session="))
        .unwrap();
    assert!(
        cookie.starts_with("__Host-heliogate_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    // So is the pre-login session's cookie: host-bound, for the whole site (as __Host- needs).
    let form = Browser::new(&https).get("/login").await;
    let csrf = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.contains("_login="))
        .unwrap();
    assert!(
        csrf.starts_with("__Host-heliogate_login=")
            && csrf.contains("; Path=/;")
            && csrf.contains("; Secure"),
        "{csrf}"
    );
}

async fn malformed_requests_get_a_clear_error_and_change_nothing(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    let csrf = browser.csrf("/login").await;
    let url = format!("{}/login", server.base);
    let raw = |body: Vec<u8>, content_type: &'static str| {
        browser
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let invalid_utf8 = format!("username=%FF%FE&password=x&csrf_token={csrf}").into_bytes();
    assert_eq!(
        raw(invalid_utf8, "application/x-www-form-urlencoded")
            .await
            .unwrap()
            .status(),
        401
    );
    let bytes = [
        b"username=\xff\xfe&password=x&csrf_token=".as_slice(),
        csrf.as_bytes(),
    ]
    .concat();
    let out = raw(bytes, "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert!(
        out.status() == 400 || out.status() == 401,
        "{}",
        out.status()
    );
    let out = raw(b"{\"username\":\"alice\"}".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(out.status(), 400);
    assert!(out
        .text()
        .await
        .unwrap()
        .contains("The form could not be read"));
    let huge = format!(
        "username=alice&password={}&csrf_token={csrf}",
        "x".repeat(200_000)
    )
    .into_bytes();
    let out = raw(huge, "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(out.status(), 413);
    assert!(browser.session_cookie().is_none());
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
}

async fn sign_ins_and_outs_are_audited(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    browser.sign_in("alice", "wrong password!").await;
    browser.sign_in("alice", PASSWORD).await;
    let csrf = browser.csrf("/").await;
    browser
        .post(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current", PASSWORD),
                ("new", "brand new password"),
                ("confirm", "brand new password"),
            ],
        )
        .await;
    browser.post("/logout", &[("csrf_token", &csrf)]).await;
    let events = app.store().await.recent_events(10).await.unwrap();
    let seen: Vec<(&str, Option<&str>, Option<&str>)> = events
        .iter()
        .map(|e| {
            (
                e.event.as_str(),
                e.actor.as_deref(),
                e.client_addr.as_deref(),
            )
        })
        .collect();
    let local = Some("127.0.0.1");
    assert_eq!(
        seen[..4],
        [
            ("logout", Some("alice"), local),
            ("user.password_changed", Some("alice"), local),
            ("login.succeeded", Some("alice"), local),
            ("login.failed", Some("alice"), local),
        ]
    );
}

/// The password form's current password is a guess like a sign-in: it counts against the
/// account's lock, and past it the form is refused unchecked.
async fn wrong_current_passwords_count_against_the_lock(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app
        .serve(&[
            ("HELIOGATE_LOGIN_MAX_FAILURES", "3"),
            ("HELIOGATE_LOGIN_LOCKOUT", "60"),
        ])
        .await;
    let browser = Browser::new(&server);
    browser.sign_in("alice", PASSWORD).await;
    let csrf = browser.csrf("/").await;
    let change = |current: &'static str| {
        let csrf = csrf.clone();
        let browser = &browser;
        async move {
            browser
                .post(
                    "/account/password",
                    &[
                        ("csrf_token", &csrf),
                        ("current", current),
                        ("new", "brand new password"),
                        ("confirm", "brand new password"),
                    ],
                )
                .await
        }
    };
    for _ in 0..3 {
        assert_eq!(change("not my password").await.status(), 400);
    }
    let locked = change(PASSWORD).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    // And signing in elsewhere meets the same lock.
    assert_eq!(
        Browser::new(&server)
            .sign_in("alice", PASSWORD)
            .await
            .status(),
        429
    );
}

/// The original design stored `md5(password + name)`; `heliogate import` keeps such a hash
/// until the user's next sign-in, which checks it once and replaces it with Argon2id.
async fn a_carried_over_md5_hash_signs_in_once_and_becomes_argon2id(app: TestApp) {
    use md5::Digest;
    app.add_user("alice", &["reader"]).await;
    let old = "the password of 2016";
    let digest = format!("{:x}", md5::Md5::digest(format!("{old}alice").as_bytes()));
    let legacy = heliogate_core::legacy::legacy_md5_hash(&digest.to_uppercase()).unwrap();
    let store = app.store().await;
    let event = heliogate_store::AuditEvent {
        at: 0,
        event: "test.import".into(),
        actor: None,
        subject: None,
        client_addr: None,
        detail: serde_json::json!({}),
    };
    store
        .set_password_hash(&user_name("alice"), &legacy, 0, None, &event)
        .await
        .unwrap();
    let shown = app.run(&["user", "show", "alice", "--json"]).await.json();
    assert_eq!(shown["legacy_password"], true);
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);

    // Wrong passwords, the MD5 hash itself, the right password for another name: refused.
    for (name, password) in [
        ("alice", "wrong"),
        ("alice", digest.as_str()),
        ("alicE", old),
    ] {
        assert_eq!(browser.sign_in(name, password).await.status(), 401);
    }
    let hash = |store: std::sync::Arc<dyn heliogate_store::Store>| async move {
        store
            .credentials(&user_name("alice"))
            .await
            .unwrap()
            .unwrap()
            .password_hash
    };
    assert_eq!(hash(store.clone()).await, legacy);
    // The old password signs in, once as MD5: the hash is Argon2id from then on.
    assert_eq!(browser.sign_in("alice", old).await.status(), 303);
    assert!(hash(store.clone()).await.starts_with("$argon2id$"));
    let shown = app.run(&["user", "show", "alice", "--json"]).await.json();
    assert_eq!(shown["legacy_password"], false);
    let again = Browser::new(&server);
    assert_eq!(again.sign_in("alice", old).await.status(), 303);
    let audit = app
        .run(&[
            "audit",
            "list",
            "--event",
            "user.password_upgraded",
            "--json",
        ])
        .await
        .json();
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");
}
