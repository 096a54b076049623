//! Token exchange (RFC 8693) at the token endpoint, on both engines: what the issued token is
//! (§2.2.1, §4.1 `act`), the refusals of §2.2.2, and a token that ends with the one it was
//! exchanged from. (openid-client drives it too: `openid_client.rs`.)

use serde_json::Value;

use crate::helpers::{Server, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_8693_issues_a_token_acting_for_the_user_for_the_downstream_service,
    rfc_8693_2_2_2_refusals,
    a_user_cannot_register_an_application_that_exchanges_tokens,
);

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const DOWNSTREAM: &str = "https://downstream.example/";

/// A service allowed to exchange, for the downstream service; and a resource server that may
/// introspect.
async fn services(app: &TestApp) -> ((String, String), (String, String)) {
    let (exchanger, secret) = register(
        app,
        &[
            "--grant-type",
            "token_exchange",
            "--scope",
            "read",
            "--resource",
            DOWNSTREAM,
        ],
    )
    .await;
    let (rs, rs_secret) = register_resource_server(app).await;
    ((exchanger, secret.unwrap()), (rs, rs_secret))
}

async fn exchange(
    server: &Server,
    client: (&str, &str),
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("grant_type", EXCHANGE)];
    form.extend_from_slice(extra);
    post_form(server, "/oauth/token", Some(client), &form).await
}

async fn introspect(server: &Server, rs: (&str, &str), token: &str) -> Value {
    post_form(server, "/oauth/introspect", Some(rs), &[("token", token)])
        .await
        .json()
        .await
        .unwrap()
}

async fn rfc_8693_issues_a_token_acting_for_the_user_for_the_downstream_service(app: TestApp) {
    let server = app.serve(&[]).await;
    let alice = alice_session(&app, &server).await;
    let (web, web_secret) = alice.client;
    let subject = alice.tokens["access_token"].as_str().unwrap().to_owned();
    let ((exchanger, secret), (rs, rs_secret)) = services(&app).await;
    let client = (exchanger.as_str(), secret.as_str());
    let rs = (rs.as_str(), rs_secret.as_str());
    let issued = exchange(
        &server,
        client,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", DOWNSTREAM),
        ],
    )
    .await;
    assert_eq!(issued.status(), 200);
    assert_eq!(issued.headers()["cache-control"], "no-store");
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["issued_token_type"], ACCESS);
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["scope"], "read");
    assert!(
        issued.get("refresh_token").is_none(),
        "never a refresh token: {issued}"
    );
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let subject_info = introspect(&server, rs, &subject).await;
    let info = introspect(&server, rs, &token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], subject_info["sub"], "the user as sub");
    assert_eq!(info["username"], "alice");
    assert_eq!(info["client_id"], exchanger.as_str());
    assert_eq!(info["aud"], DOWNSTREAM);
    assert_eq!(
        info["act"]["sub"],
        exchanger.as_str(),
        "the exchanging client acts: {info}"
    );
    assert!(info["exp"].as_i64() <= subject_info["exp"].as_i64());

    // An actor token names who acts; an earlier actor nests (§4.1).
    let (actor, actor_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let actor_token: Value = post_form(
        &server,
        "/oauth/token",
        Some((&actor, actor_secret.as_deref().unwrap())),
        &[("grant_type", "client_credentials")],
    )
    .await
    .json()
    .await
    .unwrap();
    let again: Value = exchange(
        &server,
        client,
        &[
            ("subject_token", &token),
            ("subject_token_type", ACCESS),
            ("actor_token", actor_token["access_token"].as_str().unwrap()),
            ("actor_token_type", ACCESS),
            ("audience", DOWNSTREAM),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let chained = again["access_token"].as_str().unwrap().to_owned();
    let info = introspect(&server, rs, &chained).await;
    assert_eq!(info["act"]["sub"], actor.as_str(), "{info}");
    assert_eq!(info["act"]["act"]["sub"], exchanger.as_str(), "{info}");

    // The subject token ends (RFC 7009, by its client): both exchanged tokens end with it.
    let revoked = post_form(
        &server,
        "/oauth/revoke",
        Some((&web, &web_secret)),
        &[("token", &subject)],
    )
    .await;
    assert_eq!(revoked.status(), 200);
    for t in [&token, &chained] {
        assert_eq!(introspect(&server, rs, t).await["active"], false);
    }
}

async fn rfc_8693_2_2_2_refusals(app: TestApp) {
    let server = app.serve(&[]).await;
    let (_, answer) = alice_tokens(&app, &server).await;
    let subject = answer["access_token"].as_str().unwrap().to_owned();
    let ((exchanger, secret), _) = services(&app).await;
    let client = (exchanger.as_str(), secret.as_str());
    let base = [
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = base.to_vec();
        form.extend_from_slice(extra);
        form
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (with(&[]), "invalid_target"),
        (
            with(&[("resource", "https://elsewhere.example/")]),
            "invalid_target",
        ),
        (with(&[("audience", "elsewhere")]), "invalid_target"),
        (
            with(&[("resource", DOWNSTREAM), ("scope", "write")]),
            "invalid_scope",
        ),
        (
            with(&[
                ("resource", DOWNSTREAM),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:refresh_token",
                ),
            ]),
            "invalid_request",
        ),
        (
            with(&[("resource", DOWNSTREAM), ("actor_token_type", ACCESS)]),
            "invalid_request",
        ),
        (
            with(&[
                ("resource", DOWNSTREAM),
                ("actor_token", "unknown"),
                ("actor_token_type", ACCESS),
            ]),
            "invalid_grant",
        ),
        (
            vec![
                ("subject_token", "unknown"),
                ("subject_token_type", ACCESS),
                ("resource", DOWNSTREAM),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("subject_token", subject.as_str()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
                ("resource", DOWNSTREAM),
            ],
            "invalid_request",
        ),
        (
            vec![("subject_token_type", ACCESS), ("resource", DOWNSTREAM)],
            "invalid_request",
        ),
    ];
    for (form, error) in cases {
        let answer = exchange(&server, client, &form).await;
        assert_eq!(json_error(answer).await, (400, error.into()), "{form:?}");
    }
    // A client without the grant, and a client that cannot authenticate.
    let (plain, plain_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let answer = exchange(
        &server,
        (&plain, plain_secret.as_deref().unwrap()),
        &with(&[("resource", DOWNSTREAM)]),
    )
    .await;
    assert_eq!(
        json_error(answer).await,
        (400, "unauthorized_client".into())
    );
    let answer = exchange(
        &server,
        (&exchanger, "wrong"),
        &with(&[("resource", DOWNSTREAM)]),
    )
    .await;
    assert_eq!(json_error(answer).await, (401, "invalid_client".into()));
    // A public client cannot be registered for it.
    let refused = app
        .run(&[
            "client",
            "add",
            "x",
            "--public",
            "--grant-type",
            "token_exchange",
        ])
        .await;
    assert_ne!(refused.code, 0);
}

/// Exchanging tokens is for services an administrator registers, with the resource servers
/// they may call: a user's own application cannot have the grant.
async fn a_user_cannot_register_an_application_that_exchanges_tokens(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let csrf = browser.csrf("/account/clients/new").await;
    let refused = browser
        .post(
            "/account/clients",
            &[
                ("csrf_token", &csrf),
                ("name", "Relay"),
                ("client_type", "confidential"),
                ("grant_type", "token_exchange"),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("administrator"));
}
