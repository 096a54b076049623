//! OpenID Connect (Core 1.0, Discovery 1.0) with a certified-style relying-party library, the
//! `openidconnect` crate, through real sign-in and consent; and the endpoints' rules.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::helpers::{form_value, location, Browser, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    oidc_core_3_1_a_relying_party_library_signs_a_user_in_and_refreshes,
    oidc_core_5_3_userinfo_answers_by_the_token_and_its_scope,
    discovery_and_rfc_8414_are_one_document_and_the_keys_are_published,
    oidc_core_3_1_2_1_prompt_and_max_age_are_honoured,
    rp_initiated_logout_1_0_signs_out_and_returns_only_to_registered_uris,
    rfc_9068_jwt_access_tokens_verify_locally_and_are_checked_and_revoked_like_opaque_ones,
    a_key_rotation_publishes_first_and_keeps_old_tokens_verifiable,
    signing_keys_are_sealed_under_the_key_encryption_key,
);

async fn oidc_core_3_1_a_relying_party_library_signs_a_user_in_and_refreshes(app: TestApp) {
    let carol = add_carol(&app).await;
    let (id, secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
            "--scope",
            "roles",
            "--scope",
            "read",
        ],
    )
    .await;
    let server = app.serve(&[("HELIOGATE_ID_TOKEN_TTL", "300")]).await;
    let http = http();
    let issuer = IssuerUrl::new(server.base.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("roles".into()))
        .set_pkce_challenge(challenge)
        .url();

    // Carol signs in on the way and consents.
    let browser = Browser::new(&server);
    let first = browser
        .get(url.as_str().strip_prefix(&server.base).unwrap())
        .await;
    let next = query_param(&format!("http://x{}", location(&first)), "next").unwrap();
    assert_eq!(
        browser.sign_in_to("carol", PASSWORD, &next).await.status(),
        303
    );
    let callback = authorize(&browser, &server, url.as_str()).await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = query_param(&callback, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();

    // The library verifies the signature against the JWKS, iss, aud, exp and the nonce.
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert_eq!(claims.subject().as_str(), carol);
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("carol")
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("carol@example.org")
    );
    assert_eq!(claims.email_verified(), Some(false));
    let auth_time = claims.auth_time().expect("auth_time");
    assert!(auth_time <= claims.issue_time());
    assert_eq!(
        (claims.expiration() - claims.issue_time()).num_seconds(),
        300
    );
    assert_eq!(
        claims.authorized_party().map(|a| a.as_str()),
        Some(id.as_str())
    );
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(amr, ["pwd"]);
    // The raw payload: sid and the roles claim (which the library does not model).
    let payload = jwt_payload(&id_token.to_string());
    assert!(payload["sid"].as_str().is_some_and(|s| s.len() >= 16));
    assert_eq!(payload["roles"], serde_json::json!(["reader"]));
    assert_eq!(payload["iss"], server.base.as_str());

    // sub is the same at tokeninfo.
    let info: Value = tokeninfo(&server, tokens.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], carol.as_str());

    // UserInfo, through the library.
    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(userinfo.subject().as_str(), carol);
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("carol@example.org")
    );

    // A refresh keeps openid and brings a fresh ID token of the same sign-in, without nonce.
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert!(refreshed
        .scopes()
        .unwrap()
        .iter()
        .any(|s| s.as_str() == "openid"));
    let again = refreshed.id_token().expect("a fresh ID token");
    let again_claims = again
        .claims(&id_verifier, |nonce: Option<&Nonce>| match nonce {
            None => Ok(()),
            Some(_) => Err("a refreshed ID token has no nonce".to_owned()),
        })
        .unwrap();
    assert_eq!(again_claims.subject(), claims.subject());
    assert_eq!(again_claims.auth_time(), Some(auth_time));
    assert_eq!(jwt_payload(&again.to_string())["sid"], payload["sid"]);
}

async fn oidc_core_5_3_userinfo_answers_by_the_token_and_its_scope(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let client = oauth_client(&server, &id, Some(&secret));
    let browser = signed_in(&server, "alice").await;
    let with_openid = code_flow(&server, &client, &browser, &["openid", "read"]).await;
    let without = code_flow(&server, &client, &browser, &["read"]).await;
    let url = server.url("/oauth/userinfo");

    let ok = http()
        .get(&url)
        .bearer_auth(with_openid.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let body: Value = ok.json().await.unwrap();
    assert!(body["sub"].as_str().is_some());
    assert!(body.get("email").is_none() && body.get("name").is_none());
    // POST with the token in the form body.
    let posted = http()
        .post(&url)
        .form(&[("access_token", with_openid.access_token().secret())])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);

    // Without openid: 403 insufficient_scope.
    let refused = http()
        .get(&url)
        .bearer_auth(without.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    // No token, a made-up one, a revoked one: 401.
    let none = http().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    for token in ["made-up", with_openid.access_token().secret().as_str()] {
        if token != "made-up" {
            post_form(
                &server,
                "/oauth/revoke",
                Some((&id, &secret)),
                &[("token", token)],
            )
            .await;
        }
        let dead = http().get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(dead.status(), 401, "{token}");
        assert!(dead.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
}

async fn discovery_and_rfc_8414_are_one_document_and_the_keys_are_published(app: TestApp) {
    let issuer = "https://login.example.org";
    let server = app.serve(&[("HELIOGATE_ISSUER", issuer)]).await;
    let get = |path: &'static str| {
        let url = server.url(path);
        async move { http().get(url).send().await.unwrap() }
    };
    let oidc: Value = get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let oauth: Value = get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oidc, oauth);
    assert_eq!(oidc["issuer"], issuer);
    assert_eq!(oidc["jwks_uri"], format!("{issuer}/oauth/jwks"));
    assert_eq!(
        oidc["userinfo_endpoint"],
        format!("{issuer}/oauth/userinfo")
    );
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert_eq!(oidc["claims_parameter_supported"], false);
    assert!(oidc["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&Value::from("roles")));

    let jwks = get("/oauth/jwks").await;
    assert_eq!(jwks.headers()["content-type"], "application/jwk-set+json");
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=600");
    let jwks: Value = jwks.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["ES256", "RS256"]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|k| k.len() == 43));
        assert!(key.get("d").is_none(), "no private part: {key}");
    }
    // Another node on the same database publishes the same keys.
    let other = app.serve(&[("HELIOGATE_ISSUER", issuer)]).await;
    let again: Value = http()
        .get(other.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, jwks);
}

async fn oidc_core_3_1_2_1_prompt_and_max_age_are_honoured(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, _) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let url = |extra: &str| {
        format!(
            "/oauth/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback\
             &scope=openid%20read&state=s1&nonce=n1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256{extra}"
        )
    };
    let error_of = |response: &reqwest::Response| {
        let to = location(response);
        assert!(to.starts_with(CALLBACK), "{to}");
        assert_eq!(query_param(to, "state").as_deref(), Some("s1"));
        query_param(to, "error").unwrap_or_default()
    };
    // prompt=none answers the client, never with a page: nobody is signed in...
    let stranger = Browser::new(&server);
    let out = stranger.get(&url("&prompt=none")).await;
    assert_eq!(error_of(&out), "login_required");
    // ...the signed-in user has not consented yet...
    let browser = signed_in(&server, "alice").await;
    let out = browser.get(&url("&prompt=none")).await;
    assert_eq!(error_of(&out), "consent_required");
    // ...and once they have, a code.
    let base = format!("{}{}", server.base, url(""));
    authorize(&browser, &server, &base).await;
    let out = browser.get(&url("&prompt=none")).await;
    assert!(
        query_param(location(&out), "code").is_some(),
        "{}",
        location(&out)
    );
    // Malformed prompt or max_age: invalid_request.
    for bad in ["&prompt=none%20login", "&prompt=whenever", "&max_age=-5"] {
        let out = browser.get(&url(bad)).await;
        assert_eq!(error_of(&out), "invalid_request", "{bad}");
    }

    // prompt=login (and select_account): the sign-in form again, then back without it.
    for prompt in ["login", "select_account"] {
        let out = browser.get(&url(&format!("&prompt={prompt}"))).await;
        let to = location(&out).to_owned();
        assert!(
            to.starts_with("/login?next=") && to.ends_with("&again=1"),
            "{to}"
        );
        let next = query_param(&format!("http://x{to}"), "next").unwrap();
        assert!(!next.contains("prompt"), "{next}");
        let form = browser.get(&to).await;
        assert_eq!(form.status(), 200, "the form, although signed in");
        let html = form.text().await.unwrap();
        let csrf = form_value(&html, "csrf_token").unwrap();
        assert_eq!(
            form_value(&html, "next").map(|n| unescape(&n)),
            Some(next.clone())
        );
        let before = browser.session_cookie();
        let signed = browser
            .post(
                "/login",
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf),
                    ("next", &next),
                ],
            )
            .await;
        assert_eq!(location(&signed), next);
        assert_ne!(
            browser.session_cookie(),
            before,
            "a new sign-in, a new session"
        );
        let back = browser.get(&next).await;
        assert!(query_param(location(&back), "code").is_some());
    }

    // max_age: a sign-in older than that is done again; prompt=none then says login_required.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let out = browser.get(&url("&max_age=1")).await;
    assert!(
        location(&out).starts_with("/login?next="),
        "{}",
        location(&out)
    );
    let out = browser.get(&url("&max_age=1&prompt=none")).await;
    assert_eq!(error_of(&out), "login_required");
    let out = browser.get(&url("&max_age=3600")).await;
    assert!(query_param(location(&out), "code").is_some());
}

/// The code flow by hand for `scope`: the token response.
async fn openid_tokens(
    server: &crate::helpers::Server,
    browser: &Browser,
    client: (&str, &str),
    scope: &str,
) -> Value {
    let query = format!("scope={scope}");
    let response = code_tokens(server, browser, client, &query, &[]).await;
    response.json().await.unwrap()
}

async fn rp_initiated_logout_1_0_signs_out_and_returns_only_to_registered_uris(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let back = "http://127.0.0.1/signed-out";
    let (id, secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--post-logout-redirect-uri",
            back,
            "--scope",
            "openid",
            "--scope",
            "read",
        ],
    )
    .await;
    let secret = secret.unwrap();
    let server = app.serve(&[]).await;
    let discovery: Value = get_json(&server, "/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["end_session_endpoint"],
        server.url("/oauth/logout")
    );

    // With the ID token as hint: signed out at once, back at the registered URI with state.
    let browser = signed_in(&server, "alice").await;
    let tokens = openid_tokens(&server, &browser, (&id, &secret), "openid%20read").await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // A URI that is not registered: a page, no redirect, nothing ends.
    let out = browser
        .get(&format!(
            "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
            encoded("https://evil.example/")
        ))
        .await;
    assert_eq!(out.status(), 400);
    assert!(out.headers().get("location").is_none());
    assert!(signed_in_now(&browser).await);
    // A hint heliogate did not sign: refused.
    let mut parts: Vec<&str> = hint.split('.').collect();
    let forged_payload = jwt_payload(&hint);
    let mut forged_payload = forged_payload.as_object().unwrap().clone();
    forged_payload.insert("sub".into(), Value::from("someone-else"));
    let forged_part = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&forged_payload).unwrap())
    };
    parts[1] = &forged_part;
    let forged = parts.join(".");
    let out = browser
        .get(&format!("/oauth/logout?id_token_hint={forged}"))
        .await;
    assert_eq!(out.status(), 400);
    assert!(signed_in_now(&browser).await);
    let out = browser
        .get(&format!(
            "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=st%201",
            encoded(back)
        ))
        .await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), format!("{back}?state=st+1"));
    assert!(!signed_in_now(&browser).await);

    // Without a hint, the user confirms first; a forged confirmation does nothing.
    let browser = signed_in(&server, "alice").await;
    let query = format!("client_id={id}&post_logout_redirect_uri={}", encoded(back));
    let page = browser.get(&format!("/oauth/logout?{query}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out of"), "{html}");
    let csrf = form_value(&html, "csrf_token").unwrap();
    let confirm = |token: &str| {
        vec![
            ("csrf_token".to_owned(), token.to_owned()),
            ("confirm".to_owned(), "yes".to_owned()),
            ("client_id".to_owned(), id.clone()),
            ("post_logout_redirect_uri".to_owned(), back.to_owned()),
        ]
    };
    let forged_form = confirm("forged");
    let pairs: Vec<(&str, &str)> = forged_form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(browser.post("/oauth/logout", &pairs).await.status(), 403);
    assert!(signed_in_now(&browser).await);
    let real = confirm(&csrf);
    let pairs: Vec<(&str, &str)> = real.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = browser.post("/oauth/logout", &pairs).await;
    assert_eq!(location(&out), back);
    assert!(!signed_in_now(&browser).await);
    // Nobody signed in: straight back.
    let out = browser.get(&format!("/oauth/logout?{query}")).await;
    assert_eq!(location(&out), back);
}

async fn signed_in_now(browser: &Browser) -> bool {
    browser.get("/").await.status() == 200
}

/// Verifies a JWT against the server's JWKS as a resource server would; its header and claims.
async fn verify_locally(
    server: &crate::helpers::Server,
    jwt: &str,
) -> (jsonwebtoken::Header, Value) {
    verify_for(server, &server.base, jwt).await
}

/// `verify_locally` for a server whose issuer is `issuer`.
async fn verify_for(
    server: &crate::helpers::Server,
    issuer: &str,
    jwt: &str,
) -> (jsonwebtoken::Header, Value) {
    let jwks: jsonwebtoken::jwk::JwkSet = get_json(server, "/oauth/jwks").await;
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation).unwrap();
    (header, data.claims)
}

async fn rfc_9068_jwt_access_tokens_verify_locally_and_are_checked_and_revoked_like_opaque_ones(
    app: TestApp,
) {
    let alice = app.add_user("alice", &["reader"]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (service, service_secret) = register(
        &app,
        &[
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--access-token-format",
            "jwt",
            "--signing-alg",
            "ES256",
        ],
    )
    .await;
    let service_secret = service_secret.unwrap();
    let (web, web_secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--scope",
            "openid",
            "--scope",
            "read",
            "--access-token-format",
            "jwt",
        ],
    )
    .await;
    let web_secret = web_secret.unwrap();
    app.run(&["client", "add", "x", "--access-token-format", "paseto"])
        .await
        .refused("unknown access token format");
    let server = app.serve(&[]).await;

    // Client credentials: an ES256 at+jwt whose subject is the client.
    let issued: Value = post_form(
        &server,
        "/oauth/token",
        Some((&service, &service_secret)),
        &[("grant_type", "client_credentials")],
    )
    .await
    .json()
    .await
    .unwrap();
    let jwt = issued["access_token"].as_str().unwrap().to_owned();
    let (header, claims) = verify_locally(&server, &jwt).await;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(claims["sub"], service.as_str());
    assert_eq!(claims["client_id"], service.as_str());
    assert_eq!(claims["aud"], service.as_str());
    assert_eq!(claims["scope"], "read");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 22));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    // heliogate checks it like an opaque token: tokeninfo, introspection, revocation.
    assert_eq!(tokeninfo_status(&server, &jwt).await, 200);
    let introspected: Value = post_form(
        &server,
        "/oauth/introspect",
        Some((&service, &service_secret)),
        &[("token", &jwt)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(introspected["active"], true);
    let mut forged: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    forged[2] = forged[2].chars().rev().collect();
    assert_eq!(tokeninfo_status(&server, &forged.join(".")).await, 401);
    post_form(
        &server,
        "/oauth/revoke",
        Some((&service, &service_secret)),
        &[("token", &jwt)],
    )
    .await;
    assert_eq!(tokeninfo_status(&server, &jwt).await, 401);

    // The code flow: an RS256 at+jwt about the user, good at UserInfo.
    let browser = signed_in(&server, "alice").await;
    let tokens = openid_tokens(&server, &browser, (&web, &web_secret), "openid%20read").await;
    let jwt = tokens["access_token"].as_str().unwrap();
    let (header, claims) = verify_locally(&server, jwt).await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["client_id"], web.as_str());
    let userinfo = http()
        .get(server.url("/oauth/userinfo"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
}

async fn a_key_rotation_publishes_first_and_keeps_old_tokens_verifiable(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (web, web_secret) = register_openid(&app).await;
    let issuer = "http://login.heliogate.test";
    let before = app.serve(&[("HELIOGATE_ISSUER", issuer)]).await;
    let browser = signed_in(&before, "alice").await;
    let old = openid_tokens(&before, &browser, (&web, &web_secret), "openid").await;
    let old_token = old["id_token"].as_str().unwrap().to_owned();
    let (old_header, _) = verify_for(&before, issuer, &old_token).await;

    // With the default overlap, the new keys are published but do not sign yet.
    let listed = app.run(&["key", "rotate", "--json"]).await.json();
    let states = |listed: &Value, state: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == state)
            .count()
    };
    assert_eq!(
        (states(&listed, "signing"), states(&listed, "next")),
        (2, 2)
    );
    // Rotating again at once, with no overlap: the newest keys sign, every older one stays
    // published until what it signed has expired.
    let listed = app
        .run(&["--key-rotation-overlap", "0", "key", "rotate", "--json"])
        .await
        .json();
    assert_eq!(
        (states(&listed, "signing"), states(&listed, "published")),
        (2, 4),
        "{listed}"
    );
    assert_eq!(app.run(&["key", "list", "--json"]).await.json(), listed);

    // A node started now signs with the new key and still verifies the old token.
    let after = app.serve(&[("HELIOGATE_ISSUER", issuer)]).await;
    let browser = signed_in(&after, "alice").await;
    let new = openid_tokens(&after, &browser, (&web, &web_secret), "openid").await;
    let (new_header, _) = verify_for(&after, issuer, new["id_token"].as_str().unwrap()).await;
    assert_ne!(new_header.kid, old_header.kid);
    verify_for(&after, issuer, &old_token).await;
    // (A node that ran through the rotation reads the keys again within a minute; the default
    // overlap of ten minutes has every node and every relying party's cache publish a new key
    // before any node signs with it.)
}

async fn signing_keys_are_sealed_under_the_key_encryption_key(app: TestApp) {
    use base64::Engine;
    app.add_user("alice", &["reader"]).await;
    let (web, web_secret) = register_openid(&app).await;
    let kek = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([42u8; 32]);
    let issuer = "http://sealed.heliogate.test";
    let server = app
        .serve(&[
            ("HELIOGATE_ISSUER", issuer),
            ("HELIOGATE_KEY_ENCRYPTION_KEY", kek.as_str()),
        ])
        .await;
    let browser = signed_in(&server, "alice").await;
    let tokens = openid_tokens(&server, &browser, (&web, &web_secret), "openid").await;
    verify_for(&server, issuer, tokens["id_token"].as_str().unwrap()).await;
    let stored = app.store().await.all_signing_keys().await.unwrap();
    assert_eq!(stored.len(), 2);
    for key in &stored {
        assert!(key.private_key.starts_with(b"HGK1"), "{key:?} is sealed");
    }
    // Without the key, or with another, a node refuses to start and says why.
    let other = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([43u8; 32]);
    for env in [None, Some(other.as_str())] {
        let mut command = app.command();
        command.args(["--issuer", issuer, "--listen", "127.0.0.1:0", "serve"]);
        if let Some(kek) = env {
            command.env("HELIOGATE_KEY_ENCRYPTION_KEY", kek);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("HELIOGATE_KEY_ENCRYPTION_KEY"), "{stderr}");
    }
    // A malformed key is refused by name.
    let out = app
        .run(&["--key-encryption-key", "short", "key", "list"])
        .await;
    out.refused("key_encryption_key");
}

/// A confidential OpenID Connect client: its id and secret.
async fn register_openid(app: &TestApp) -> (String, String) {
    let (id, secret) = register(
        app,
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
    (id, secret.unwrap())
}
