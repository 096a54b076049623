//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6): code redemption, client
//! authentication, client credentials, refresh rotation, and malformed requests.

use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse,
};
use serde_json::Value;

use crate::helpers::{location, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_6749_4_1_2_a_code_works_once_and_a_replay_revokes_its_tokens,
    rfc_6749_4_1_3_a_code_is_bound_to_its_client_and_redirect_uri,
    rfc_6749_2_3_client_authentication_takes_exactly_one_method,
    rfc_6749_4_4_client_credentials,
    rfc_6749_5_2_malformed_token_requests_are_invalid_request,
    rfc_6749_6_refresh_rotates_narrows_and_never_widens,
    rfc_9700_4_14_a_replayed_refresh_token_revokes_its_family,
);

async fn rfc_6749_4_1_2_a_code_works_once_and_a_replay_revokes_its_tokens(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = query_param(&authorize(&browser, &server, url.as_str()).await, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        tokeninfo_status(&server, tokens.access_token().secret()).await,
        200
    );
    let err = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
    assert_eq!(
        tokeninfo_status(&server, tokens.access_token().secret()).await,
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
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let (other, other_secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let client = oauth_client(&server, &id, Some(&secret));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url()
        .0
        .to_string();
    let code = query_param(&authorize(&browser, &server, &url).await, "code").unwrap();
    let thief = oauth_client(&server, &other, Some(&other_secret));
    let err = thief
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
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
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    assert_eq!(json_error(out).await, (400, "invalid_grant".into()));
    let code = query_param(location(&open(&browser, &server, &url).await), "code").unwrap();
    let out = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
        ],
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
    )
    .await;
    let secret = secret.unwrap();
    let (public, _) = register(
        &app,
        &["--public", "--redirect-uri", CALLBACK, "--scope", "read"],
    )
    .await;
    let server = app.serve(&[]).await;
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
    )
    .await;
    let secret = secret.unwrap();
    let (web, web_secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
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
    )
    .await;
    let secret = secret.unwrap();
    let server = app.serve(&[]).await;
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

async fn rfc_6749_6_refresh_rotates_narrows_and_never_widens(app: TestApp) {
    app.add_user("alice", &["moderator"]).await;
    let (id, secret) = register_web(&app).await;
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
    )
    .await;
    let no_refresh_secret = no_refresh_secret.unwrap();
    let server = app.serve(&[]).await;
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
    // A role taken away ends the refresh tokens, and the access tokens that carry a scope
    // it gave; the application asks the user again.
    app.run(&["user", "set-roles", "alice", "reader"])
        .await
        .ok();
    let after = post_form(
        &server,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", full.refresh_token().unwrap().secret()),
        ],
    )
    .await;
    assert_eq!(json_error(after).await, (400, "invalid_grant".into()));
    assert_eq!(
        tokeninfo_status(&server, full.access_token().secret()).await,
        401
    );
    // Another client cannot use it; a client without the grant gets no refresh token.
    let thief = post_form(
        &server,
        "/oauth/token",
        Some((&no_refresh, &no_refresh_secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", full.refresh_token().unwrap().secret()),
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
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let server = app.serve(&[]).await;
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
        tokeninfo_status(&server, second.access_token().secret()).await,
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
        tokeninfo_status(&server, second.access_token().secret()).await,
        401
    );
    assert_eq!(
        tokeninfo_status(&server, tokens.access_token().secret()).await,
        401
    );
    assert!(client
        .exchange_refresh_token(second.refresh_token().unwrap())
        .request_async(&http())
        .await
        .is_err());
}
