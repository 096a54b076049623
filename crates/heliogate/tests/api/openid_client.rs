//! panva's openid-client (npm), a certified OpenID Connect relying-party library, signs a user
//! in through heliogate: discovery, the code flow with PKCE, nonce and state, ID token
//! validation, UserInfo, refresh, and the end-session URL; and its device authorization (RFC
//! 8628), pushed authorization request (RFC 9126), DPoP (RFC 9449) and token exchange (RFC 8693)
//! flows. `.ci/run`
//! installs it next to its scripts (`tests/openid-client`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{location, Backend, TestApp};
use crate::oauth_helpers::*;

/// The folder of the relying party's script, once its packages are installed.
pub(crate) fn relying_party() -> PathBuf {
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

/// A run of `flows.mjs`: its steps, one JSON line each, and its standard input.
struct Flow {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Flow {
    fn start(args: &[&str]) -> Flow {
        let dir = relying_party();
        let mut child = Command::new("node")
            .arg(dir.join("flows.mjs"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run node");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Flow {
            child,
            stdin,
            lines,
        }
    }

    fn step(&mut self) -> Value {
        let line = self
            .lines
            .next()
            .expect("a line from openid-client")
            .unwrap();
        serde_json::from_str(&line).unwrap()
    }

    fn send(&mut self, line: &str) {
        let mut stdin = self.stdin.take().unwrap();
        writeln!(stdin, "{line}").unwrap();
    }

    fn finish(mut self) -> Value {
        let last = self.step();
        assert!(self.child.wait().unwrap().success());
        last
    }
}

/// RFC 8628 with openid-client: the device asks, carol approves at `/device` in her browser,
/// the device's poll gets her tokens (and a valid ID token), and the application is listed
/// among her authorized ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_runs_the_device_flow_approved_in_a_browser() {
    let app = TestApp::new(Backend::Sqlite).await;
    let carol = add_carol(&app).await;
    let (id, secret) = register(
        &app,
        &[
            "--public",
            "--grant-type",
            "device_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid",
            "--scope",
            "read",
        ],
    )
    .await;
    assert_eq!(secret, None);
    let server = app.serve(&[]).await;
    let mut device = Flow::start(&["device", &server.base, &id, "-"]);
    let started = device.step();
    let complete = started["verification_uri_complete"].as_str().unwrap();
    assert_eq!(started["verification_uri"], server.url("/device"));
    let user_code = started["user_code"].as_str().unwrap();
    assert!(complete.ends_with(&format!("/device?user_code={user_code}")));

    let browser = signed_in(&server, "carol").await;
    let form = browser
        .get(complete.strip_prefix(&server.base).unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains(user_code), "{form}");
    let csrf = browser.csrf("/device").await;
    // Typed as a person might: lower case, without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let asked = browser
        .post("/device", &[("csrf_token", &csrf), ("user_code", &typed)])
        .await;
    assert_eq!(asked.status(), 200);
    let asked = asked.text().await.unwrap();
    assert!(
        asked.contains("Test app") && asked.contains(user_code),
        "{asked}"
    );
    let done = browser
        .post(
            "/device",
            &[
                ("csrf_token", &csrf),
                ("user_code", user_code),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("connected"));

    let tokens = device.finish();
    assert_eq!(tokens["token_type"], "bearer", "{tokens}");
    assert_eq!(tokens["sub"], carol.as_str());
    assert_eq!(tokens["userinfo_sub"], carol.as_str());
    assert_eq!(tokens["scope"], "openid read");
    let account = browser.get("/").await.text().await.unwrap();
    assert!(account.contains("Test app"), "{account}");
}

/// RFC 9126 with openid-client: a client registered `--require-par` pushes its request and
/// gets its code; the same `request_uri` does not work twice, and an unpushed request is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_pushes_its_authorization_request() {
    let app = TestApp::new(Backend::Sqlite).await;
    let carol = add_carol(&app).await;
    let (id, secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--scope",
            "openid",
            "--scope",
            "read",
            "--scope",
            "offline_access",
            "--require-par",
        ],
    )
    .await;
    let secret = secret.unwrap();
    let server = app.serve(&[]).await;
    let mut rp = Flow::start(&["par", &server.base, &id, &secret, CALLBACK]);
    let authorize_url = rp.step()["authorize"].as_str().unwrap().to_owned();
    let query: Vec<(String, String)> = url::Url::parse(&authorize_url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["client_id", "request_uri"], "{authorize_url}");

    let browser = signed_in(&server, "carol").await;
    let callback = authorize(&browser, &server, &authorize_url).await;
    rp.send(&callback);
    let done = rp.finish();
    assert_eq!(done["sub"], carol.as_str());
    assert_eq!(done["scope"], "offline_access openid read");

    let again = open(&browser, &server, &authorize_url).await;
    assert_eq!(again.status(), 400, "a request_uri is used once");
    let unpushed = format!(
        "{}/oauth/authorize?response_type=code&client_id={id}&redirect_uri={CALLBACK}&scope=read\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.base
    );
    let refused = open(&browser, &server, &unpushed).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("push"));
}

/// RFC 9449 with openid-client: a public client registered `--require-dpop` gets DPoP-bound
/// tokens (it answers the server's nonce), uses them at UserInfo and tokeninfo with proofs,
/// refreshes with its key; another key cannot refresh, and the token as `Bearer` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_binds_its_tokens_to_its_dpop_key() {
    let app = TestApp::new(Backend::Sqlite).await;
    let carol = add_carol(&app).await;
    let (id, _) = register(
        &app,
        &[
            "--public",
            "--redirect-uri",
            CALLBACK,
            "--scope",
            "openid",
            "--scope",
            "read",
            "--scope",
            "offline_access",
            "--require-dpop",
        ],
    )
    .await;
    let server = app.serve(&[]).await;
    let mut rp = Flow::start(&["dpop", &server.base, &id, "-", CALLBACK]);
    let authorize_url = rp.step()["authorize"].as_str().unwrap().to_owned();
    let browser = signed_in(&server, "carol").await;
    let callback = authorize(&browser, &server, &authorize_url).await;
    rp.send(&callback);
    let done = rp.finish();
    assert_eq!(done["token_type"], "dpop", "{done}");
    assert_eq!(done["refreshed_token_type"], "dpop");
    assert_eq!(done["userinfo_sub"], carol.as_str());
    assert_eq!(done["tokeninfo_status"], 200, "{done}");
    assert_eq!(done["tokeninfo"]["token_type"], "DPoP");
    assert_eq!(done["stranger_error"], "invalid_dpop_proof", "{done}");
    let token = done["access_token"].as_str().unwrap();
    let as_bearer = reqwest::Client::new()
        .get(server.url("/oauth/tokeninfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(as_bearer.status(), 401);
    let challenge = as_bearer.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("DPoP "), "{challenge}");
}

/// RFC 8693 with openid-client's generic grant: a service exchanges alice's token for one for
/// the downstream service it is registered for, acting for her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_exchanges_a_users_token_for_a_downstream_service() {
    let app = TestApp::new(Backend::Sqlite).await;
    let server = app.serve(&[]).await;
    let (_, answer) = alice_tokens(&app, &server).await;
    let subject = answer["access_token"].as_str().unwrap();
    let downstream = "https://downstream.example/";
    let (id, secret) = register(
        &app,
        &[
            "--grant-type",
            "token_exchange",
            "--scope",
            "read",
            "--resource",
            downstream,
        ],
    )
    .await;
    let rp = Flow::start(&[
        "exchange",
        &server.base,
        &id,
        &secret.unwrap(),
        subject,
        downstream,
    ]);
    let done = rp.finish();
    assert_eq!(
        done["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(done["token_type"], "bearer");
    assert_eq!(done["scope"], "read");
    assert_eq!(done["refresh_token"], Value::Null);
    let info: Value = tokeninfo(&server, done["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["client_id"], id.as_str());
    assert!(info["uid"].is_string(), "it acts for alice: {info}");
}
