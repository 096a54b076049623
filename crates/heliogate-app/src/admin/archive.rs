//! Backup and restore of the whole database (`heliogate backup`, `heliogate restore`): an
//! engine-neutral archive (`heliogate_store::archive`), so that one engine's backup restores
//! into the other.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use heliogate_store::archive::{verify, ArchiveReader, ArchiveSummary, ArchiveWriter};
use heliogate_store::Store;

use crate::{now, Actor, AppError, Result};

/// Writes every table to `out` as of one moment, while servers go on; records that it did.
pub async fn backup(
    store: &dyn Store,
    actor: &Actor,
    out: &mut (dyn Write + Send),
) -> Result<ArchiveSummary> {
    let summary = store.backup(ArchiveWriter::new(out), now()).await?;
    let event = actor.event("database.backed_up", "database", summary.to_json());
    store.record(&event).await?;
    Ok(summary)
}

/// Loads the archive at `path` into `store`, which must be empty: checked whole first (a cut
/// or changed archive loads nothing), then loaded in one transaction.
pub async fn restore(store: &dyn Store, actor: &Actor, path: &Path) -> Result<ArchiveSummary> {
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| AppError::Invalid(format!("cannot read {}: {e}", path.display())))
    };
    verify(&mut open()?)?;
    let mut input = open()?;
    let mut reader = ArchiveReader::new(&mut input)?;
    let summary = store.restore(&mut reader).await?;
    let event = actor.event("database.restored", "database", summary.to_json());
    store.record(&event).await?;
    Ok(summary)
}
