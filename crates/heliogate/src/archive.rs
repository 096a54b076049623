//! `heliogate backup` and `heliogate restore`: the archive's file, written whole or not at all.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use heliogate_app::admin;
use heliogate_app::Actor;
use heliogate_store::{ArchiveSummary, Store};

use crate::Io;

fn said(summary: &ArchiveSummary, verb: &str, path: &Path) -> String {
    format!(
        "{verb} {} rows of {} tables (schema version {}) {} {}",
        summary.rows,
        summary.tables,
        summary.schema_version,
        if verb == "backed up" { "to" } else { "from" },
        path.display()
    )
}

/// Writes the archive beside `to` first and renames it into place once it is complete and on
/// disk: `to` is never a partial archive, and an older one there stays until then.
pub async fn backup(store: &dyn Store, io: &mut Io<'_>, to: &Path) -> anyhow::Result<()> {
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("while creating {}", partial.display()))?;
    let mut out = BufWriter::new(file);
    let written = admin::backup(store, &Actor::cli(), &mut out).await;
    let finished = written.map_err(anyhow::Error::from).and_then(|summary| {
        out.flush()?;
        out.get_ref().sync_all()?;
        std::fs::rename(&partial, to)?;
        Ok(summary)
    });
    let summary = match finished {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!("while writing {}", to.display())));
        }
    };
    io.print(&summary.to_json(), || said(&summary, "backed up", to))
}

pub async fn restore(store: &dyn Store, io: &mut Io<'_>, from: &Path) -> anyhow::Result<()> {
    let summary = admin::restore(store, &Actor::cli(), from)
        .await
        .with_context(|| format!("while restoring {}", from.display()))?;
    io.print(&summary.to_json(), || said(&summary, "restored", from))
}
