//! The OAuth 2 provider, driven by the `oauth2` crate as a real client and by a browser-like
//! client through sign-in and consent: one test per rule, named after its RFC section.

use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope,
    TokenIntrospectionResponse, TokenResponse,
};
use serde_json::Value;

use crate::helpers::{location, Browser, TestApp};
use crate::oauth_helpers::*;

crate::on_both_backends!(
    rfc_6749_4_1_authorization_code_with_pkce_through_sign_in_and_consent,
    rfc_6749_4_1_1_consent_is_remembered_and_a_larger_request_asks_again,
    rfc_6749_4_1_2_1_a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect,
    rfc_6749_4_1_2_1_later_errors_go_back_with_state_and_iss,
    rfc_7636_pkce_is_required_for_public_clients_and_checked,
    rfc_6749_4_1_2_a_code_works_once_and_a_replay_revokes_its_tokens,
    rfc_6749_4_1_3_a_code_is_bound_to_its_client_and_redirect_uri,
    rfc_6749_2_3_client_authentication_takes_exactly_one_method,
    rfc_6749_4_4_client_credentials,
    rfc_6749_5_2_malformed_token_requests_are_invalid_request,
    rfc_6749_6_refresh_rotates_narrows_and_never_widens,
    rfc_9700_4_14_a_replayed_refresh_token_revokes_its_family,
    rfc_7009_revocation,
    rfc_7662_introspection,
    tokeninfo_speaks_the_original_contract,
    rfc_8414_metadata_describes_the_server,
    the_account_page_withdraws_an_applications_access,
    oauth_events_are_audited,
);

/// Posts a raw form to a back-channel endpoint.
async fn post_form(
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

async fn json_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn tokeninfo(server: &crate::helpers::Server, token: &str) -> reqwest::Response {
    http()
        .get(server.url("/oauth/tokeninfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn rfc_6749_4_1_authorization_code_with_pkce_through_sign_in_and_consent(app: TestApp) {
    let user = app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let server = serve(&app, &[]).await;
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
        tokeninfo(&server, refreshed.access_token().secret())
            .await
            .status(),
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
    app.add_user("alice", &["moderator"]);
    let (id, secret) = register_web(&app);
    let server = serve(&app, &[]).await;
    let client = oauth_client(&server, &id, Some(&secret));
    let browser = signed_in(&server, "alice").await;
    let url_for = |scopes: &[&str]| {
        let mut request = client.authorize_url(CsrfToken::new_random);
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
    app.add_user("alice", &["reader"]);
    let (id, _) = register_web(&app);
    let server = serve(&app, &[]).await;
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
    app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let (svc, _) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    );
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let cb = "http%3A%2F%2F127.0.0.1%2Fcallback";
    for (query, error) in [
        (format!("response_type=token&client_id={id}&redirect_uri={cb}&state=s1"), "unsupported_response_type"),
        (format!("client_id={id}&redirect_uri={cb}&state=s1"), "invalid_request"),
        (format!("response_type=code&client_id={id}&redirect_uri={cb}&state=s1&scope=launch"), "invalid_scope"),
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

async fn rfc_7636_pkce_is_required_for_public_clients_and_checked(app: TestApp) {
    app.add_user("alice", &["reader"]);
    let (public, _) = register(
        &app,
        &["--public", "--redirect-uri", CALLBACK, "--scope", "read"],
    );
    let (id, secret) = register_web(&app);
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let public_client = oauth_client(&server, &public, None);

    // No challenge from a public client: refused at the authorization endpoint.
    let (url, _) = public_client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .url();
    let out = open(&browser, &server, url.as_str()).await;
    assert_eq!(
        query_param(location(&out), "error").as_deref(),
        Some("invalid_request")
    );

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
        tokeninfo(&server, tokens.access_token().secret())
            .await
            .status(),
        200
    );

    // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is refused.
    let client = oauth_client(&server, &id, Some(&secret));
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .url();
    let code = query_param(&authorize(&browser, &server, url.as_str()).await, "code").unwrap();
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    let err = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
}

async fn rfc_6749_4_1_2_a_code_works_once_and_a_replay_revokes_its_tokens(app: TestApp) {
    app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .url();
    let code = query_param(&authorize(&browser, &server, url.as_str()).await, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        tokeninfo(&server, tokens.access_token().secret())
            .await
            .status(),
        200
    );
    let err = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http())
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
    assert_eq!(
        tokeninfo(&server, tokens.access_token().secret())
            .await
            .status(),
        401
    );
    let refresh = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http())
        .await;
    assert!(
        refresh.is_err(),
        "the refresh token of a replayed code is revoked too"
    );
}

async fn rfc_6749_4_1_3_a_code_is_bound_to_its_client_and_redirect_uri(app: TestApp) {
    app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let (other, other_secret) = register_web(&app);
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let url = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .url()
        .0
        .to_string();
    let code = query_param(&authorize(&browser, &server, &url).await, "code").unwrap();
    let thief = oauth_client(&server, &other, Some(&other_secret));
    let err = thief
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http())
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");

    // The token request must repeat the redirect_uri of the authorization request, exactly.
    let code = query_param(location(&open(&browser, &server, &url).await), "code").unwrap();
    let out = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1/callback/"),
        ],
    )
    .await;
    assert_eq!(json_error(out).await, (400, "invalid_grant".into()));
    let code = query_param(location(&open(&browser, &server, &url).await), "code").unwrap();
    let out = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await;
    assert_eq!(json_error(out).await, (400, "invalid_grant".into()));
    let out = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "authorization_code"), ("code", "made-up")],
    )
    .await;
    assert_eq!(json_error(out).await, (400, "invalid_grant".into()));
}

async fn rfc_6749_2_3_client_authentication_takes_exactly_one_method(app: TestApp) {
    let (id, secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    );
    let secret = secret.unwrap();
    let (public, _) = register(
        &app,
        &["--public", "--redirect-uri", CALLBACK, "--scope", "read"],
    );
    let server = serve(&app, &[]).await;
    let cc = [("grant_type", "client_credentials")];
    // client_secret_basic and client_secret_post both work.
    assert_eq!(
        post_form(&server, "/oauth/token", Some((&id, &secret)), &cc)
            .await
            .status(),
        200
    );
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    assert_eq!(
        post_form(&server, "/oauth/token", None, &post)
            .await
            .status(),
        200
    );
    // Both at once is invalid_request.
    assert_eq!(
        json_error(post_form(&server, "/oauth/token", Some((&id, &secret)), &post).await).await,
        (400, "invalid_request".into())
    );
    // Failures are 401 invalid_client, with WWW-Authenticate.
    for (auth, form) in [
        (Some((id.as_str(), "wrong")), &cc[..]),
        (Some(("nosuchclient", secret.as_str())), &cc[..]),
        (
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
            ][..],
        ),
        (
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", public.as_str()),
                ("client_secret", "x"),
            ][..],
        ),
        (None, &cc[..]),
    ] {
        let out = post_form(&server, "/oauth/token", auth, form).await;
        assert_eq!(
            out.headers()["www-authenticate"],
            "Basic realm=\"heliogate\""
        );
        assert_eq!(out.headers()["cache-control"], "no-store");
        assert_eq!(
            json_error(out).await,
            (401, "invalid_client".into()),
            "{auth:?} {form:?}"
        );
    }
    let malformed = http()
        .post(server.url("/oauth/token"))
        .header("authorization", "Basic !!!")
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(malformed).await, (401, "invalid_client".into()));
}

async fn rfc_6749_4_4_client_credentials(app: TestApp) {
    let (id, secret) = register(
        &app,
        &[
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--scope",
            "openid",
        ],
    );
    let secret = secret.unwrap();
    let (web, web_secret) = register_web(&app);
    let server = serve(&app, &[]).await;
    let client = oauth_client(&server, &id, Some(&secret));
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(&http())
        .await
        .unwrap();
    assert!(
        token.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    assert_eq!(token.expires_in().unwrap().as_secs(), 3600);
    let info: Value = tokeninfo(&server, token.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (info["uid"].clone(), info["sub"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(info["scope"], serde_json::json!(["read"]));
    // No scope asked: the client's own; a known scope it may not have is narrowed away.
    let defaults: Value = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        defaults["scope"], "read",
        "OpenID Connect scopes mean nothing without a user"
    );
    let narrowed: Value = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(narrowed["scope"], "read");
    let unknown = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read launch"),
        ],
    )
    .await;
    assert_eq!(json_error(unknown).await, (400, "invalid_scope".into()));
    let nothing = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials"), ("scope", "write")],
    )
    .await;
    assert_eq!(json_error(nothing).await, (400, "invalid_scope".into()));
    // A client not allowed the grant is unauthorized_client.
    let web_cc = post_form(
        &server,
        "/oauth/token",
        Some((&web, &web_secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        json_error(web_cc).await,
        (400, "unauthorized_client".into())
    );
}

async fn rfc_6749_5_2_malformed_token_requests_are_invalid_request(app: TestApp) {
    let (id, secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    );
    let secret = secret.unwrap();
    let server = serve(&app, &[]).await;
    let token_url = server.url("/oauth/token");
    let send = |body: Vec<u8>, content_type: &'static str| {
        http()
            .post(&token_url)
            .basic_auth(&id, Some(&secret))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, error) in [
        (
            b"grant_type=client_credentials&grant_type=client_credentials".to_vec(),
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (
            b"grant_type=client_credentials&scope=read&scope=read".to_vec(),
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (
            b"{\"grant_type\":\"client_credentials\"}".to_vec(),
            "application/json",
            "invalid_request",
        ),
        (
            b"grant_type=client_credentials".to_vec(),
            "text/plain",
            "invalid_request",
        ),
        (
            b"scope=read".to_vec(),
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (
            b"grant_type=password&username=a&password=b".to_vec(),
            "application/x-www-form-urlencoded",
            "unsupported_grant_type",
        ),
        (
            b"grant_type=implicit".to_vec(),
            "application/x-www-form-urlencoded",
            "unsupported_grant_type",
        ),
        (
            b"grant_type=client_credentials&scope=%FF%FE".to_vec(),
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (
            b"grant_type=client_credentials&scope=\xff".to_vec(),
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (
            format!("grant_type=client_credentials&pad={}", "x".repeat(100_000)).into_bytes(),
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
    ] {
        let out = send(body.clone(), content_type).await.unwrap();
        assert_eq!(out.headers()["cache-control"], "no-store");
        assert_eq!(
            json_error(out).await,
            (400, error.to_owned()),
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
    }
    let ok = send(
        b"grant_type=client_credentials".to_vec(),
        "application/x-www-form-urlencoded; charset=UTF-8",
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        (
            ok.headers()["cache-control"].to_str().unwrap(),
            ok.headers()["pragma"].to_str().unwrap()
        ),
        ("no-store", "no-cache")
    );
    assert_eq!(http().get(&token_url).send().await.unwrap().status(), 405);
    // None of this issued a token.
    let issued = app
        .store()
        .await
        .recent_events(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "token.issued")
        .count();
    assert_eq!(issued, 1);
}

/// Signs alice in, runs the code flow for `scopes`, and returns the tokens.
async fn code_flow(
    server: &crate::helpers::Server,
    client: &Client,
    browser: &Browser,
    scopes: &[&str],
) -> oauth2::basic::BasicTokenResponse {
    let mut request = client.authorize_url(CsrfToken::new_random);
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
        .request_async(&http())
        .await
        .unwrap()
}

async fn rfc_6749_6_refresh_rotates_narrows_and_never_widens(app: TestApp) {
    app.add_user("alice", &["moderator"]);
    let (id, secret) = register_web(&app);
    let (no_refresh, no_refresh_secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--grant-type",
            "authorization_code",
            "--scope",
            "read",
        ],
    );
    let no_refresh_secret = no_refresh_secret.unwrap();
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let tokens = code_flow(&server, &client, &browser, &["read", "write"]).await;
    let refresh = tokens.refresh_token().unwrap();
    let narrowed = client
        .exchange_refresh_token(refresh)
        .add_scope(Scope::new("read".into()))
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        narrowed
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ["read"]
    );
    // The new refresh token keeps the original scope (RFC 6749 §6) but may not widen it.
    let next = narrowed.refresh_token().unwrap();
    let full = client
        .exchange_refresh_token(next)
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(full.scopes().unwrap().len(), 2);
    let wider = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", full.refresh_token().unwrap().secret()),
            ("scope", "read write execute"),
        ],
    )
    .await;
    assert_eq!(json_error(wider).await, (400, "invalid_scope".into()));
    // A role taken away is taken from the next refresh too.
    app.run(&["user", "set-roles", "alice", "reader"]).ok();
    let reduced = client
        .exchange_refresh_token(full.refresh_token().unwrap())
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        reduced
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ["read"]
    );
    // Another client cannot use it; a client without the grant gets no refresh token.
    let thief = post_form(
        &server,
        "/oauth/token",
        Some((&no_refresh, &no_refresh_secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", reduced.refresh_token().unwrap().secret()),
        ],
    )
    .await;
    assert_eq!(json_error(thief).await, (400, "unauthorized_client".into()));
    let plain = code_flow(
        &server,
        &oauth_client(&server, &no_refresh, Some(&no_refresh_secret)),
        &browser,
        &["read"],
    )
    .await;
    assert!(plain.refresh_token().is_none());
}

async fn rfc_9700_4_14_a_replayed_refresh_token_revokes_its_family(app: TestApp) {
    app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let tokens = code_flow(&server, &client, &browser, &["read", "offline_access"]).await;
    let first = tokens.refresh_token().unwrap().clone();
    let second = client
        .exchange_refresh_token(&first)
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        tokeninfo(&server, second.access_token().secret())
            .await
            .status(),
        200
    );
    // The rotated token comes back (stolen): refused, and everything of the grant is revoked.
    let replay = client
        .exchange_refresh_token(&first)
        .request_async(&http())
        .await
        .unwrap_err();
    assert!(format!("{replay:?}").contains("invalid_grant"));
    assert_eq!(
        tokeninfo(&server, second.access_token().secret())
            .await
            .status(),
        401
    );
    assert_eq!(
        tokeninfo(&server, tokens.access_token().secret())
            .await
            .status(),
        401
    );
    assert!(client
        .exchange_refresh_token(second.refresh_token().unwrap())
        .request_async(&http())
        .await
        .is_err());
}

async fn rfc_7009_revocation(app: TestApp) {
    app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let (other, other_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    );
    let other_secret = other_secret.unwrap();
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let tokens = code_flow(&server, &client, &browser, &["read"]).await;
    let access = tokens.access_token().secret().clone();
    // §2.2: an unknown token is not an error.
    assert_eq!(
        post_form(
            &server,
            "/oauth/revoke",
            Some((&id, &secret)),
            &[("token", "never-issued")]
        )
        .await
        .status(),
        200
    );
    // Client authentication is required, and a client revokes only its own tokens.
    assert_eq!(
        json_error(post_form(&server, "/oauth/revoke", None, &[("token", &access)]).await).await,
        (401, "invalid_client".into())
    );
    let foreign = post_form(
        &server,
        "/oauth/revoke",
        Some((&other, &other_secret)),
        &[("token", &access)],
    )
    .await;
    assert_eq!(json_error(foreign).await.0, 400);
    assert_eq!(tokeninfo(&server, &access).await.status(), 200);
    assert_eq!(
        json_error(post_form(&server, "/oauth/revoke", Some((&id, &secret)), &[]).await).await,
        (400, "invalid_request".into())
    );
    // Revoking the refresh token revokes the access tokens it produced.
    let hinted = [
        ("token", tokens.refresh_token().unwrap().secret().as_str()),
        ("token_type_hint", "access_token"),
    ];
    let out = post_form(&server, "/oauth/revoke", Some((&id, &secret)), &hinted).await;
    assert_eq!(out.status(), 200);
    assert_eq!(out.headers()["cache-control"], "no-store");
    assert_eq!(tokeninfo(&server, &access).await.status(), 401);
    assert!(client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http())
        .await
        .is_err());
}

async fn rfc_7662_introspection(app: TestApp) {
    let user = app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let (rs, rs_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    );
    let rs_secret = rs_secret.unwrap();
    let (public, _) = register(
        &app,
        &["--public", "--redirect-uri", CALLBACK, "--scope", "read"],
    );
    let server = serve(&app, &[]).await;
    let browser = signed_in(&server, "alice").await;
    let tokens = code_flow(
        &server,
        &oauth_client(&server, &id, Some(&secret)),
        &browser,
        &["read"],
    )
    .await;
    let access = tokens.access_token().secret();
    let body: Value = post_form(
        &server,
        "/oauth/introspect",
        Some((&rs, &rs_secret)),
        &[("token", access)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "read");
    assert_eq!(body["client_id"], id.as_str());
    assert_eq!(body["username"], "alice");
    assert_eq!(body["sub"], user["id"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], server.base.as_str());
    assert!(body["exp"].as_i64().unwrap() > body["iat"].as_i64().unwrap());
    let refresh: Value = post_form(
        &server,
        "/oauth/introspect",
        Some((&rs, &rs_secret)),
        &[("token", tokens.refresh_token().unwrap().secret())],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (refresh["active"].clone(), refresh["token_type"].clone()),
        (Value::Bool(true), Value::from("refresh_token"))
    );
    for token in ["never-issued", ""] {
        let out = post_form(
            &server,
            "/oauth/introspect",
            Some((&rs, &rs_secret)),
            &[("token", token)],
        )
        .await;
        if token.is_empty() {
            assert_eq!(json_error(out).await, (400, "invalid_request".into()));
        } else {
            assert_eq!(out.text().await.unwrap(), "{\"active\":false}");
        }
    }
    assert_eq!(
        json_error(post_form(&server, "/oauth/introspect", None, &[("token", access)]).await).await,
        (401, "invalid_client".into())
    );
    let by_public = post_form(
        &server,
        "/oauth/introspect",
        None,
        &[("token", access), ("client_id", &public)],
    )
    .await;
    assert_eq!(json_error(by_public).await, (401, "invalid_client".into()));
    // Revoked by another process (the CLI), as by another node: seen within one second.
    app.run(&["token", "revoke", "--user", "alice"]).ok();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let revoked = post_form(
        &server,
        "/oauth/introspect",
        Some((&rs, &rs_secret)),
        &[("token", access)],
    )
    .await;
    assert_eq!(revoked.text().await.unwrap(), "{\"active\":false}");
}

async fn tokeninfo_speaks_the_original_contract(app: TestApp) {
    let (id, secret) = register(
        &app,
        &[
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--scope",
            "write",
        ],
    );
    let secret = secret.unwrap();
    let server = serve(&app, &[("HELIOGATE_ACCESS_TOKEN_TTL", "2")]).await;
    let issue = || async {
        let body: Value = post_form(
            &server,
            "/oauth/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let token = issue().await;
    let by_query = http()
        .get(server.url(&format!("/oauth/tokeninfo?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.headers()["cache-control"], "no-store");
    let info: Value = by_query.json().await.unwrap();
    assert_eq!(info["scope"], serde_json::json!(["read", "write"]));
    assert_eq!(info["token_type"], "Bearer");
    assert_eq!(info["client_id"], id.as_str());
    assert!(info["expires_in"].as_i64().unwrap() <= 2);
    let by_form = http()
        .post(server.url("/oauth/tokeninfo"))
        .form(&[("access_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), 200);
    assert_eq!(tokeninfo(&server, &token).await.status(), 200);
    // Two ways at once is a malformed request (RFC 6750 §2).
    let twice = http()
        .get(server.url(&format!("/oauth/tokeninfo?access_token={token}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    for bad in ["never-issued", "", "%FF"] {
        let out = http()
            .get(server.url(&format!("/oauth/tokeninfo?access_token={bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 401, "{bad:?}");
        assert!(out.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }
    let unknown = tokeninfo(&server, "never-issued").await;
    assert_eq!(
        unknown.headers()["www-authenticate"],
        "Bearer realm=\"heliogate\", error=\"invalid_token\""
    );
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"],
        "invalid_token"
    );
    // Expired.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(tokeninfo(&server, &token).await.status(), 401);
    // Revoked.
    let fresh = issue().await;
    post_form(
        &server,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", &fresh)],
    )
    .await;
    assert_eq!(tokeninfo(&server, &fresh).await.status(), 401);
}

async fn rfc_8414_metadata_describes_the_server(app: TestApp) {
    let server = serve(&app, &[("HELIOGATE_ISSUER", "https://login.example.org")]).await;
    let meta: Value = http()
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], "https://login.example.org");
    assert_eq!(
        meta["token_endpoint"],
        "https://login.example.org/oauth/token"
    );
    assert_eq!(
        meta["authorization_endpoint"],
        "https://login.example.org/oauth/authorize"
    );
    assert_eq!(
        meta["revocation_endpoint"],
        "https://login.example.org/oauth/revoke"
    );
    assert_eq!(
        meta["introspection_endpoint"],
        "https://login.example.org/oauth/introspect"
    );
    assert_eq!(
        meta["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    let scopes = meta["scopes_supported"].as_array().unwrap();
    for s in ["read", "write", "execute", "admin", "openid"] {
        assert!(scopes.contains(&Value::from(s)), "{s}");
    }
}

async fn the_account_page_withdraws_an_applications_access(app: TestApp) {
    app.add_user("alice", &["reader"]);
    let (id, secret) = register_web(&app);
    let server = serve(&app, &[]).await;
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
        tokeninfo(&server, tokens.access_token().secret())
            .await
            .status(),
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
        tokeninfo(&server, tokens.access_token().secret())
            .await
            .status(),
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
        .url();
    assert_eq!(open(&browser, &server, url.as_str()).await.status(), 200);
}

async fn oauth_events_are_audited(app: TestApp) {
    let (id, secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    );
    let secret = secret.unwrap();
    let server = serve(&app, &[]).await;
    let token: Value = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await
    .json()
    .await
    .unwrap();
    post_form(
        &server,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", token["access_token"].as_str().unwrap())],
    )
    .await;
    post_form(
        &server,
        "/oauth/token",
        Some((&id, "wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let events = app.store().await.recent_events(3).await.unwrap();
    let seen: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.event.as_str(), e.actor.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("client.auth_failed", Some(id.as_str())),
            ("token.revoked", Some(id.as_str())),
            ("token.issued", Some(id.as_str()))
        ]
    );
    assert_eq!(events[0].client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(events[2].detail["grant_type"], "client_credentials");
}
