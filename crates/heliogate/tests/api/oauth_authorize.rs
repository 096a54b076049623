//! The authorization endpoint (RFC 6749 §4.1.1–§4.1.2, RFC 7636): sign-in, consent, errors
//! at a page or at the redirect URI, PKCE, and taking an application's access back.

use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope,
    TokenIntrospectionResponse, TokenResponse,
};
use serde_json::Value;

use crate::helpers::{location, Browser, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_6749_4_1_authorization_code_with_pkce_through_sign_in_and_consent,
    rfc_6749_4_1_1_consent_is_remembered_and_a_larger_request_asks_again,
    rfc_6749_4_1_2_1_a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect,
    rfc_6749_4_1_2_1_later_errors_go_back_with_state_and_iss,
    rfc_9700_2_1_1_pkce_is_required_of_every_client_unless_relaxed_and_checked,
    rfc_8252_8_6_a_public_client_is_asked_again_unless_trusted,
    a_long_or_unusual_authorization_request_survives_the_sign_in,
    the_account_page_withdraws_an_applications_access,
);

async fn rfc_6749_4_1_authorization_code_with_pkce_through_sign_in_and_consent(app: TestApp) {
    let user = app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let client = oauth_client(&server, &id, Some(&secret));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();

    // A stranger is sent to sign in first, and back to the request afterwards.
    let browser = Browser::new(&server);
    let first = open(&browser, &server, auth_url.as_str()).await;
    assert_eq!(first.status(), 303);
    let to_login = location(&first).to_owned();
    assert!(
        to_login.starts_with("/login?next=%2Foauth%2Fauthorize%3F"),
        "{to_login}"
    );
    let next = query_param(&format!("http://x{to_login}"), "next").unwrap();
    let signed = browser.sign_in_to("alice", PASSWORD, &next).await;
    assert_eq!(location(&signed), next);

    // The consent page names the client and explains each scope; alice holds only `read`.
    let page = open(&browser, &server, auth_url.as_str())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Allow Test app to use your account?"),
        "{page}"
    );
    assert!(page.contains("read your data"), "{page}");
    assert!(
        !page.contains(">write</span>"),
        "a scope the user does not hold is not offered: {page}"
    );
    let callback = authorize(&browser, &server, auth_url.as_str()).await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(server.base.as_str())
    );
    let code = query_param(&callback, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    let granted: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        granted,
        ["read"],
        "narrowed to the user's roles, and says so"
    );
    assert!(tokens.refresh_token().is_some());
    let info: Value = tokeninfo(&server, tokens.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["uid"], user["id"]);
    assert_eq!(info["sub"], user["id"]);
    assert_eq!(info["scope"], serde_json::json!(["read"]));
    assert_eq!(info["client_id"], id.as_str());

    // Refresh rotates; introspection and revocation work with the same real client.
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http())
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );
    let introspected = client
        .introspect(refreshed.access_token())
        .request_async(&http())
        .await
        .unwrap();
    assert!(introspected.active());
    assert_eq!(introspected.username(), Some("alice"));
    // The oauth2 crate sends revocations to https URLs only (a client-side guard); over the
    // tests' plain http, the RFC 7009 request is made directly.
    let revoked = post_form(
        &server,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", refreshed.access_token().secret())],
    )
    .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        tokeninfo_status(&server, refreshed.access_token().secret()).await,
        401
    );
    assert!(!client
        .introspect(refreshed.access_token())
        .request_async(&http())
        .await
        .unwrap()
        .active());
}

async fn rfc_6749_4_1_1_consent_is_remembered_and_a_larger_request_asks_again(app: TestApp) {
    app.add_user("alice", &["moderator"]).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let client = oauth_client(&server, &id, Some(&secret));
    let browser = signed_in(&server, "alice").await;
    let url_for = |scopes: &[&str]| {
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0);
        for s in scopes {
            request = request.add_scope(Scope::new((*s).into()));
        }
        request.url().0.to_string()
    };
    authorize(&browser, &server, &url_for(&["read", "write"])).await;
    // The same or a smaller request goes straight through.
    for scopes in [&["read", "write"][..], &["read"]] {
        let again = open(&browser, &server, &url_for(scopes)).await;
        assert_eq!(again.status(), 303);
        assert!(
            query_param(location(&again), "code").is_some(),
            "{}",
            location(&again)
        );
    }
    // A larger one asks again.
    let larger = open(&browser, &server, &url_for(&["read", "write", "openid"])).await;
    assert_eq!(larger.status(), 200);
    assert!(larger.text().await.unwrap().contains("confirm who you are"));
}

async fn rfc_6749_4_1_2_1_a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, _) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let evil = "https%3A%2F%2Fevil.example%2Fcb";
    for query in [
        "response_type=code".to_owned(),
        "response_type=code&client_id=nosuchclient".to_owned(),
        format!("response_type=code&client_id={id}&redirect_uri={evil}"),
        format!("response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback%2Fextra"),
        format!("response_type=code&client_id={id}&client_id={id}"),
        format!("response_type=token&client_id=nosuchclient&redirect_uri={evil}"),
    ] {
        let out = browser.get(&format!("/oauth/authorize?{query}")).await;
        assert_eq!(out.status(), 400, "{query}");
        assert!(out.headers().get("location").is_none(), "{query} redirected");
        assert!(out.text().await.unwrap().contains("Cannot continue"));
    }
    // A stranger sees the same page rather than being asked to sign in for nothing.
    let stranger = Browser::new(&server);
    assert_eq!(
        stranger
            .get(&format!(
                "/oauth/authorize?response_type=code&client_id={id}&redirect_uri={evil}"
            ))
            .await
            .status(),
        400
    );
}

async fn rfc_6749_4_1_2_1_later_errors_go_back_with_state_and_iss(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let (svc, _) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let cb = "http%3A%2F%2F127.0.0.1%2Fcallback";
    let pkce =
        "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    for (query, error) in [
        (format!("response_type=token&client_id={id}&redirect_uri={cb}&state=s1"), "unsupported_response_type"),
        (format!("client_id={id}&redirect_uri={cb}&state=s1"), "invalid_request"),
        (format!("response_type=code&client_id={id}&redirect_uri={cb}&state=s1&scope=launch&{pkce}"), "invalid_scope"),
        (format!("response_type=code&client_id={id}&redirect_uri={cb}&state=s1&scope=read&scope=write"), "invalid_request"),
        (format!("response_type=code&client_id={id}&redirect_uri={cb}&state=s1&code_challenge=abc&code_challenge_method=plain"), "invalid_request"),
    ] {
        let out = browser.get(&format!("/oauth/authorize?{query}")).await;
        assert_eq!(out.status(), 303, "{query}");
        let to = location(&out);
        assert!(to.starts_with(CALLBACK), "{to}");
        assert_eq!(query_param(to, "error").as_deref(), Some(error), "{query}: {to}");
        assert_eq!(query_param(to, "state").as_deref(), Some("s1"));
        assert_eq!(query_param(to, "iss").as_deref(), Some(server.base.as_str()));
    }
    // A client without a redirect URI cannot be sent anything: it gets a page.
    assert_eq!(
        browser
            .get(&format!(
                "/oauth/authorize?response_type=code&client_id={svc}"
            ))
            .await
            .status(),
        400
    );
    // Denying consent is access_denied.
    let client = oauth_client(&server, &id, Some(&secret));
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let denied = answer_consent(&browser, &server, url.as_str(), "deny").await;
    assert_eq!(
        query_param(&denied, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&denied, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert!(query_param(&denied, "code").is_none());
    // A consent form without this session's CSRF token does nothing.
    let forged = browser
        .post(
            "/oauth/authorize",
            &[
                ("client_id", &id),
                ("response_type", "code"),
                ("decision", "approve"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);
}

async fn rfc_9700_2_1_1_pkce_is_required_of_every_client_unless_relaxed_and_checked(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let public_args = ["--public", "--redirect-uri", CALLBACK, "--scope", "read"];
    let (public, _) = register(&app, &public_args).await;
    let (web, web_secret) = register_web(&app).await;
    let web_args = ["--redirect-uri", CALLBACK, "--scope", "read"];
    let (id, secret) = register(&app, &[&web_args[..], &["--pkce-optional"]].concat()).await;
    let secret = secret.unwrap();
    // Only a confidential client may be let off.
    app.run(
        &[
            &["client", "add", "x"][..],
            &public_args,
            &["--pkce-optional"],
        ]
        .concat(),
    )
    .await
    .refused("only a confidential client may omit it");
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let public_client = oauth_client(&server, &public, None);

    // No challenge from a public client or a confidential one: refused at the authorization
    // endpoint.
    for client in [
        &public_client,
        &oauth_client(&server, &web, Some(&web_secret)),
    ] {
        let (url, _) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("read".into()))
            .url();
        let out = open(&browser, &server, url.as_str()).await;
        let error = query_param(location(&out), "error_description");
        assert_eq!(
            error.as_deref(),
            Some("PKCE is required: send code_challenge with S256")
        );
    }

    // A code issued with a challenge needs the right verifier; a failed try spends it.
    for verifier in [
        None,
        Some("wrong-verifier-wrong-verifier-wrong-verifier-0123"),
    ] {
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = public_client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("read".into()))
            .set_pkce_challenge(challenge)
            .url();
        let callback = authorize(&browser, &server, url.as_str()).await;
        let code = query_param(&callback, "code").unwrap();
        let mut request = public_client.exchange_code(AuthorizationCode::new(code));
        if let Some(v) = verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.into()));
        }
        let err = request.request_async(&http()).await.unwrap_err();
        assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
    }
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = public_client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = query_param(&authorize(&browser, &server, url.as_str()).await, "code").unwrap();
    let tokens = public_client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        tokeninfo_status(&server, tokens.access_token().secret()).await,
        200
    );

    // A client let off PKCE gets a code without a challenge, and RFC 9700 §4.8.2: a verifier
    // for a code issued without a challenge is refused.
    let client = oauth_client(&server, &id, Some(&secret));
    let url_without_pkce = || {
        client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("read".into()))
            .url()
            .0
    };
    let code = query_param(
        &authorize(&browser, &server, url_without_pkce().as_str()).await,
        "code",
    )
    .unwrap();
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    let err = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
    let code = query_param(
        &authorize(&browser, &server, url_without_pkce().as_str()).await,
        "code",
    )
    .unwrap();
    client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http())
        .await
        .unwrap();
}

async fn the_account_page_withdraws_an_applications_access(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let tokens = code_flow(&server, &client, &browser, &["read"]).await;
    let page = browser.get("/").await.text().await.unwrap();
    assert!(
        page.contains("Authorized applications") && page.contains("<strong>Test app</strong>"),
        "{page}"
    );
    let csrf = browser.csrf("/").await;
    assert_eq!(
        browser
            .post(
                "/account/applications/revoke",
                &[("csrf_token", "forged"), ("client_id", &id)]
            )
            .await
            .status(),
        403
    );
    assert_eq!(
        tokeninfo_status(&server, tokens.access_token().secret()).await,
        200
    );
    let out = browser
        .post(
            "/account/applications/revoke",
            &[("csrf_token", &csrf), ("client_id", &id)],
        )
        .await;
    assert_eq!(location(&out), "/?application=revoked");
    assert_eq!(
        tokeninfo_status(&server, tokens.access_token().secret()).await,
        401
    );
    assert!(client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http())
        .await
        .is_err());
    assert!(browser
        .get("/")
        .await
        .text()
        .await
        .unwrap()
        .contains("No application has access"));
    // Consent is asked again next time.
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    assert_eq!(open(&browser, &server, url.as_str()).await.status(), 200);
}

/// RFC 8252 §8.6 / RFC 6749 §10.2: any local process can claim a public client's loopback
/// redirect URI, so a remembered consent does not answer for a public client, unless an
/// administrator marked it trusted; `prompt=consent` asks whoever the client is.
async fn rfc_8252_8_6_a_public_client_is_asked_again_unless_trusted(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let public = ["--public", "--redirect-uri", CALLBACK, "--scope", "read"];
    let (untrusted, _) = register(&app, &public).await;
    let (trusted, _) = register(&app, &[&public[..], &["--trusted"]].concat()).await;
    let (web, _) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let url = |id: &str, extra: &str| {
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = oauth_client(&server, id, None)
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("read".into()))
            .set_pkce_challenge(challenge)
            .url();
        format!("{url}{extra}")
    };
    // The first time, everyone is asked and the consent is remembered.
    for id in [&untrusted, &trusted, &web] {
        let first = url(id, "");
        assert_eq!(open(&browser, &server, &first).await.status(), 200, "{id}");
        assert!(query_param(&authorize(&browser, &server, &first).await, "code").is_some());
    }
    let asked = |id: &str, extra: &str| {
        let url = url(id, extra);
        let (browser, server) = (&browser, &server);
        async move { open(browser, server, &url).await.status().as_u16() == 200 }
    };
    assert!(
        asked(&untrusted, "").await,
        "an untrusted public client is asked again"
    );
    assert!(!asked(&trusted, "").await, "a trusted public client is not");
    assert!(!asked(&web, "").await, "a confidential client is not");
    assert!(asked(&web, "&prompt=consent").await, "prompt=consent asks");
}

/// `state` may be 2,048 characters, and hold a backslash: the request comes back after the
/// sign-in in the middle of it, exactly as sent.
async fn a_long_or_unusual_authorization_request_survives_the_sign_in(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, _) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let state = format!("{}\\", "s".repeat(2047));
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth_client(&server, &id, None)
        .authorize_url(|| CsrfToken::new(state.clone()))
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let pending = url.as_str().strip_prefix(&server.base).unwrap().to_owned();
    let browser = Browser::new(&server);
    let to_login = browser.get(&pending).await;
    assert_eq!(to_login.status(), 303);
    let next = query_param(&server.url(location(&to_login)), "next").unwrap();
    assert_eq!(next, pending);
    let signed_in = browser
        .sign_in_to("alice", crate::constants::PASSWORD, &next)
        .await;
    assert_eq!(location(&signed_in), pending);
    let answer = authorize(&browser, &server, url.as_str()).await;
    assert!(query_param(&answer, "code").is_some());
    assert_eq!(query_param(&answer, "state").unwrap(), state);
}
