//! The heliogate server and command line as a library: the binary's `main` parses the
//! arguments and calls [`run`]; tests run the same commands, and the same server
//! ([`serve::prepare`]), inside their own process.
//!
//! Library crates return typed errors; here they become `anyhow` chains with context.

mod archive;
pub mod cli;
mod commands;
mod doctor;
pub use commands::Io;
mod import;
mod memory;
pub mod serve;
pub mod settings;
mod upstreams;

use std::sync::Arc;

use anyhow::Context;
use heliogate_store::{ConnectOptions, Store};

use crate::cli::{Cli, Command};
use crate::settings::Settings;

/// An error chain as the one line the binary prints on standard error.
pub fn error_line(e: &anyhow::Error) -> String {
    format!("heliogate: error: {}", format!("{e:#}").replace('\n', " "))
}

/// Opens the configured store and brings its schema up to date.
pub(crate) async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store =
        heliogate_store::connect(settings.database_url.expose(), &ConnectOptions::default())
            .await
            .with_context(|| format!("while opening the database {}", settings.database_url))?;
    store
        .migrate()
        .await
        .context("while migrating the database")?;
    Ok(store)
}

/// Carries out a parsed command line with its settings, reading and answering through `io`.
pub async fn run(cli: Cli, settings: Settings, io: &mut Io<'_>) -> anyhow::Result<()> {
    if let Command::Serve = cli.command {
        return serve::run(settings).await;
    }
    // Looks without changing anything: the database is not migrated.
    if let Command::Doctor = cli.command {
        return doctor::run(&settings, io, std::path::Path::new(".")).await;
    }
    let store = open_store(&settings).await?;
    let app = heliogate_app::App::of_command(std::sync::Arc::clone(&store));
    let result = match cli.command {
        Command::Serve | Command::Doctor | Command::Completions { .. } => Ok(()),
        Command::Migrate => {
            let issuer = settings.issuer(settings.listen);
            heliogate_app::admin::record_issuer(&*store, &issuer).await?;
            io.done("the database schema is up to date".to_owned())
        }
        Command::User(command) => commands::user(&app, io, command).await,
        Command::Role(command) => commands::role(&app, io, command).await,
        Command::Client(command) => commands::client(&app, io, command).await,
        Command::Token(command) => commands::token(&app, &settings, io, command).await,
        Command::Upstream(command) => upstreams::run(&app, &settings, io, command).await,
        Command::Key(command) => commands::key(&*store, &settings, io, command).await,
        Command::Audit(command) => commands::audit(&*store, io, command).await,
        Command::Import(command) => import::run(&*store, &settings, io, command).await,
        Command::Apply {
            file,
            dry_run,
            prune,
        } => {
            let kek = settings.key_encryption.as_ref();
            commands::apply(&*store, kek, io, &file, dry_run, prune).await
        }
        Command::Backup { to } => archive::backup(&*store, io, &to).await,
        Command::Restore { from } => archive::restore(&*store, io, &from).await,
    };
    store.close().await;
    result
}
