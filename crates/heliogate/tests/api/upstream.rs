//! Signing in through an upstream identity provider: a scripted OpenID provider
//! (`upstream_provider`) for the first sign-in that makes a user, the role map followed at
//! every sign-in, linking by a verified address or by an administrator, and every refusal a
//! relying party owes (state, code replay, audience, signature, expiry, nonce, issuer
//! mix-up, an unknown identity, a disabled user); and heliogate federating heliogate.

use serde_json::Value;

use crate::constants::PASSWORD;
use crate::helpers::{event_names, free_port, location, Browser, TestApp};
use crate::oauth_helpers::*;
use crate::upstream_provider::{GitHub, Person, Provider, Twist, CLIENT_ID, CLIENT_SECRET};

heliogate_store::for_each_backend!(crate::helpers::on;
    a_first_sign_in_makes_a_user_and_the_role_map_follows_the_groups,
    every_answer_a_relying_party_must_refuse_is_refused_and_changes_nothing,
    link_email_takes_only_a_verified_address_and_off_only_a_linked_identity,
    a_user_unlinks_an_identity_but_never_their_last_way_in,
    heliogate_signs_in_through_another_heliogate,
    a_second_factor_at_a_trusted_provider_stands_for_ours,
    the_github_preset_reads_the_user_from_the_api,
    administrators_add_providers_and_link_identities_in_the_console,
);

/// `upstream add NAME` for `provider`, with more arguments.
async fn add_upstream(app: &TestApp, name: &str, issuer: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "upstream",
        "add",
        name,
        "--issuer",
        issuer,
        "--client-id",
        CLIENT_ID,
        "--client-secret-stdin",
        "--json",
    ];
    args.extend_from_slice(extra);
    app.run_with_input(&args, &format!("{CLIENT_SECRET}\n"))
        .await
        .json()
}

/// A sign-in through `name` as a browser makes it, the provider signing its user in at once:
/// the answer of heliogate's callback.
async fn through(browser: &Browser, name: &str) -> reqwest::Response {
    let start = browser.get(&format!("/login/upstream/{name}?next=/")).await;
    assert_eq!(start.status(), 303, "{:?}", start.text().await);
    let at_provider = browser.client.get(location(&start)).send().await.unwrap();
    assert_eq!(at_provider.status(), 303, "{:?}", at_provider.text().await);
    let callback = location(&at_provider).to_owned();
    browser.client.get(callback).send().await.unwrap()
}

/// The callback URL the provider sends the browser to, without following it.
async fn callback_of(browser: &Browser, name: &str) -> String {
    let start = browser.get(&format!("/login/upstream/{name}?next=/")).await;
    let at_provider = browser.client.get(location(&start)).send().await.unwrap();
    location(&at_provider).to_owned()
}

async fn user(app: &TestApp, name: &str) -> Value {
    app.run(&["user", "show", name, "--json"]).await.json()
}

async fn a_first_sign_in_makes_a_user_and_the_role_map_follows_the_groups(app: TestApp) {
    let provider = Provider::start(Person::new("248289761001", "ann.lee")).await;
    provider.person(|p| p.groups = vec!["data-team".into(), "other".into()]);
    let added = add_upstream(
        &app,
        "corp",
        &provider.issuer,
        &[
            "--display-name",
            "Corp SSO",
            "--provision",
            "create",
            "--default-role",
            "reader",
            "--role-claim",
            "groups",
            "--role-map",
            "data-team=writer",
        ],
    )
    .await;
    assert_eq!(added["has_client_secret"], true);
    assert!(added.get("client_secret").is_none(), "{added}");
    assert_eq!(
        added["scopes"],
        serde_json::json!(["openid", "profile", "email"])
    );
    assert_eq!(added["redirect_path"], "/login/upstream/corp/callback");
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);

    // The sign-in page offers the provider.
    let page = browser.get("/login").await.text().await.unwrap();
    assert!(page.contains("Sign in with Corp SSO"), "{page}");
    assert!(
        page.contains("href=\"/login/upstream/corp?next=%2F\""),
        "{page}"
    );

    let answer = through(&browser, "corp").await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert_eq!(location(&answer), "/");
    let account = browser.get("/").await.text().await.unwrap();
    assert!(account.contains("ann.lee"), "{account}");
    assert!(account.contains("Linked identities"), "{account}");
    let ann = user(&app, "ann.lee").await;
    assert_eq!(ann["roles"], serde_json::json!(["reader", "writer"]));
    assert_eq!(ann["email"], "ann.lee@corp.example");
    // The session says how the user signed in: through a federation, by password there.
    let sessions = app.audit("login.succeeded").await;
    assert_eq!(
        sessions["events"][0]["detail"]["amr"], "fed pwd",
        "{sessions}"
    );

    // A password sign-in for a user made this way fails as a wrong password does.
    let stranger = Browser::new(&server);
    assert_eq!(stranger.sign_in("ann.lee", "").await.status(), 401);
    assert_eq!(stranger.sign_in("ann.lee", "!none").await.status(), 401);

    // The group is gone at the provider: the next sign-in takes the role it gave, and only it.
    app.run(&[
        "user",
        "set-roles",
        "ann.lee",
        "reader",
        "writer",
        "moderator",
    ])
    .await
    .ok();
    provider.person(|p| p.groups = vec!["other".into()]);
    let again = Browser::new(&server);
    assert_eq!(through(&again, "corp").await.status(), 303);
    assert_eq!(
        user(&app, "ann.lee").await["roles"],
        serde_json::json!(["moderator", "reader"])
    );
    // The same identity is the same user: no second user was made.
    let users = app.run(&["user", "list", "--json"]).await.json();
    let made: Vec<&Value> = users
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["email"] == "ann.lee@corp.example")
        .collect();
    assert_eq!(made.len(), 1, "{users}");
    let changed = app.audit("user.roles_changed").await;
    assert_eq!(changed["events"][0]["actor"], "upstream:corp", "{changed}");

    // The provider rotates its key: the next ID token is verified with the new one.
    provider.rotate_key();
    let rotated = Browser::new(&server);
    assert_eq!(through(&rotated, "corp").await.status(), 303);
}

async fn every_answer_a_relying_party_must_refuse_is_refused_and_changes_nothing(app: TestApp) {
    let provider = Provider::start(Person::new("s-1", "ann")).await;
    add_upstream(&app, "corp", &provider.issuer, &["--provision", "create"]).await;
    let server = app.serve(&[]).await;
    let before = app.snapshot().await;

    let refused = |answer: reqwest::Response, needle: &'static str| async move {
        assert_eq!(answer.status(), 403);
        let page = answer.text().await.unwrap();
        assert!(page.contains(needle), "expected {needle:?} in {page}");
    };
    let twists = [
        (Twist::Audience, "another client"),
        (Twist::Signature, "signature does not verify"),
        (Twist::Expired, "expired"),
        (Twist::Nonce, "nonce"),
        (Twist::Issuer, "another issuer"),
    ];
    for (twist, needle) in twists {
        provider.twist(twist);
        let browser = Browser::new(&server);
        refused(through(&browser, "corp").await, needle).await;
        assert!(browser.session_cookie().is_none());
    }
    provider.twist(Twist::None);

    // A state this browser was not given, or none.
    let browser = Browser::new(&server);
    let callback = callback_of(&browser, "corp").await;
    let state = query_param(&callback, "state").unwrap();
    let forged = callback.replace(&format!("state={state}"), "state=forged");
    refused(
        browser.client.get(forged).send().await.unwrap(),
        "start again",
    )
    .await;
    // A callback opened in another browser (a code planted in someone else's): refused.
    let other = Browser::new(&server);
    refused(
        other.client.get(&callback).send().await.unwrap(),
        "start again",
    )
    .await;
    assert_eq!(app.snapshot().await, before);

    // The same answer twice: the first signs in, the second finds its state used.
    let browser = Browser::new(&server);
    let callback = callback_of(&browser, "corp").await;
    assert_eq!(
        browser.client.get(&callback).send().await.unwrap().status(),
        303
    );
    let replay = Browser::new(&server);
    let fresh = callback_of(&replay, "corp").await;
    // A used code under a fresh state: the provider refuses it.
    let code = query_param(&callback, "code").unwrap();
    let fresh_code = query_param(&fresh, "code").unwrap();
    let replayed = fresh.replace(&format!("code={fresh_code}"), &format!("code={code}"));
    refused(
        replay.client.get(replayed).send().await.unwrap(),
        "refused the authorization code",
    )
    .await;

    // The provider said no.
    let denied = Browser::new(&server);
    let callback = callback_of(&denied, "corp").await;
    let code = query_param(&callback, "code").unwrap();
    let error = callback.replace(&format!("code={code}"), "error=access_denied");
    refused(
        denied.client.get(error).send().await.unwrap(),
        "access_denied",
    )
    .await;

    // Each refusal was recorded, with its reason.
    let failed = app
        .run(&[
            "audit",
            "list",
            "--event",
            "login.upstream_failed",
            "--json",
        ])
        .await
        .json();
    let reasons: Vec<&str> = failed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    for reason in [
        "id_token_audience",
        "bad_signature",
        "id_token_expired",
        "id_token_nonce",
        "mix_up",
        "unknown_state",
        "code_refused",
        "provider_error",
    ] {
        assert!(reasons.contains(&reason), "{reason} in {reasons:?}");
    }
    // An unknown upstream is a 404, and nothing is sent anywhere.
    assert_eq!(
        Browser::new(&server)
            .get("/login/upstream/nope")
            .await
            .status(),
        404
    );
}

async fn link_email_takes_only_a_verified_address_and_off_only_a_linked_identity(app: TestApp) {
    app.run_with_input(
        &[
            "user",
            "add",
            "bob",
            "--role",
            "reader",
            "--email",
            "Bob@Corp.example",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let mail = Provider::start(Person::new("m-1", "bobby")).await;
    mail.person(|p| {
        p.email = "bob@corp.example".into();
        p.email_verified = false;
    });
    add_upstream(&app, "mail", &mail.issuer, &["--provision", "link-email"]).await;
    let closed = Provider::start(Person::new("c-7", "robert")).await;
    add_upstream(&app, "closed", &closed.issuer, &[]).await;
    let server = app.serve(&[]).await;

    // An address the provider has not verified links to nobody.
    let browser = Browser::new(&server);
    let answer = through(&browser, "mail").await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("not verified"));
    assert_eq!(
        app.run(&["user", "list", "--json"])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Verified, it links to the one user with that address (whatever its case).
    mail.person(|p| p.email_verified = true);
    assert_eq!(through(&browser, "mail").await.status(), 303);
    let page = browser.get("/").await.text().await.unwrap();
    assert!(page.contains("bob"), "{page}");

    // `off`: an identity nobody linked is refused, until an administrator links it.
    let browser = Browser::new(&server);
    let answer = through(&browser, "closed").await;
    assert_eq!(answer.status(), 403);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("ask an administrator"));
    app.run(&[
        "upstream",
        "link",
        "closed",
        "--user",
        "bob",
        "--subject",
        "c-7",
    ])
    .await
    .ok();
    assert_eq!(through(&browser, "closed").await.status(), 303);
    let identities = app
        .run(&["upstream", "show", "closed", "--json"])
        .await
        .json();
    assert_eq!(identities["provision"], "off");

    // A disabled user signs in through no provider.
    app.run(&["user", "disable", "bob"]).await.ok();
    let browser = Browser::new(&server);
    let answer = through(&browser, "closed").await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("disabled"));
    assert!(browser.session_cookie().is_none());
}

/// The account page's form that unlinks carol's identity at `corp`.
async fn unlink(browser: &Browser, csrf: &str) -> reqwest::Response {
    let form = [
        ("csrf_token", csrf),
        ("upstream", "corp"),
        ("subject", "u-1"),
    ];
    browser.post("/account/identities/remove", &form).await
}

async fn a_user_unlinks_an_identity_but_never_their_last_way_in(app: TestApp) {
    let provider = Provider::start(Person::new("u-1", "carol")).await;
    add_upstream(&app, "corp", &provider.issuer, &["--provision", "create"]).await;
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    assert_eq!(through(&browser, "corp").await.status(), 303);
    // Carol has no password and no passkey: her one identity stays.
    let csrf = browser.csrf("/").await;
    let answer = unlink(&browser, &csrf).await;
    assert_eq!(answer.status(), 409);
    assert!(answer.text().await.unwrap().contains("only way to sign in"));
    // Given a password, she may unlink it.
    app.run_with_input(
        &["user", "set-password", "carol", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let browser = Browser::new(&server);
    assert_eq!(browser.sign_in("carol", PASSWORD).await.status(), 303);
    let csrf = browser.csrf("/").await;
    let answer = unlink(&browser, &csrf).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/?identity=removed");
    let page = browser.get("/").await.text().await.unwrap();
    assert!(!page.contains("Linked identities"), "{page}");
    // A form without the session's CSRF token does nothing.
    let answer = unlink(&browser, "x").await;
    assert_eq!(answer.status(), 403);
}

/// Two heliogates: users of the upstream one sign in to the other with their account there.
/// They answer at `localhost` and `127.0.0.1`, so that the browser keeps their cookies apart.
async fn heliogate_signs_in_through_another_heliogate(app: TestApp) {
    let upstream_app = TestApp::new(app.backend).await;
    upstream_app.add_user("dana", &["reader"]).await;
    let port = free_port();
    let upstream_base = format!("http://localhost:{port}");
    let upstream = upstream_app
        .serve(&[
            ("HELIOGATE_LISTEN", &format!("127.0.0.1:{port}")),
            ("HELIOGATE_ISSUER", &upstream_base),
        ])
        .await;
    let server = app.serve(&[]).await;
    let callback = format!("{}/login/upstream/home/callback", server.base);
    let registered = upstream_app
        .run(&[
            "client",
            "add",
            "Downstream heliogate",
            "--redirect-uri",
            &callback,
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
            "--json",
        ])
        .await
        .json();
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    app.run_with_input(
        &[
            "upstream",
            "add",
            "home",
            "--issuer",
            &upstream_base,
            "--client-id",
            client_id,
            "--client-secret-stdin",
            "--provision",
            "create",
            "--default-role",
            "reader",
        ],
        &format!("{secret}\n"),
    )
    .await
    .ok();

    let browser = Browser::new(&server);
    let start = browser.get("/login/upstream/home?next=/").await;
    assert_eq!(start.status(), 303, "{:?}", start.text().await);
    let authorize_url = location(&start).to_owned();
    assert!(
        authorize_url.starts_with(&format!("{upstream_base}/oauth/authorize?")),
        "{authorize_url}"
    );
    // At the upstream: sign in there, consent, and back.
    let at_upstream = Browser {
        client: browser.client.clone(),
        jar: browser.jar.clone(),
        base: upstream_base.clone(),
    };
    assert_eq!(at_upstream.sign_in("dana", PASSWORD).await.status(), 303);
    let back = authorize(
        &at_upstream,
        &upstream,
        &authorize_url.replace(&upstream_base, &upstream.base),
    )
    .await;
    assert!(back.starts_with(&callback), "{back}");
    assert!(back.contains("iss="), "{back}");
    let answer = browser.client.get(&back).send().await.unwrap();
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    let page = browser.get("/").await.text().await.unwrap();
    assert!(page.contains("dana"), "{page}");
    assert_eq!(
        user(&app, "dana").await["roles"],
        serde_json::json!(["reader"])
    );
}

async fn a_second_factor_at_a_trusted_provider_stands_for_ours(app: TestApp) {
    app.run(&["role", "set-mfa", "reader", "required"])
        .await
        .ok();
    let trusted = Provider::start(Person::new("t-1", "tess")).await;
    trusted.person(|p| p.amr = vec!["pwd".into(), "otp".into(), "mfa".into()]);
    let args = ["--provision", "create", "--default-role", "reader"];
    add_upstream(
        &app,
        "trusted",
        &trusted.issuer,
        &[&args[..], &["--trust-mfa"]].concat(),
    )
    .await;
    let plain = Provider::start(Person::new("p-1", "pete")).await;
    plain.person(|p| p.amr = vec!["pwd".into(), "mfa".into()]);
    add_upstream(&app, "plain", &plain.issuer, &args).await;
    let server = app.serve(&[]).await;

    // Trusted and saying so: signed in, and the session says how.
    let browser = Browser::new(&server);
    let answer = through(&browser, "trusted").await;
    assert_eq!(location(&answer), "/");
    let log = app.audit("login.succeeded").await;
    assert_eq!(
        log["events"][0]["detail"]["amr"], "fed pwd otp mfa",
        "{log}"
    );
    // The same claim from a provider not trusted for it: our second factor is set up first.
    let browser = Browser::new(&server);
    let answer = through(&browser, "plain").await;
    assert!(
        location(&answer).starts_with("/login/second-factor"),
        "{}",
        location(&answer)
    );
    assert!(browser.session_cookie().is_none());
    // A trusted provider that does not say it asked for one: ours is asked for too.
    trusted.person(|p| p.amr = vec!["pwd".into()]);
    let browser = Browser::new(&server);
    let answer = through(&browser, "trusted").await;
    assert!(
        location(&answer).starts_with("/login/second-factor"),
        "{}",
        location(&answer)
    );
}

/// GitHub speaks OAuth 2 without OpenID Connect: the preset reads the user (its numeric id the
/// subject, its login the name) and the primary verified address from the REST API.
async fn the_github_preset_reads_the_user_from_the_api(app: TestApp) {
    let github = GitHub::start().await;
    let added = add_upstream(
        &app,
        "github",
        &github.base,
        &[
            "--preset",
            "github",
            "--provision",
            "create",
            "--display-name",
            "GitHub",
        ],
    )
    .await;
    assert_eq!(
        added["scopes"],
        serde_json::json!(["read:user", "user:email"])
    );
    let server = app.serve(&[]).await;
    let browser = Browser::new(&server);
    let start = browser.get("/login/upstream/github?next=/").await;
    assert!(
        location(&start).starts_with(&format!("{}/login/oauth/authorize?", github.base)),
        "{}",
        location(&start)
    );
    let answer = through(&browser, "github").await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    let octocat = user(&app, "octocat").await;
    assert_eq!(octocat["email"], "octocat@github.example");
    let identities = app.audit("user.created").await;
    assert_eq!(
        identities["events"][0]["detail"]["subject"], "583231",
        "{identities}"
    );
    // A code GitHub refuses (answered with 200 and an error) signs nobody in.
    let browser = Browser::new(&server);
    let callback = callback_of(&browser, "github").await;
    let code = query_param(&callback, "code").unwrap();
    let refused = callback.replace(&format!("code={code}"), "code=gh-999");
    let answer = browser.client.get(refused).send().await.unwrap();
    assert_eq!(answer.status(), 403);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("bad_verification_code"));
}

/// The console's `/admin/upstreams`: a provider added (its secret never shown again), an
/// identity linked to a user and unlinked, a refusal beside its form, the provider deleted.
async fn administrators_add_providers_and_link_identities_in_the_console(app: TestApp) {
    app.add_user("root", &["administrator"]).await;
    app.add_user("bob", &["reader"]).await;
    let provider = Provider::start(Person::new("b-9", "bobby")).await;
    let server = app.serve(&[]).await;
    let admin = Browser::new(&server);
    assert_eq!(admin.sign_in("root", PASSWORD).await.status(), 303);
    let csrf = admin.csrf("/admin/upstreams").await;
    let add = |name: &'static str| {
        [
            ("csrf_token", csrf.clone()),
            ("name", name.to_owned()),
            ("display_name", "Corp".to_owned()),
            ("preset", "oidc".to_owned()),
            ("issuer", provider.issuer.clone()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", CLIENT_SECRET.to_owned()),
            ("scopes", String::new()),
            ("provision", "off".to_owned()),
            ("default_roles", String::new()),
            ("role_claim", String::new()),
            ("role_map", String::new()),
        ]
    };
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let browser = &admin;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post(path, &pairs).await
        }
    };
    let answer = post("/admin/upstreams", add("corp").to_vec()).await;
    assert_eq!(location(&answer), "/admin/upstreams?done=added");
    let page = admin.get("/admin/upstreams").await.text().await.unwrap();
    assert!(page.contains("/login/upstream/corp/callback"), "{page}");
    assert!(!page.contains(CLIENT_SECRET), "{page}");
    // A bad name is refused beside the form, and nothing is added.
    let answer = post("/admin/upstreams", add("Not A Name").to_vec()).await;
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("id=\"add-error\""));

    let link = vec![
        ("csrf_token", csrf.clone()),
        ("user", "bob".to_owned()),
        ("upstream", "corp".to_owned()),
        ("subject", "b-9".to_owned()),
    ];
    let answer = post("/admin/upstreams/link", link.clone()).await;
    assert_eq!(location(&answer), "/admin/upstreams?user=bob&done=linked");
    let page = admin
        .get("/admin/upstreams?user=bob")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<code>b-9</code>"), "{page}");
    // bob signs in through it.
    let browser = Browser::new(&server);
    assert_eq!(through(&browser, "corp").await.status(), 303);
    // Linked twice: refused beside the link form.
    let answer = post("/admin/upstreams/link", link.clone()).await;
    assert_eq!(answer.status(), 400);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("linked to a user already"));
    let answer = post("/admin/upstreams/unlink", link).await;
    assert_eq!(location(&answer), "/admin/upstreams?user=bob&done=unlinked");
    let browser = Browser::new(&server);
    assert_eq!(through(&browser, "corp").await.status(), 403);

    let delete = vec![("csrf_token", csrf.clone()), ("name", "corp".to_owned())];
    let answer = post("/admin/upstreams/delete", delete).await;
    assert_eq!(location(&answer), "/admin/upstreams?done=deleted");
    let log = app.audit("upstream.*").await;
    let events = event_names(&log);
    assert_eq!(events, vec!["upstream.deleted", "upstream.created"]);
    assert!(!log.to_string().contains(CLIENT_SECRET));
}
