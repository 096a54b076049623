//! `heliogate apply FILE`: a settings file's roles, scope descriptions and clients made so in
//! one transaction, audited as made by the file; the same file again changes nothing; a dry
//! run changes nothing; `--prune` deletes what the file does not name (never a user's own
//! application, never while a role is held); an invalid file changes nothing and names every
//! problem with its place.

use std::path::Path;

use serde_json::Value;

use crate::helpers::{Run, TestApp};
use crate::oauth_helpers::*;

heliogate_store::for_each_backend!(crate::helpers::on;
    a_file_is_applied_once_then_changes_nothing,
    prune_deletes_what_the_file_does_not_name_but_users_own,
    an_invalid_file_changes_nothing_and_names_every_problem,
    a_file_declares_identity_providers_with_sealed_secrets,
);

const SECRET: &str = "a-secret-of-forty-characters-0123456789ab";
const NEW_SECRET: &str = "another-secret-of-forty-characters-01234";

const FILE: &str = r#"
[roles.reader]
scopes = ["read"]

[roles.writer]
scopes = ["write"]

[roles.moderator]
scopes = ["read", "write"]

[roles.administrator]
scopes = ["read", "write", "execute", "admin"]

[roles.analyst]
scopes = ["reports", "read"]
mfa_required = true

[scopes.reports]
description = "Read the monthly reports"

[clients."nightly-job"]
name = "Nightly job"
grant_types = ["client_credentials"]
scopes = ["reports"]
secret_env = "NIGHTLY_JOB_SECRET"

[clients.web]
name = "Web"
public = true
redirect_uris = ["http://127.0.0.1/callback"]
scopes = ["openid", "read"]
"#;

/// `heliogate apply ARGS… FILE` as a process, with `secret` in the job's variable.
fn apply(app: &TestApp, file: &Path, args: &[&str], secret: Option<&str>) -> Run {
    let mut command = app.command();
    command.arg("apply").args(args).arg(file);
    if let Some(secret) = secret {
        command.env("NIGHTLY_JOB_SECRET", secret);
    }
    command.output().unwrap().into()
}

fn write(app: &TestApp, text: &str) -> std::path::PathBuf {
    let path = app.path("heliogate-settings.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn plan(run: &Run) -> Vec<String> {
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout.lines().map(str::to_owned).collect()
}

async fn a_file_is_applied_once_then_changes_nothing(app: TestApp) {
    let file = write(&app, FILE);
    let dry = plan(&apply(&app, &file, &["--dry-run"], Some(SECRET)));
    let first = plan(&apply(&app, &file, &[], Some(SECRET)));
    assert_eq!(
        first,
        [
            "~ role administrator: declared by this file",
            "+ role analyst",
            "~ role moderator: declared by this file",
            "~ role reader: declared by this file",
            "~ role writer: declared by this file",
            "+ scope reports",
            "+ client nightly-job",
            "+ client web",
        ]
    );
    assert_eq!(dry[..8], first[..], "the dry run plans the same");
    assert_eq!(dry[8], "(dry run: nothing was changed)");
    assert_eq!(
        plan(&apply(&app, &file, &[], Some(SECRET))),
        ["nothing to change"]
    );

    // What the file declared works: the job's secret from the environment, the role's policy.
    let server = app.serve(&[]).await;
    let token = client_token(&server, ("nightly-job", SECRET)).await;
    let info: Value = tokeninfo(&server, &token).await.json().await.unwrap();
    assert_eq!(info["scope"], serde_json::json!(["reports"]));
    let role = app.run(&["role", "list", "--json"]).await.json();
    let analyst = role
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "analyst")
        .unwrap()
        .clone();
    assert_eq!(analyst["mfa_required"], true, "{analyst}");
    // The console marks what the file declares, and warns before a change there.
    app.add_user("root", &["administrator"]).await;
    let root = signed_in(&server, "root").await;
    let declared = format!("Declared in <code>{}</code>", file.display());
    let roles = root.get("/admin/roles").await.text().await.unwrap();
    assert!(roles.contains(&declared), "{roles}");
    let job = root
        .get("/admin/clients/edit?id=nightly-job")
        .await
        .text()
        .await
        .unwrap();
    assert!(job.contains(&declared), "{job}");

    // A change: the role's scopes, the job's scope and secret; planned, then made.
    let changed = FILE
        .replace(r#"scopes = ["reports", "read"]"#, r#"scopes = ["reports"]"#)
        .replace(
            r#"scopes = ["reports"]
secret_env"#,
            r#"scopes = ["reports", "read"]
secret_env"#,
        );
    let file = write(&app, &changed);
    let lines = plan(&apply(&app, &file, &["--json"], Some(NEW_SECRET)));
    let planned: Value = serde_json::from_str(&lines.join("\n")).unwrap();
    assert_eq!(
        planned,
        serde_json::json!([
            {"action": "change", "kind": "role", "name": "analyst", "changes": ["scopes read reports → reports"]},
            {"action": "change", "kind": "client", "name": "nightly-job", "changes": ["scopes", "secret"]},
        ])
    );
    // A server started now (another node's caches keep a client for up to a second).
    let issuer = server.base.clone();
    drop(server);
    let server = app.serve(&[("HELIOGATE_ISSUER", &issuer)]).await;
    assert_eq!(tokeninfo_status(&server, &token).await, 200);
    client_token(&server, ("nightly-job", NEW_SECRET)).await;
    let refused = post_form(
        &server,
        "/oauth/token",
        Some(("nightly-job", SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(refused.status(), 401, "the old secret ends");
    assert_eq!(
        plan(&apply(&app, &file, &[], Some(NEW_SECRET))),
        ["nothing to change"]
    );

    // Each change audited as made by the file.
    let log = app.audit("client.*").await;
    let by_file = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == format!("file {}", file.display()))
        .count();
    // Two created, each marked as the file's, one changed.
    assert_eq!(by_file, 5, "{log}");
}

async fn prune_deletes_what_the_file_does_not_name_but_users_own(app: TestApp) {
    let file = write(&app, FILE);
    plan(&apply(&app, &file, &[], Some(SECRET)));
    app.add_user("alice", &["analyst"]).await;
    let (own, _) = register(
        &app,
        &[
            "--owner",
            "alice",
            "--grant-type",
            "client_credentials",
            "--scope",
            "reports",
        ],
    )
    .await;
    // analyst is held by alice: pruning it is refused, and nothing of the plan is made.
    let without_analyst = FILE.replace(
        "[roles.analyst]\nscopes = [\"reports\", \"read\"]\nmfa_required = true\n",
        "",
    );
    let without_analyst = without_analyst.replace(
        "[scopes.reports]\ndescription = \"Read the monthly reports\"\n",
        "",
    );
    let without_analyst = without_analyst.replace(
        "scopes = [\"reports\"]\nsecret_env",
        "scopes = [\"read\"]\nsecret_env",
    );
    let file = write(
        &app,
        &without_analyst.replace("[clients.web]", "[clients.web-renamed]"),
    );
    let run = apply(&app, &file, &["--prune"], Some(SECRET));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("role \"analyst\" is held by 1 user(s)"),
        "{run:?}"
    );
    assert!(
        app.run(&["client", "show", "web"]).await.code == 0,
        "nothing was made"
    );

    // Without that role in the way: what the file does not name goes; alice's application stays.
    let file = write(
        &app,
        &FILE.replace("[clients.web]", "[clients.web-renamed]"),
    );
    let lines = plan(&apply(&app, &file, &["--prune"], Some(SECRET)));
    assert!(lines.contains(&"- client web".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"+ client web-renamed".to_owned()),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains(&own)), "{lines:?}");
    assert_eq!(app.run(&["client", "show", &own]).await.code, 0);
    assert_ne!(app.run(&["client", "show", "web"]).await.code, 0);
}

async fn an_invalid_file_changes_nothing_and_names_every_problem(app: TestApp) {
    let before = app.snapshot().await;
    // The shape: an unknown key, named with its line.
    let file = write(&app, "[roles.analyst]\nscopes = [\"read\"]\nmfa = true\n");
    let run = apply(&app, &file, &[], None);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("line 3") && run.stderr.contains("mfa"),
        "{run:?}"
    );

    // The values: every problem, each with its place.
    let file = write(
        &app,
        r#"
[roles."bad name"]
scopes = ["read"]

[roles.ok]
scopes = ["read", "no spaces allowed"]

[scopes.nowhere]
description = "No role gives it"

[clients.job]
name = "Job"
grant_types = ["client_credentials"]
scopes = ["unknown-scope"]
secret_env = "UNSET_VARIABLE_FOR_THE_TEST"

[clients.spa]
name = "SPA"
public = true
secret_env = "NIGHTLY_JOB_SECRET"
redirect_uris = ["http://example.org/callback"]

[upstreams.corp]
issuer = "https://login.corp.example"
"#,
    );
    let run = apply(&app, &file, &[], Some(SECRET));
    assert_eq!(run.code, 1, "{run:?}");
    for place in [
        "roles.bad name:",
        "roles.ok.scopes:",
        "scopes.nowhere:",
        "clients.job: unknown scope",
        "clients.job.secret_env: UNSET_VARIABLE_FOR_THE_TEST is not set",
        "clients.spa.secret_env: a public client has no secret",
        "clients.spa: invalid redirect URI",
        "upstreams.corp: missing field `client_id`",
    ] {
        assert!(run.stderr.contains(place), "{place}: {run:?}");
    }
    assert!(run.stderr.contains("8 problems"), "{run:?}");
    // A short secret is refused too.
    let file = write(&app, FILE);
    let run = apply(&app, &file, &[], Some("short"));
    assert!(run.stderr.contains("fewer than 32 characters"), "{run:?}");
    assert_eq!(app.snapshot().await, before, "nothing changed");
}

const UPSTREAMS: &str = r#"
[upstreams.corp]
issuer = "https://login.corp.example"
client_id = "heliogate"
client_secret_env = "CORP_SECRET"
provision = "create"
default_roles = ["reader"]
role_claim = "groups"
role_map = { "data-team" = "writer" }
"#;

/// `apply` with a key-encryption key and `CORP_SECRET` set to `secret`.
fn apply_sealed(app: &TestApp, file: &Path, args: &[&str], secret: &str) -> Run {
    let mut command = app.command();
    command
        .arg("apply")
        .args(args)
        .arg(file)
        .env("CORP_SECRET", secret)
        .env(
            "HELIOGATE_KEY_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        );
    command.output().unwrap().into()
}

async fn a_file_declares_identity_providers_with_sealed_secrets(app: TestApp) {
    let file = write(&app, UPSTREAMS);
    assert_eq!(
        plan(&apply_sealed(&app, &file, &[], "corp-secret")),
        vec!["+ upstream corp"]
    );
    let corp = app
        .run(&["upstream", "show", "corp", "--json"])
        .await
        .json();
    assert_eq!(
        corp["role_map"],
        serde_json::json!({ "data-team": "writer" })
    );
    assert_eq!(corp["has_client_secret"], true);
    assert!(corp["managed_by"]
        .as_str()
        .unwrap()
        .ends_with("heliogate-settings.toml"));
    // The secret is sealed: the database alone does not hold it.
    let stored = app.store().await.upstream("corp").await.unwrap().unwrap();
    let sealed = stored.client_secret.unwrap();
    assert!(sealed.starts_with(b"HGK1"));
    assert!(!sealed.windows(11).any(|w| w == b"corp-secret"));
    // The same file and secret again: nothing to change (the sealed secret compared opened).
    assert_eq!(
        plan(&apply_sealed(&app, &file, &[], "corp-secret")),
        vec!["nothing to change"]
    );
    // A new secret, a new map.
    let changed = UPSTREAMS.replace(r#""data-team" = "writer""#, r#""data-team" = "moderator""#);
    std::fs::write(&file, changed).unwrap();
    assert_eq!(
        plan(&apply_sealed(&app, &file, &[], "rotated-secret")),
        vec!["~ upstream corp: role_map; client secret"]
    );
    // A role that does not exist, a missing secret: named, nothing changed.
    let bad = UPSTREAMS
        .replace(r#"["reader"]"#, r#"["nobody"]"#)
        .replace("CORP_SECRET", "NO_SUCH_VARIABLE");
    std::fs::write(
        &file,
        format!("{bad}\n[upstreams.other]\nissuer = \"http://x.example\"\nclient_id = \"a\"\n"),
    )
    .unwrap();
    let run = apply_sealed(&app, &file, &[], "x");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("upstreams.corp.client_secret_env"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("upstreams.other"), "{}", run.stderr);
    // Pruned when the file no longer names it.
    std::fs::write(&file, "").unwrap();
    let pruned = plan(&apply_sealed(&app, &file, &["--prune", "--dry-run"], "x"));
    assert!(pruned.contains(&"- upstream corp".to_owned()), "{pruned:?}");
}
