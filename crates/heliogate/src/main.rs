//! The heliogate binary: the command line, settings and wiring of the other crates.
//!
//! Library crates return typed errors; here they become `anyhow` chains with context, printed
//! as one line on standard error with a non-zero exit.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use heliogate::cli::{self, Cli, Command};
use heliogate::settings::{LogFormat, Settings};
use heliogate::{error_line, run, Io};

fn main() -> ExitCode {
    let matches = match cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return refuse_arguments(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Completions need neither settings nor a database.
    if let Command::Completions { shell } = cli.command {
        // Into memory first: clap_complete panics when its writer fails (a closed pipe).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cli::command(), "heliogate", &mut script);
        return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail(&e.into()),
        };
    }
    let settings = match Settings::load(cli.settings.clone(), &matches, cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => return fail(&e),
    };
    init_logging(&settings);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e.into()),
    };
    let json = cli.json;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let mut input = std::io::stdin().lock();
    let mut output = Output {
        inner: std::io::stdout().lock(),
        reader_left: false,
    };
    let mut io = Io {
        json,
        input: &mut input,
        output: &mut output,
        terminal,
    };
    match runtime.block_on(run(cli, settings, &mut io)) {
        Ok(()) => ExitCode::SUCCESS,
        // `heliogate user list | head -1`: what was done is done, and the reader has what it
        // wanted; the rest of the answer goes nowhere, as a pipeline expects, without an error.
        Err(_) if output.reader_left => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Standard output, noting when its reader went away (a closed pipe).
struct Output<W> {
    inner: W,
    reader_left: bool,
}

impl<W: std::io::Write> Output<W> {
    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            self.reader_left |= e.kind() == std::io::ErrorKind::BrokenPipe;
        }
        result
    }
}

impl<W: std::io::Write> std::io::Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// A value clap refused: one line naming the variable when it came from one (clap names only
/// the flag), clap's own message otherwise.
fn refuse_arguments(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let from_env = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(ContextValue::String(arg))) => {
            let given: Vec<String> = std::env::args().collect();
            Cli::command().get_arguments().find_map(|a| {
                let long = format!("--{}", a.get_long()?);
                let env = a.get_env()?.to_str()?.to_owned();
                let on_command_line = given.iter().any(|g| g.split('=').next() == Some(&long));
                (arg.starts_with(&long) && !on_command_line)
                    .then(|| std::env::var(&env).ok().map(|value| (env, value)))
                    .flatten()
            })
        }
        _ => None,
    };
    match from_env {
        Some((env, value)) => {
            let reason = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            eprintln!("heliogate: error: {env}: invalid value {value:?}{reason}");
            ExitCode::from(2)
        }
        None => e.exit(),
    }
}

/// The async runtime: a worker per CPU, or with one CPU to run on (`taskset`, a container's
/// CPU quota) one thread for every task: a work-stealing scheduler's lone worker has no one to
/// steal from and pays for the machinery all the same (on one CPU, 34-36 µs of CPU a
/// client-credentials token against 40-43 with it; docs/src/performance.md).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

/// Prints an error chain as one line and picks the exit code.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("{}", error_line(e));
    ExitCode::FAILURE
}

fn init_logging(settings: &Settings) {
    let mut filter = settings.log.clone();
    if !filter.contains("sqlx") {
        // sqlx logs every statement at info; keep its warnings (slow statements) only.
        filter.push_str(",sqlx=warn");
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
