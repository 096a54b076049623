//! What a resource server and an operator see: revocation (RFC 7009), introspection (RFC
//! 7662), tokeninfo, the metadata document (RFC 8414) and the audit log of the flows.

use oauth2::TokenResponse;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_7009_revocation,
    rfc_7662_introspection,
    tokeninfo_speaks_the_original_contract,
    rfc_8414_metadata_describes_the_server,
    oauth_events_are_audited,
);

async fn rfc_7009_revocation(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let (other, other_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let other_secret = other_secret.unwrap();
    let server = app.serve(&[]).await;
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
    assert_eq!(tokeninfo_status(&server, &access).await, 200);
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
    assert_eq!(tokeninfo_status(&server, &access).await, 401);
    assert!(client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http())
        .await
        .is_err());
}

async fn rfc_7662_introspection(app: TestApp) {
    let user = app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_web(&app).await;
    let (rs, rs_secret) = register_resource_server(&app).await;
    let (other, other_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let other_secret = other_secret.unwrap();
    let (public, _) = register(
        &app,
        &["--public", "--redirect-uri", CALLBACK, "--scope", "read"],
    )
    .await;
    let server = app.serve(&[]).await;
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
    // RFC 7662 §4: without --introspect a client sees only its own tokens; a refresh token
    // only ever its own client.
    let ask = |who: (&str, &str), token: &str| {
        let (who, token) = ((who.0.to_owned(), who.1.to_owned()), token.to_owned());
        let server = &server;
        async move {
            post_form(
                server,
                "/oauth/introspect",
                Some((&who.0, &who.1)),
                &[("token", &token)],
            )
            .await
            .json::<Value>()
            .await
            .unwrap()
        }
    };
    let refresh_token = tokens.refresh_token().unwrap().secret();
    assert_eq!(
        ask((&other, &other_secret), access).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(
        ask((&rs, &rs_secret), refresh_token).await,
        serde_json::json!({ "active": false })
    );
    let refresh = ask((&id, &secret), refresh_token).await;
    assert_eq!(
        (refresh["active"].clone(), refresh["token_type"].clone()),
        (Value::Bool(true), Value::from("refresh_token"))
    );
    assert_eq!(ask((&id, &secret), access).await["active"], true);
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
    app.run(&["token", "revoke", "--user", "alice"]).await.ok();
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
    )
    .await;
    let secret = secret.unwrap();
    let server = app.serve(&[("HELIOGATE_ACCESS_TOKEN_TTL", "2")]).await;
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
    assert_eq!(tokeninfo_status(&server, &token).await, 200);
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
    assert_eq!(tokeninfo_status(&server, &token).await, 401);
    // Revoked.
    let fresh = issue().await;
    post_form(
        &server,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", &fresh)],
    )
    .await;
    assert_eq!(tokeninfo_status(&server, &fresh).await, 401);
}

async fn rfc_8414_metadata_describes_the_server(app: TestApp) {
    let server = app
        .serve(&[("HELIOGATE_ISSUER", "https://login.example.org")])
        .await;
    let meta: Value = get_json(&server, "/.well-known/oauth-authorization-server").await;
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
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        meta["device_authorization_endpoint"],
        "https://login.example.org/oauth/device_authorization"
    );
    assert_eq!(
        meta["pushed_authorization_request_endpoint"],
        "https://login.example.org/oauth/par"
    );
    let algs = meta["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&Value::from("ES256")) && !algs.contains(&Value::from("HS256")));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    let scopes = meta["scopes_supported"].as_array().unwrap();
    for s in ["read", "write", "execute", "admin", "openid"] {
        assert!(scopes.contains(&Value::from(s)), "{s}");
    }
}

async fn oauth_events_are_audited(app: TestApp) {
    let (id, secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let secret = secret.unwrap();
    let server = app.serve(&[]).await;
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
