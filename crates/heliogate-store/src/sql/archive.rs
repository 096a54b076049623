//! Backup and restore (`ArchiveStore`): every table read in one snapshot and written as the
//! archive's engine-neutral lines (`crate::archive`), and an archive loaded into an empty
//! database in one transaction.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use heliogate_core::UnixTime;
use sqlx::{QueryBuilder, Row, Transaction};

use super::{Db, Engine, SqlStore};
use crate::archive::{ArchiveReader, ArchiveSummary, ArchiveWriter, Cell, Entry, Kind, TABLES};
use crate::error::db_err;
use crate::{ArchiveStore, Result, StoreError, PERSONAL_TOKENS_CLIENT};

/// The most bound values in one statement (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_BINDS: usize = 30_000;

fn quoted(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn schema_version(tx: &mut Transaction<'_, Db>) -> Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)
}

fn cell(row: &<Db as sqlx::Database>::Row, i: usize, kind: Kind) -> Result<Cell> {
    let cell = match kind {
        Kind::Int => row.try_get::<Option<i64>, _>(i).map(|v| v.map(Cell::Int)),
        Kind::Bool => row.try_get::<Option<bool>, _>(i).map(|v| v.map(Cell::Bool)),
        Kind::Text => row
            .try_get::<Option<String>, _>(i)
            .map(|v| v.map(Cell::Text)),
        Kind::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map(|v| v.map(Cell::Bytes)),
    };
    Ok(cell.map_err(db_err)?.unwrap_or(Cell::Null))
}

/// Binds `cell` as a value of a column of `kind`; `None` when it cannot be one.
fn push_cell(
    b: &mut sqlx::query_builder::Separated<'_, '_, Db, &'static str>,
    cell: Cell,
    kind: Kind,
) -> Option<()> {
    match (kind, cell) {
        (Kind::Int, Cell::Null) => b.push_bind(None::<i64>),
        (Kind::Int, Cell::Int(i)) => b.push_bind(i),
        (Kind::Int, Cell::Bool(v)) => b.push_bind(i64::from(v)),
        (Kind::Bool, Cell::Null) => b.push_bind(None::<bool>),
        (Kind::Bool, Cell::Bool(v)) => b.push_bind(v),
        (Kind::Bool, Cell::Int(i @ (0 | 1))) => b.push_bind(i == 1),
        (Kind::Text, Cell::Null) => b.push_bind(None::<String>),
        (Kind::Text, Cell::Text(s)) => b.push_bind(s),
        (Kind::Bytes, Cell::Null) => b.push_bind(None::<Vec<u8>>),
        (Kind::Bytes, Cell::Bytes(v)) => b.push_bind(v),
        _ => return None,
    };
    Some(())
}

/// Rows of one table waiting to be inserted.
struct Pending {
    table: String,
    columns: Vec<String>,
    kinds: Vec<Kind>,
    rows: Vec<Vec<Cell>>,
}

impl Pending {
    fn batch_size(&self) -> usize {
        (MAX_BINDS / self.columns.len().max(1)).clamp(1, 1000)
    }

    async fn flush(&mut self, tx: &mut Transaction<'_, Db>) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut insert: QueryBuilder<Db> = QueryBuilder::new(format!(
            "INSERT INTO {} ({}) ",
            self.table,
            quoted(&self.columns)
        ));
        let mut refused = None;
        let kinds = &self.kinds;
        let table = &self.table;
        let columns = &self.columns;
        insert.push_values(self.rows.drain(..), |mut b, row| {
            for (i, value) in row.into_iter().enumerate() {
                if push_cell(&mut b, value, kinds[i]).is_none() && refused.is_none() {
                    refused = Some(format!(
                        "the archive holds a value of the wrong kind for {table}.{}",
                        columns[i]
                    ));
                }
            }
        });
        if let Some(message) = refused {
            return Err(StoreError::Invalid(message));
        }
        insert
            .build()
            .execute(&mut **tx)
            .await
            .map_err(|e| StoreError::Invalid(format!("the archive's {table} rows: {e}")))?;
        Ok(())
    }
}

#[async_trait]
impl ArchiveStore for SqlStore {
    async fn backup(&self, out: ArchiveWriter<'_>, now: UnixTime) -> Result<ArchiveSummary> {
        let mut out = out;
        let mut tx = self.begin_snapshot().await?;
        let schema_version = schema_version(&mut tx).await?;
        // A table added by a migration but not to `TABLES` would be left out of every backup.
        if let Some(unknown) = SqlStore::tables(&mut tx)
            .await?
            .into_iter()
            .find(|t| !TABLES.contains(&t.as_str()))
        {
            return Err(StoreError::internal(format!(
                "the table {unknown} is not in the backup's list (archive::TABLES)"
            )));
        }
        out.header(schema_version, now)?;
        for table in TABLES {
            let columns = SqlStore::columns(&mut tx, table).await?;
            let names: Vec<String> = columns.iter().map(|(name, _)| name.clone()).collect();
            out.table(table, &names)?;
            let sql = format!("SELECT {} FROM {table}", quoted(&names));
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db_err)? {
                let cells = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| cell(&row, i, *kind))
                    .collect::<Result<Vec<_>>>()?;
                out.row(&cells)?;
            }
        }
        tx.rollback().await.map_err(db_err)?;
        let (tables, rows) = out.finish()?;
        Ok(ArchiveSummary {
            schema_version,
            made_at: now,
            tables,
            rows,
        })
    }

    async fn restore(&self, input: &mut ArchiveReader<'_>) -> Result<ArchiveSummary> {
        let mut tx = self.begin_write().await?;
        let ours = schema_version(&mut tx).await?;
        let header = input.header.clone();
        if header.schema_version != ours {
            return Err(StoreError::Invalid(format!(
                "the archive has schema version {}, this database {ours}: restore it with the \
                 heliogate release that made it, then upgrade",
                header.schema_version
            )));
        }
        let holding: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users) \
             + (SELECT COUNT(*) FROM clients WHERE client_id <> $1) \
             + (SELECT COUNT(*) FROM audit_log)",
        )
        .bind(PERSONAL_TOKENS_CLIENT)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if holding > 0 {
            return Err(StoreError::Conflict(
                "the database is not empty: restore into a new, empty database".into(),
            ));
        }
        // What the migrations seeded (roles, scope descriptions, the personal tokens' client)
        // gives way to what the archive holds.
        for table in TABLES.iter().rev() {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let mut pending: Option<Pending> = None;
        let (mut tables, mut rows) = (0, 0);
        while let Some(entry) = input.next_entry()? {
            match entry {
                Entry::Table { name, columns } => {
                    if let Some(mut done) = pending.take() {
                        done.flush(&mut tx).await?;
                    }
                    if !TABLES.contains(&name.as_str()) {
                        return Err(StoreError::Invalid(format!(
                            "the archive holds a table heliogate does not know: {name:?}"
                        )));
                    }
                    let target = SqlStore::columns(&mut tx, &name).await?;
                    let kinds = columns
                        .iter()
                        .map(|c| {
                            target
                                .iter()
                                .find(|(t, _)| t == c)
                                .map(|(_, k)| *k)
                                .ok_or_else(|| {
                                    StoreError::Invalid(format!(
                                        "the archive's table {name} has a column {c:?} this \
                                         database does not"
                                    ))
                                })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    tables += 1;
                    pending = Some(Pending {
                        table: name,
                        columns,
                        kinds,
                        rows: Vec::new(),
                    });
                }
                Entry::Row(cells) => {
                    let Some(table) = pending.as_mut() else {
                        return Err(StoreError::Invalid(
                            "the archive has a row before any table".into(),
                        ));
                    };
                    if cells.len() != table.columns.len() {
                        return Err(StoreError::Invalid(format!(
                            "a row of {} has {} values for {} columns",
                            table.table,
                            cells.len(),
                            table.columns.len()
                        )));
                    }
                    rows += 1;
                    table.rows.push(cells);
                    if table.rows.len() >= table.batch_size() {
                        table.flush(&mut tx).await?;
                    }
                }
            }
        }
        if let Some(mut done) = pending.take() {
            done.flush(&mut tx).await?;
        }
        let said = &input.header;
        if (tables, rows) != (said.tables, said.rows) {
            return Err(StoreError::Invalid(format!(
                "the archive says {} tables and {} rows but holds {tables} and {rows}",
                said.tables, said.rows
            )));
        }
        SqlStore::after_restore(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ArchiveSummary {
            tables,
            rows,
            ..header
        })
    }
}
