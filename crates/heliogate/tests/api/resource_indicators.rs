//! Resource indicators (RFC 8707): a client names the resource server a token is for, among
//! those registered for it, and the token carries it as its audience.

use serde_json::Value;

use crate::helpers::{location, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_8707_section_2_resource_sets_the_audience_of_client_credentials_tokens,
    rfc_8707_section_2_1_a_code_keeps_its_resources_and_the_token_request_only_narrows_them,
);

const API: &str = "https://api.example.org/";
const REPORTS: &str = "https://reports.example.org/";

/// A JWT's claims, unverified (the OpenID Connect tests verify signatures).
fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

async fn introspected(server: &crate::helpers::Server, client: (&str, &str), token: &str) -> Value {
    post_form(
        server,
        "/oauth/introspect",
        Some(client),
        &[("token", token)],
    )
    .await
    .json()
    .await
    .unwrap()
}

async fn rfc_8707_section_2_resource_sets_the_audience_of_client_credentials_tokens(app: TestApp) {
    let resources = ["--resource", API, "--resource", REPORTS];
    let (jwt_id, jwt_secret) = register(
        &app,
        &[
            &[
                "--grant-type",
                "client_credentials",
                "--scope",
                "read",
                "--access-token-format",
                "jwt",
            ][..],
            &resources,
        ]
        .concat(),
    )
    .await;
    let jwt_client = (jwt_id.as_str(), jwt_secret.as_deref().unwrap());
    let (opaque_id, opaque_secret) = register(
        &app,
        &[
            &["--grant-type", "client_credentials", "--scope", "read"][..],
            &resources,
        ]
        .concat(),
    )
    .await;
    let opaque_client = (opaque_id.as_str(), opaque_secret.as_deref().unwrap());
    app.run(&[
        "client",
        "add",
        "x",
        "--resource",
        "https://api.example.org/#part",
    ])
    .await
    .refused("must not have a fragment");
    let shown = app.run(&["client", "show", &jwt_id, "--json"]).await.json();
    assert_eq!(shown["resources"], serde_json::json!([API, REPORTS]));
    let server = app.serve(&[]).await;

    // One resource: the JWT's `aud` is that resource, and introspection says so.
    let issued: Value = post_form(
        &server,
        "/oauth/token",
        Some(jwt_client),
        &[("grant_type", "client_credentials"), ("resource", API)],
    )
    .await
    .json()
    .await
    .unwrap();
    let jwt = issued["access_token"].as_str().unwrap();
    assert_eq!(claims(jwt)["aud"], API);
    assert_eq!(introspected(&server, jwt_client, jwt).await["aud"], API);

    // Two: an array, in both places.
    let issued: Value = post_form(
        &server,
        "/oauth/token",
        Some(jwt_client),
        &[
            ("grant_type", "client_credentials"),
            ("resource", API),
            ("resource", REPORTS),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let jwt = issued["access_token"].as_str().unwrap();
    assert_eq!(claims(jwt)["aud"], serde_json::json!([API, REPORTS]));
    assert_eq!(
        introspected(&server, jwt_client, jwt).await["aud"],
        serde_json::json!([API, REPORTS])
    );

    // None: the client itself, as before; introspection names no audience.
    let issued: Value = post_form(
        &server,
        "/oauth/token",
        Some(jwt_client),
        &[("grant_type", "client_credentials")],
    )
    .await
    .json()
    .await
    .unwrap();
    let jwt = issued["access_token"].as_str().unwrap();
    assert_eq!(claims(jwt)["aud"], jwt_id.as_str());
    assert!(introspected(&server, jwt_client, jwt)
        .await
        .get("aud")
        .is_none());

    // An opaque token's audience is reported by introspection.
    let issued: Value = post_form(
        &server,
        "/oauth/token",
        Some(opaque_client),
        &[("grant_type", "client_credentials"), ("resource", REPORTS)],
    )
    .await
    .json()
    .await
    .unwrap();
    let opaque = issued["access_token"].as_str().unwrap();
    assert_eq!(
        introspected(&server, opaque_client, opaque).await["aud"],
        REPORTS
    );

    // §2: a resource not registered for the client, or not an absolute URI without fragment,
    // is invalid_target, and no token is issued.
    for bad in [
        "https://elsewhere.example/",
        "relative/path",
        "https://api.example.org/#x",
    ] {
        let refused = post_form(
            &server,
            "/oauth/token",
            Some(jwt_client),
            &[("grant_type", "client_credentials"), ("resource", bad)],
        )
        .await;
        assert_eq!(
            json_error(refused).await,
            (400, "invalid_target".into()),
            "{bad}"
        );
    }
}

async fn rfc_8707_section_2_1_a_code_keeps_its_resources_and_the_token_request_only_narrows_them(
    app: TestApp,
) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--scope",
            "read",
            "--access-token-format",
            "jwt",
            "--resource",
            API,
            "--resource",
            REPORTS,
        ],
    )
    .await;
    let client = (id.as_str(), secret.as_deref().unwrap());
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let api = "resource=https%3A%2F%2Fapi.example.org%2F";

    // The authorization request's resource is the token's audience.
    let tokens: Value = code_tokens(&server, &browser, client, &format!("scope=read&{api}"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["aud"], API);
    // Its refresh may name any resource registered for the client.
    let refreshed: Value = post_form(
        &server,
        "/oauth/token",
        Some(client),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("resource", REPORTS),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        claims(refreshed["access_token"].as_str().unwrap())["aud"],
        REPORTS
    );

    // §2.2: the token request may not widen what was authorized.
    let widened = code_tokens(
        &server,
        &browser,
        client,
        &format!("scope=read&{api}"),
        &[("resource", REPORTS)],
    )
    .await;
    assert_eq!(json_error(widened).await, (400, "invalid_target".into()));

    // An unregistered resource at the authorization endpoint goes back to the client as
    // invalid_target, with its state, and no code.
    let url = format!(
        "{}/oauth/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback\
         &scope=read&state=s9&resource=https%3A%2F%2Felsewhere.example%2F\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.base
    );
    let answer = open(&browser, &server, &url).await;
    let to = location(&answer);
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(query_param(to, "error").as_deref(), Some("invalid_target"));
    assert_eq!(query_param(to, "state").as_deref(), Some("s9"));
    assert!(query_param(to, "code").is_none());
}
