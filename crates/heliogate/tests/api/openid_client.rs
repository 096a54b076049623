//! panva's openid-client (npm), a certified OpenID Connect relying-party library, signs a user
//! in through heliogate: discovery, the code flow with PKCE, nonce and state, ID token
//! validation, UserInfo, refresh, and the end-session URL. `.ci/run` installs it next to its
//! script (`tests/openid-client`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{location, Backend, TestApp};
use crate::oauth_helpers::*;

/// The folder of the relying party's script, once its packages are installed.
fn relying_party() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openid-client"));
    assert!(
        dir.join("node_modules/openid-client").is_dir(),
        "this test needs openid-client: run `npm ci` in {}",
        dir.display()
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_signs_a_user_in_validates_the_id_token_and_signs_out() {
    let dir = relying_party();
    let app = TestApp::new(Backend::Sqlite).await;
    let carol = add_carol(&app).await;
    let bye = "http://127.0.0.1/bye";
    let (id, secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--post-logout-redirect-uri",
            bye,
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
        ],
    )
    .await;
    let server = app.serve(&[]).await;
    let mut rp = Command::new("node")
        .arg(dir.join("rp.mjs"))
        .args([&server.base, &id, &secret.unwrap(), CALLBACK, bye])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node");
    let mut stdin = rp.stdin.take().unwrap();
    let mut lines = BufReader::new(rp.stdout.take().unwrap()).lines();
    // A blocking read is fine here: the server and the relying party are other processes.
    let mut next_step = || -> Value {
        let line = lines
            .next()
            .expect("a line from the relying party")
            .unwrap();
        serde_json::from_str(&line).unwrap()
    };
    let authorize_url = next_step()["authorize"].as_str().unwrap().to_owned();

    let browser = signed_in(&server, "carol").await;
    let callback = authorize(&browser, &server, &authorize_url).await;
    writeln!(stdin, "{callback}").unwrap();
    drop(stdin);
    let done = next_step();
    assert!(rp.wait().unwrap().success());

    assert_eq!(done["claims"]["sub"], carol.as_str());
    assert_eq!(done["claims"]["iss"], server.base.as_str());
    assert_eq!(done["claims"]["aud"], id.as_str());
    assert_eq!(done["claims"]["email"], "carol@example.org");
    assert_eq!(done["userinfo"]["sub"], carol.as_str());
    assert_eq!(done["userinfo"]["preferred_username"], "carol");
    assert_eq!(done["refreshed_sub"], carol.as_str());
    let end_session = done["end_session"].as_str().unwrap();
    assert!(
        end_session.starts_with(&server.url("/oauth/logout?")),
        "{end_session}"
    );
    let out = browser
        .get(end_session.strip_prefix(&server.base).unwrap())
        .await;
    assert_eq!(location(&out), format!("{bye}?state=bye"));
    assert_eq!(browser.get("/").await.status(), 303, "signed out");
}
