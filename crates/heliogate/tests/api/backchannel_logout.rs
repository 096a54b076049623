//! OpenID Connect Back-Channel Logout 1.0, received by a real relying party: a small service on
//! panva's jose (`tests/openid-client/backchannel-rp.mjs`) that verifies each logout token
//! against `/oauth/jwks`, as a relying party must. Each way a session ends — sign-out,
//! RP-initiated logout, the sessions page, an administrator, the user disabled, given a new
//! password or deleted — reaches it with the session's `sid` and the user's `sub`; a relying
//! party that answers 500 gets the same logout again; a session it took no part in sends it
//! nothing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::constants::PASSWORD;
use crate::helpers::{form_value, free_port, Backend, Browser, Server, TestApp};
use crate::oauth_helpers::*;
use crate::openid_client::relying_party;

/// The relying party's process, and the lines it prints (one per logout token it received).
struct RelyingParty {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl RelyingParty {
    fn start(port: u16, issuer: &str, client_id: &str, fail_first: u32) -> RelyingParty {
        let mut child = Command::new("node")
            .arg(relying_party().join("backchannel-rp.mjs"))
            .args([
                &port.to_string(),
                issuer,
                client_id,
                &fail_first.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run node");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        let rp = RelyingParty { child, lines };
        assert_eq!(rp.next()["listening"], port);
        rp
    }

    /// The next line; a logout that never comes fails the test rather than hanging it.
    fn next(&self) -> Value {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a line from the relying party within 30 s")
    }

    /// The next logout token, which must have verified and been taken (200), for `sid`.
    fn logged_out(&self, sid: &str, sub: &str) -> Value {
        let line = self.next();
        assert_eq!(line["status"], 200, "{line}");
        let token = &line["verified"];
        assert_eq!(token["sid"], sid, "{line}");
        assert_eq!(token["sub"], sub, "{line}");
        token.clone()
    }
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// carol signs in and the relying party gets an ID token in that session: her browser and the
/// session's `sid` (from the ID token).
async fn signed_in_to_rp(server: &Server, client: (&str, &str)) -> (Browser, String) {
    let browser = signed_in(server, "carol").await;
    let tokens: Value = code_tokens(server, &browser, client, "scope=openid&nonce=n1", &[])
        .await
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = jwt_payload(id_token)["sid"].as_str().unwrap().to_owned();
    (browser, sid)
}

/// The handle of the one session listed on `page` that is not the browser's own.
fn other_session(html: &str) -> String {
    html.split("<tr>")
        .filter(|row| row.contains("name=\"session\"") && !row.contains("this browser"))
        .find_map(|row| form_value(row, "session"))
        .unwrap_or_else(|| panic!("another session on the page: {html}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_a_session_ends_reaches_the_relying_party() {
    let app = TestApp::new(Backend::Sqlite).await;
    let carol = add_carol(&app).await;
    app.add_user("root", &["administrator"]).await;
    let port = free_port();
    let logout_uri = format!("http://127.0.0.1:{port}/backchannel");
    let (id, secret) = register(
        &app,
        &[
            "--redirect-uri",
            CALLBACK,
            "--scope",
            "openid",
            "--backchannel-logout-uri",
            &logout_uri,
        ],
    )
    .await;
    let secret = secret.unwrap();
    let client = (id.as_str(), secret.as_str());
    let server = app.serve(&[]).await;
    let discovery: Value = get_json(&server, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
    // The first logout token is answered 500.
    let rp = RelyingParty::start(port, &server.base, &id, 1);

    // Signing out: the relying party fails, and gets the same logout again.
    let (browser, sid) = signed_in_to_rp(&server, client).await;
    assert_eq!(browser.sign_out().await, 303);
    let failed = rp.next();
    assert_eq!(failed["status"], 500, "{failed}");
    let token = rp.logged_out(&sid, &carol);
    assert_eq!(token["jti"], failed["failed_on_purpose"], "the same logout");
    assert_eq!(token["iss"], server.base.as_str());
    assert_eq!(token["aud"], id.as_str());

    // RP-initiated logout, with the ID token as hint.
    let browser = signed_in(&server, "carol").await;
    let tokens: Value = code_tokens(&server, &browser, client, "scope=openid", &[])
        .await
        .json()
        .await
        .unwrap();
    let hint = tokens["id_token"].as_str().unwrap();
    let sid = jwt_payload(hint)["sid"].as_str().unwrap().to_owned();
    let out = browser
        .get(&format!("/oauth/logout?id_token_hint={hint}"))
        .await;
    assert!(out.status().is_success() || out.status().is_redirection());
    rp.logged_out(&sid, &carol);

    // Ended on the sessions page from another browser, which itself took no part: its own
    // sign-out afterwards sends nothing.
    let (_phone, sid) = signed_in_to_rp(&server, client).await;
    let laptop = signed_in(&server, "carol").await;
    let page = laptop.get("/account/sessions").await.text().await.unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    let handle = other_session(&page);
    let form = [("csrf_token", csrf.as_str()), ("session", handle.as_str())];
    assert_eq!(
        laptop.post("/account/sessions/end", &form).await.status(),
        303
    );
    rp.logged_out(&sid, &carol);
    assert_eq!(laptop.sign_out().await, 303);

    // Ended by an administrator.
    let (_browser, sid) = signed_in_to_rp(&server, client).await;
    let root = signed_in(&server, "root").await;
    let page = root.get("/admin/users/carol").await.text().await.unwrap();
    let form = [
        ("csrf_token", form_value(&page, "csrf_token").unwrap()),
        ("session", form_value(&page, "session").unwrap()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ended = root.post("/admin/users/carol/sessions/end", &form).await;
    assert!(ended.status().is_redirection(), "{}", ended.status());
    rp.logged_out(&sid, &carol);

    // The user disabled (from the command line: another process's change, found by the poll).
    let (_browser, sid) = signed_in_to_rp(&server, client).await;
    app.run(&["user", "disable", "carol"]).await.ok();
    rp.logged_out(&sid, &carol);
    app.run(&["user", "enable", "carol"]).await.ok();

    // Given a new password.
    let (_browser, sid) = signed_in_to_rp(&server, client).await;
    app.run_with_input(
        &["user", "set-password", "carol", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    rp.logged_out(&sid, &carol);

    // Deleted.
    let (_browser, sid) = signed_in_to_rp(&server, client).await;
    app.run(&["user", "delete", "carol"]).await.ok();
    rp.logged_out(&sid, &carol);

    // The relying party has its answer before the node records it: wait (bounded) until the
    // node counts the last delivery, which it does once that record has committed.
    let delivered = "heliogate_backchannel_logouts_total{outcome=\"delivered\"} 7";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !get_text(&server, "/metrics").await.contains(delivered) {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never counted 7 deliveries"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every attempt is in the audit log: one failure, seven deliveries, nothing left to send.
    let records = app.audit("backchannel_logout.*").await;
    let named = |name: &str| {
        records["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["event"] == name)
            .count()
    };
    assert_eq!(named("backchannel_logout.failed"), 1, "{records}");
    assert_eq!(named("backchannel_logout.delivered"), 7, "{records}");
    assert_eq!(app.store().await.pending_logouts().await.unwrap(), 0);
    // And in the node's metrics.
    let metrics = get_text(&server, "/metrics").await;
    for line in [
        delivered,
        "heliogate_backchannel_logouts_total{outcome=\"failed\"} 1",
        "heliogate_backchannel_logouts_total{outcome=\"given_up\"} 0",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }
}
