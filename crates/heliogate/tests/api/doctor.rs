//! `heliogate doctor`: a healthy installation passes every check (both engines); each kind of
//! problem — an http issuer others reach, an issuer the database is not served as, proxies
//! that take in the Internet, keys the configured key cannot open or left in the clear, a
//! database file others can read, the first password still on disk, no database — is named.

use crate::helpers::{Run, TestApp};

heliogate_store::for_each_backend!(crate::helpers::on;
    a_healthy_installation_passes_every_check,
);

fn kek(byte: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32])
}

/// `heliogate doctor` in the app's folder, with these settings.
fn doctor(app: &TestApp, env: &[(&str, &str)]) -> Run {
    let mut command = app.command();
    command.arg("doctor");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap().into()
}

/// An installation that has served once: schema, keys (sealed under `key`, if given), issuer.
async fn served(app: &TestApp, key: Option<&str>) {
    app.add_user("alice", &["reader"]).await;
    let mut env = vec![("HELIOGATE_ISSUER", "http://127.0.0.1:8080")];
    if let Some(key) = key {
        env.push(("HELIOGATE_KEY_ENCRYPTION_KEY", key));
    }
    drop(app.serve(&env).await);
}

async fn a_healthy_installation_passes_every_check(app: TestApp) {
    served(&app, None).await;
    let run = doctor(&app, &[("HELIOGATE_ISSUER", "http://127.0.0.1:8080")]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    for check in [
        "settings",
        "issuer",
        "cookies",
        "trusted proxies",
        "database",
        "schema",
        "clock",
        "signing keys",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("ok") && l.contains(&format!("{check}:"))),
            "{check}: {run:?}"
        );
    }
    assert!(!run.stdout.contains("FAIL"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_problem_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::new(crate::helpers::Backend::Sqlite).await;
    let sealing = kek(7);
    served(&app, Some(&sealing)).await;
    // An identity provider whose secret is sealed with the same key.
    let mut add = app
        .command()
        .args([
            "upstream",
            "add",
            "corp",
            "--issuer",
            "https://login.corp.example",
        ])
        .args(["--client-id", "heliogate", "--client-secret-stdin"])
        .env("HELIOGATE_KEY_ENCRYPTION_KEY", &sealing)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut add.stdin.take().unwrap(), b"corp-secret\n").unwrap();
    assert!(add.wait().unwrap().success());
    // Sealed keys, and the key that sealed them: healthy.
    let healthy = doctor(
        &app,
        &[
            ("HELIOGATE_ISSUER", "http://127.0.0.1:8080"),
            ("HELIOGATE_KEY_ENCRYPTION_KEY", &sealing),
        ],
    );
    assert_eq!(healthy.code, 0, "{healthy:?}");
    assert!(healthy
        .stdout
        .contains("sealed, and the key-encryption key opens them"));
    assert!(
        healthy
            .stdout
            .contains("identity providers: 1, their secrets readable"),
        "{healthy:?}"
    );

    let db = app.db.url().strip_prefix("sqlite://").unwrap().to_owned();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(app.path("heliogate-admin-password"), "secret\n").unwrap();
    let run = doctor(
        &app,
        &[
            ("HELIOGATE_ISSUER", "http://login.example.org"),
            ("HELIOGATE_TRUSTED_PROXIES", "0.0.0.0/0"),
            ("HELIOGATE_KEY_ENCRYPTION_KEY", &kek(8)),
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let fails: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    for needle in [
        "issuer: http://login.example.org is http on a host others reach",
        "issuer: the database is served as http://127.0.0.1:8080",
        "trusted proxies: 0.0.0.0/0 takes in public addresses",
        "signing keys: key ",
        "identity providers: corp: ",
        "files: ",
        "heliogate-admin-password still holds",
    ] {
        assert!(
            fails.iter().any(|l| l.contains(needle)),
            "{needle}: {run:?}"
        );
    }
    assert!(run.stderr.contains("7 problems"), "{run:?}");

    // Sealed keys and no key to open them; a database nobody can reach.
    let run = doctor(&app, &[("HELIOGATE_ISSUER", "http://127.0.0.1:8080")]);
    assert!(
        run.stdout.contains("set HELIOGATE_KEY_ENCRYPTION_KEY"),
        "{run:?}"
    );
    let run = doctor(
        &app,
        &[(
            "HELIOGATE_DATABASE_URL",
            "postgres://heliogate@127.0.0.1:1/none",
        )],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("FAIL  database: cannot be opened"),
        "{run:?}"
    );

    // Keys in the clear while a key-encryption key is set.
    let clear = TestApp::new(crate::helpers::Backend::Sqlite).await;
    served(&clear, None).await;
    let run = doctor(
        &clear,
        &[
            ("HELIOGATE_ISSUER", "http://127.0.0.1:8080"),
            ("HELIOGATE_KEY_ENCRYPTION_KEY", &sealing),
        ],
    );
    assert!(
        run.stdout.contains("stored in the clear although"),
        "{run:?}"
    );
    assert_eq!(run.code, 1);
}
