//! Tokens follow the sign-in session they were issued through: ending the session (signing out,
//! RP-initiated logout, the sessions page, an administrator) ends its access tokens and its
//! refresh tokens, but not a refresh token granted with `offline_access` (which the account
//! page shows as offline access); another session's tokens stay. (The guard's side: `guard.rs`; the store's: `conformance/flows.rs`.)

use serde_json::Value;

use crate::helpers::{Browser, Server, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    signing_out_ends_the_tokens_of_the_session_but_offline_access,
);

async fn tokens(server: &Server, browser: &Browser, client: (&str, &str), scope: &str) -> Value {
    code_tokens(server, browser, client, &format!("scope={scope}"), &[])
        .await
        .json()
        .await
        .unwrap()
}

async fn tokeninfo(server: &Server, token: &Value) -> u16 {
    tokeninfo_status(server, token["access_token"].as_str().unwrap()).await
}

async fn refresh(server: &Server, client: (&str, &str), token: &Value) -> u16 {
    post_form(
        server,
        "/oauth/token",
        Some(client),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().unwrap()),
        ],
    )
    .await
    .status()
    .as_u16()
}

async fn signing_out_ends_the_tokens_of_the_session_but_offline_access(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (web, secret) = register_web(&app).await;
    let client = (web.as_str(), secret.as_str());
    let server = app.serve(&[]).await;
    let browser = signed_in(&server, "alice").await;
    let elsewhere = signed_in(&server, "alice").await;
    let online = tokens(&server, &browser, client, "read").await;
    let offline = tokens(&server, &browser, client, "read%20offline_access").await;
    let other = tokens(&server, &elsewhere, client, "read").await;
    for t in [&online, &offline, &other] {
        assert_eq!(tokeninfo(&server, t).await, 200, "{t}");
    }
    assert_eq!(browser.sign_out().await, 303);
    // The session's access tokens end at once (no cache on this node keeps them).
    assert_eq!(tokeninfo(&server, &online).await, 401);
    assert_eq!(tokeninfo(&server, &offline).await, 401);
    assert_eq!(
        tokeninfo(&server, &other).await,
        200,
        "another session's token stays"
    );
    // Its refresh token ends; the one granted with offline_access lives on.
    assert_eq!(refresh(&server, client, &online).await, 400);
    assert_eq!(refresh(&server, client, &offline).await, 200);
    assert_eq!(refresh(&server, client, &other).await, 200);
    // The account page says which application keeps access after a sign-out.
    let page = elsewhere.get("/").await.text().await.unwrap();
    assert!(page.contains("offline access"), "{page}");
}
