//! `heliogate import flask-oauthlib` from a database that the original stack made: Flask,
//! Flask-SQLAlchemy and Flask-OAuthlib from PyPI (`.ci/run` installs them into a virtual
//! environment and names its Python in `HELIOGATE_FLASK_PYTHON`), tokens issued by
//! Flask-OAuthlib's own token endpoint.

use std::process::Command;

use serde_json::Value;

use heliogate_store::testing::TestDatabase;

use crate::helpers::{Backend, Browser, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    an_installation_of_the_original_design_moves_over_unnoticed,
    a_renamed_column_needs_a_mapping_and_a_broken_source_changes_nothing,
);

/// The Python with the original stack.
fn python() -> String {
    heliogate_store::testing::required_tool(
        "HELIOGATE_FLASK_PYTHON",
        "a Python with crates/heliogate/tests/flask-oauthlib/requirements.txt",
    )
}

/// Builds a source database with the original stack; what it made.
fn source(python: &str, url: &str, extra: &[&str]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/flask-oauthlib/source.py"
    );
    let out = Command::new(python)
        .arg(script)
        .arg(url)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn import(app: &TestApp, url: &str, extra: &[&str]) -> crate::helpers::Run {
    let mut args = vec!["import", "flask-oauthlib", "--from", url, "--json"];
    args.extend_from_slice(extra);
    app.run_process(&args)
}

fn tally(report: &Value, what: &str) -> [u64; 4] {
    ["found", "imported", "already_there", "skipped"].map(|k| report[what][k].as_u64().unwrap())
}

async fn an_installation_of_the_original_design_moves_over_unnoticed(app: TestApp) {
    let python = python();
    // The source on the test's engine: a SQLite file, or a PostgreSQL database of its own.
    let source_db = match app.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::postgres().await),
    };
    let url = match &source_db {
        Some(db) => db.url().to_owned(),
        None => format!("sqlite:///{}", app.path("original.db").display()),
    };
    let made = source(&python, &url, &[]);

    // A dry run reports and writes nothing.
    let before = app.snapshot().await;
    let dry = import(&app, &url, &["--dry-run"]).json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(tally(&dry, "users"), [4, 3, 0, 1]);
    assert_eq!(app.snapshot().await, before);

    let run = import(&app, &url, &[]);
    let report = run.json();
    // Not on a terminal: plain progress lines, the report alone on standard output.
    assert!(run.stderr.contains(" rows (100 %)\n"), "{}", run.stderr);
    assert_eq!(tally(&report, "users"), [4, 3, 0, 1], "{report}");
    assert_eq!(tally(&report, "clients"), [3, 3, 0, 0], "{report}");
    assert_eq!(tally(&report, "tokens"), [5, 4, 0, 1], "{report}");
    assert_eq!(report["users_disabled"], 1);
    // The client whose redirect URI breaks the rules comes disabled, without it, and says so.
    let disabled = &report["disabled"][0];
    assert_eq!(disabled["id"], "legacy-http", "{report}");
    let reason = disabled["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"http://legacy.example.org/cb\"")
            && reason.contains("http is allowed only for loopback"),
        "{reason}"
    );
    let legacy = app
        .run_process(&["client", "show", "legacy-http", "--json"])
        .json();
    assert_eq!(legacy["disabled"], true);
    assert_eq!(legacy["redirect_uris"], serde_json::json!([]));
    assert_eq!(report["tokens_expired"], 1);
    let shown = app.run_process(&["user", "show", "alice", "--json"]).json();
    assert_eq!(shown["legacy_password"], true);

    let server = app.serve(&[]).await;
    // Every user signs in with their old password, which is then Argon2id.
    for name in ["alice", "bob"] {
        let password = made["users"][name].as_str().unwrap();
        let browser = Browser::new(&server);
        assert_eq!(
            browser.sign_in(name, password).await.status(),
            303,
            "{name}"
        );
        let shown = app.run_process(&["user", "show", name, "--json"]).json();
        assert_eq!(shown["legacy_password"], false);
    }
    // An inactive user came disabled.
    let carol = made["users"]["carol"].as_str().unwrap();
    assert_eq!(
        Browser::new(&server).sign_in("carol", carol).await.status(),
        401
    );

    // Every imported client gets tokens with its old secret.
    for id in ["predictions-nightly", "workflow-web"] {
        let secret = made["clients"][id].as_str().unwrap();
        let grant = if id == "workflow-web" {
            "refresh_token"
        } else {
            "client_credentials"
        };
        let mut form = vec![("grant_type", grant)];
        let refresh = made["refresh"][0].as_str().unwrap();
        if grant == "refresh_token" {
            form.push(("refresh_token", refresh));
        }
        let answer = post_form(&server, "/oauth/token", Some((id, secret)), &form).await;
        assert_eq!(
            answer.status(),
            200,
            "{id}: {}",
            answer.text().await.unwrap()
        );
    }
    // The disabled client is unknown to the flows until it is corrected and enabled.
    let legacy_secret = made["clients"]["legacy-http"].as_str().unwrap();
    let probe = [("grant_type", "authorization_code"), ("code", "nothing")];
    let refused = post_form(
        &server,
        "/oauth/token",
        Some(("legacy-http", legacy_secret)),
        &probe,
    )
    .await;
    assert_eq!(refused.status(), 401);
    app.run_process(&[
        "client",
        "set",
        "legacy-http",
        "--redirect-uri",
        "https://legacy.example.org/cb",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
    ])
    .ok();
    let enabled = app.run_process(&["client", "enable", "legacy-http"]);
    assert_eq!(enabled.ok().stdout.trim(), "client legacy-http enabled");
    let answer = post_form(
        &server,
        "/oauth/token",
        Some(("legacy-http", legacy_secret)),
        &probe,
    )
    .await;
    assert_eq!(
        answer.status(),
        400,
        "authenticated now: only the code is wrong"
    );

    // Every live token answers at tokeninfo as before (uid: the source's user id), with its
    // old scopes; the expired one does not.
    for token in made["live"].as_array().unwrap() {
        let answer = tokeninfo(&server, token.as_str().unwrap()).await;
        assert_eq!(answer.status(), 200);
        let info: Value = answer.json().await.unwrap();
        assert_eq!(info["uid"], "1", "{info}");
        assert!(info["scope"].as_array().unwrap().contains(&"read".into()));
    }
    let expired = made["expired"][0].as_str().unwrap();
    assert_eq!(tokeninfo_status(&server, expired).await, 401);

    // A second run brings nothing new and changes nothing.
    let before = app.snapshot().await;
    let again = import(&app, &url, &[]).json();
    assert_eq!(tally(&again, "users"), [4, 0, 3, 1], "{again}");
    assert_eq!(tally(&again, "clients"), [3, 0, 3, 0], "{again}");
    assert_eq!(tally(&again, "tokens"), [5, 0, 4, 1], "{again}");
    assert_eq!(app.snapshot().await, before);
}

async fn a_renamed_column_needs_a_mapping_and_a_broken_source_changes_nothing(app: TestApp) {
    let python = python();
    let url = format!("sqlite:///{}", app.path("renamed.db").display());
    source(&python, &url, &["--rename-username"]);
    let before = app.snapshot().await;
    import(&app, &url, &[]).refused("no column name or username");
    let mapping = app.path("mapping.toml");
    std::fs::write(&mapping, "[columns.user]\nname = \"login\"\n").unwrap();
    let report = import(&app, &url, &["--mapping", mapping.to_str().unwrap()]).json();
    assert_eq!(tally(&report, "users"), [4, 3, 0, 1], "{report}");

    // A file that is no database, and one cut in half: refused, nothing written.
    let after = app.snapshot().await;
    assert_ne!(after, before);
    let garbage = app.path("garbage.db");
    std::fs::write(&garbage, b"this is not a database").unwrap();
    let bytes = std::fs::read(app.path("renamed.db")).unwrap();
    let half = app.path("half.db");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    for broken in [&garbage, &half] {
        let run = import(&app, &format!("sqlite:///{}", broken.display()), &[]);
        assert_ne!(run.code, 0, "{run:?}");
        assert_eq!(app.snapshot().await, after);
    }
}
