//! Settings as the binary reads them: flags over `HELIOGATE_*` over `heliogate.toml`.

use crate::helpers::{Backend, TestApp};

fn names(app: &TestApp, cmd: &mut std::process::Command) -> Vec<String> {
    let _ = app;
    let out: crate::helpers::Run = cmd
        .args(["user", "list", "--json"])
        .output()
        .unwrap()
        .into();
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn flags_beat_the_environment_which_beats_the_file() {
    let app = TestApp::new(Backend::Sqlite).await;
    let url = |name: &str| format!("sqlite://{}", app.path(name).display());
    std::fs::write(
        app.path("heliogate.toml"),
        format!("database_url = \"{}\"\n", url("file.db")),
    )
    .unwrap();
    let base = || {
        let mut cmd = app.command();
        cmd.env_remove("HELIOGATE_DATABASE_URL");
        cmd
    };
    let add = |cmd: &mut std::process::Command, name: &str| {
        let out: crate::helpers::Run = cmd
            .args(["user", "add", name, "--role", "reader", "--password-stdin"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
            .into();
        out
    };
    // Empty standard input is an empty password: use a real one through a file.
    let pw = app.path("pw");
    std::fs::write(&pw, "a good long password\n").unwrap();
    let with_pw = |mut cmd: std::process::Command| {
        cmd.stdin(std::fs::File::open(&pw).unwrap());
        cmd
    };

    let mut cmd = with_pw(base());
    cmd.args([
        "user",
        "add",
        "from-file",
        "--role",
        "reader",
        "--password-stdin",
    ]);
    crate::helpers::Run::from(cmd.output().unwrap()).ok();
    let mut cmd = with_pw(base());
    cmd.env("HELIOGATE_DATABASE_URL", url("env.db")).args([
        "user",
        "add",
        "from-env",
        "--role",
        "reader",
        "--password-stdin",
    ]);
    crate::helpers::Run::from(cmd.output().unwrap()).ok();
    let mut cmd = with_pw(base());
    cmd.env("HELIOGATE_DATABASE_URL", url("env.db")).args([
        "--database-url",
        &url("flag.db"),
        "user",
        "add",
        "from-flag",
        "--role",
        "reader",
        "--password-stdin",
    ]);
    crate::helpers::Run::from(cmd.output().unwrap()).ok();

    assert_eq!(names(&app, &mut base()), ["from-file"]);
    assert_eq!(
        names(&app, base().env("HELIOGATE_DATABASE_URL", url("env.db"))),
        ["from-env"]
    );
    assert_eq!(
        names(&app, base().args(["--database-url", &url("flag.db")])),
        ["from-flag"]
    );
    // A refused command with an empty password still names its problem.
    add(&mut base(), "nobody").refused("must not be empty");
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_key() {
    let app = TestApp::new(Backend::Sqlite).await;
    std::fs::write(
        app.path("heliogate.toml"),
        "listen = \"127.0.0.1:9999\"\nacess_token_ttl = 60\n",
    )
    .unwrap();
    app.run_process(&["migrate"])
        .refused("unknown field `acess_token_ttl`");
    std::fs::write(
        app.path("heliogate.toml"),
        "access_token_ttl = \"an hour\"\n",
    )
    .unwrap();
    app.run_process(&["migrate"]).refused("access_token_ttl");
    std::fs::remove_file(app.path("heliogate.toml")).unwrap();

    let mut cmd = app.command();
    let out: crate::helpers::Run = cmd
        .env("HELIOGATE_ACCESS_TOKEN_TTL", "soon")
        .arg("migrate")
        .output()
        .unwrap()
        .into();
    out.refused("HELIOGATE_ACCESS_TOKEN_TTL");
    let mut cmd = app.command();
    let out: crate::helpers::Run = cmd
        .env("HELIOGATE_DATABASE_URL", "mysql://x/y")
        .arg("migrate")
        .output()
        .unwrap()
        .into();
    out.refused("database_url");
    app.run_process(&["--config", "/nonexistent/heliogate.toml", "migrate"])
        .refused("/nonexistent/heliogate.toml");
    let flag = app.run_process(&["--listen", "nowhere", "migrate"]);
    assert_eq!(flag.code, 2, "{flag:?}");
    assert!(flag.stderr.contains("--listen"));
}

#[tokio::test]
async fn completions_come_from_the_command_line_itself_and_need_no_database() {
    let app = TestApp::new(Backend::Sqlite).await;
    for (shell, marker) in [
        ("bash", "_heliogate()"),
        ("zsh", "#compdef heliogate"),
        ("fish", "complete -c heliogate"),
    ] {
        let out: crate::helpers::Run = app
            .command()
            .env("HELIOGATE_DATABASE_URL", "postgres://nowhere.invalid/none")
            .args(["completions", shell])
            .output()
            .unwrap()
            .into();
        let script = &out.ok().stdout;
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("audit"), "{shell}");
        if shell == "bash" {
            let path = app.path("heliogate.bash");
            std::fs::write(&path, script).unwrap();
            let checked = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .status()
                .unwrap();
            assert!(checked.success());
        }
    }
}

#[tokio::test]
async fn each_command_s_help_shows_the_settings_it_uses() {
    let app = TestApp::new(Backend::Sqlite).await;
    let help = |args: &[&str]| {
        let out: crate::helpers::Run = app
            .command()
            .args(args)
            .arg("--help")
            .output()
            .unwrap()
            .into();
        out.ok().stdout.clone()
    };
    let serve = help(&["serve"]);
    for setting in [
        "--listen",
        "--login-lockout",
        "--trusted-proxies",
        "--metrics-from",
        "--database-url",
    ] {
        assert!(serve.contains(setting), "serve lacks {setting}");
    }
    for args in [
        &[][..],
        &["user", "add"],
        &["client", "list"],
        &["audit", "list"],
    ] {
        let text = help(args);
        assert!(text.contains("--database-url"), "{args:?}");
        for setting in [
            "--listen",
            "--login-lockout",
            "--session-idle-ttl",
            "--trusted-proxies",
        ] {
            assert!(!text.contains(setting), "{args:?} shows {setting}");
        }
    }
    let rotate = help(&["key", "rotate"]);
    assert!(rotate.contains("--key-rotation-overlap") && !rotate.contains("--listen"));
    assert!(help(&["migrate"]).contains("--issuer"));
    assert!(help(&["token", "purge-expired"]).contains("--audit-retention-days"));
    // Hidden is not refused: a setting still works before any command.
    let out: crate::helpers::Run = app
        .command()
        .args(["--session-idle-ttl", "600", "user", "list", "--json"])
        .output()
        .unwrap()
        .into();
    out.ok();
}
