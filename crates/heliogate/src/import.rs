//! `heliogate import flask-oauthlib`: reads the source, then hands it to the import use case.

use std::collections::HashMap;

use anyhow::Context;
use heliogate_app::import::{import_flask, roles_file, ImportOptions, ImportReport};
use heliogate_app::Actor;
use heliogate_store::flask_source::{read_flask_source, Mapping};
use heliogate_store::Store;
use serde::Deserialize;

use crate::cli::ImportCommand;
use crate::settings::Settings;

/// The mapping file: renamed tables and columns, under their logical names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    tables: HashMap<String, String>,
    #[serde(default)]
    columns: HashMap<String, HashMap<String, String>>,
}

pub async fn run(
    store: &dyn Store,
    settings: &Settings,
    io: &mut crate::commands::Io<'_>,
    command: ImportCommand,
) -> anyhow::Result<()> {
    let ImportCommand::FlaskOauthlib {
        from,
        dry_run,
        default_roles,
        roles,
        mapping,
    } = command;
    let mapping = match mapping {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let file: MappingFile = toml::from_str(&text)
                .with_context(|| format!("{} is not a mapping file", path.display()))?;
            Mapping {
                tables: file.tables,
                columns: file.columns,
            }
        }
        None => Mapping::default(),
    };
    let roles_by_user = match roles {
        Some(path) => roles_file(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )?,
        None => HashMap::new(),
    };
    // Progress on standard error, a line per step: the output stays the report.
    let started = std::time::Instant::now();
    let data = read_flask_source(&from, &mapping)
        .await
        .context("while reading the source")?;
    eprintln!(
        "read {} users, {} clients, {} tokens from {} in {:.1} s; checking and writing",
        data.users.len(),
        data.clients.len(),
        data.tokens.len(),
        redacted(&from),
        started.elapsed().as_secs_f64()
    );
    let options = ImportOptions {
        default_roles,
        roles_by_user,
        dry_run,
        refresh_token_ttl: i64::try_from(settings.refresh_token_ttl).unwrap_or(i64::MAX),
    };
    let progress = Progress::new(!dry_run);
    let report = import_flask(store, &Actor::cli(), data, &options, &|done, total| {
        progress.show(done, total)
    })
    .await?;
    progress.finish();
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    io.print(&report, || text(&report))
}

fn text(report: &ImportReport) -> String {
    let line = |what: &str, t: &heliogate_app::import::Tally| {
        format!(
            "{what:<8} found {:>7}, imported {:>7}, already there {:>7}, skipped {:>5}",
            t.found, t.imported, t.already_there, t.skipped
        )
    };
    let mut lines = vec![
        if report.dry_run {
            "dry run: nothing was written".to_owned()
        } else {
            "imported in one transaction".to_owned()
        },
        line("users", &report.users),
        line("clients", &report.clients),
        line("tokens", &report.tokens),
    ];
    if report.users_without_password > 0 {
        lines.push(format!(
            "{} users have no usable password: set one with `heliogate user set-password NAME`",
            report.users_without_password
        ));
    }
    if report.tokens_expired > 0 {
        lines.push(format!(
            "{} tokens had expired and stay behind",
            report.tokens_expired
        ));
    }
    if report.users_disabled > 0 {
        lines.push(format!("{} users come disabled", report.users_disabled));
    }
    for s in &report.skipped {
        lines.push(format!("skipped {} {}: {}", s.kind, s.id, s.reason));
    }
    for d in &report.disabled {
        lines.push(format!("{} {} {}", d.kind, d.id, d.reason));
    }
    for n in &report.narrowed {
        lines.push(format!("{} {} {}", n.kind, n.id, n.reason));
    }
    lines.join("\n")
}

/// A source URL without its password, for the progress lines.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The progress of the writing transaction on standard error: a bar redrawn in place on a
/// terminal, a plain line at every tenth otherwise (a log, a CI job).
struct Progress {
    terminal: bool,
    /// What was last shown: the tenth on a line, the time of the bar's last drawing.
    state: std::sync::Mutex<(u64, Option<std::time::Instant>)>,
    shown: std::sync::atomic::AtomicBool,
    enabled: bool,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        use std::io::IsTerminal;
        Self {
            terminal: std::io::stderr().is_terminal(),
            state: std::sync::Mutex::new((0, None)),
            shown: std::sync::atomic::AtomicBool::new(false),
            enabled,
        }
    }

    fn show(&self, done: u64, total: u64) {
        if !self.enabled || total == 0 {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let percent = done.min(total) * 100 / total;
        if self.terminal {
            // Redrawn at most ten times a second, and at the end.
            let due = state
                .1
                .is_none_or(|at| at.elapsed() >= std::time::Duration::from_millis(100));
            if due || done >= total {
                let filled = (percent / 4) as usize;
                eprint!(
                    "\rwriting [{}{}] {percent:>3} % {done}/{total} rows",
                    "#".repeat(filled),
                    "-".repeat(25 - filled)
                );
                state.1 = Some(std::time::Instant::now());
                self.shown.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        } else {
            let tenth = percent / 10;
            if tenth > state.0 || (done >= total && state.0 < 10) {
                state.0 = tenth.max(1);
                eprintln!("written {done} of {total} rows ({percent} %)");
            }
        }
    }

    /// Ends the bar's line.
    fn finish(&self) {
        if self.shown.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!();
        }
    }
}
