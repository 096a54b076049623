//! The book's examples (`docs/src`, and the README's first steps): every `heliogate …` command
//! shown is a command line the binary takes, and the first steps — users and clients, a
//! role's second-factor policy, the settings file of "Configuration as code" applied as shown —
//! run against a fresh database.

use std::path::PathBuf;

use crate::helpers::{Backend, TestApp};

/// Each chapter's name and text.
fn chapters() -> Vec<(String, String)> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut chapters = vec![(
        "README.md".to_owned(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    )];
    for entry in std::fs::read_dir(root.join("docs/src")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            chapters.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    chapters
}

/// The `heliogate …` command lines of a chapter's indented code (continuations joined,
/// comments dropped).
fn commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(command) = line.strip_prefix("    heliogate ") else {
            continue;
        };
        let mut command = command.to_owned();
        while command.trim_end().ends_with('\\') {
            command = command.trim_end().trim_end_matches('\\').to_owned();
            command.push(' ');
            command.push_str(lines.next().unwrap_or_default().trim());
        }
        let command = command
            .split("  #")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        found.push(command);
    }
    found
}

/// Words as a shell splits them: double quotes group, nothing else is special here.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in command.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[test]
fn every_command_the_book_shows_is_one_the_binary_takes() {
    let mut seen = 0;
    for (chapter, text) in chapters() {
        for command in commands(&text) {
            let args = std::iter::once("heliogate".to_owned()).chain(words(&command));
            if let Err(e) = heliogate::cli::command().try_get_matches_from(args) {
                panic!("{chapter}: `heliogate {command}` is refused: {e}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 15, "only {seen} commands found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_steps_run_as_the_book_shows_them() {
    let app = TestApp::new(Backend::Sqlite).await;
    let chapter = |name: &str| {
        chapters()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text)
            .unwrap()
    };
    // Users and clients; `user add` reads the password from its input here.
    for command in commands(&chapter("users-and-clients.md")) {
        let mut args = words(&command);
        if args[..2] == ["user", "add"] {
            args.push("--password-stdin".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        app.run_with_input(&args, "a good long password\n")
            .await
            .ok();
    }
    // A role's second-factor policy.
    let mfa = commands(&chapter("two-factor.md"));
    let set_mfa: Vec<String> = words(&mfa[0]);
    let args: Vec<&str> = set_mfa.iter().map(String::as_str).collect();
    app.run(&args).await.ok();
    // The settings file, as the chapter shows it, applied as it shows.
    let text = chapter("configuration-as-code.md");
    let file = text
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    std::fs::write(app.path("heliogate-settings.toml"), file).unwrap();
    for command in commands(&text) {
        let output = app
            .command()
            .args(words(&command))
            .env(
                "NIGHTLY_JOB_SECRET",
                "a-secret-of-forty-characters-0123456789ab",
            )
            .env("CORP_SECRET", "the-identity-provider-secret")
            .output()
            .unwrap();
        let run: crate::helpers::Run = output.into();
        run.ok();
    }
    let roles = app.run(&["role", "list", "--json"]).await.json();
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "analyst" && r["mfa_required"] == true),
        "{roles}"
    );
}
