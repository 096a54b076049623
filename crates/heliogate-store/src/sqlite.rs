//! The SQLite engine: one file in WAL mode, shared safely by a running server and the CLI.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, which take the write lock up front: a
//! deferred transaction that reads and then writes can fail at once with "database is locked"
//! when another process wrote in between, which the busy timeout cannot wait out.
//! `synchronous = FULL` makes every commit durable before it is acknowledged.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use heliogate_core::TokenKey;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous,
};
use sqlx::{Arguments, Connection, Sqlite, Transaction};

use crate::archive::Kind;
use crate::error::db_err;
use crate::issue::{Issue, Rows, WriteRows};
use crate::proof_writer::WriteProofs;
use crate::Result;

/// The shared SQL, compiled here for this engine (see its module comment).
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)] // once per engine, on purpose: `Db` differs
mod sql;
use sql::SqlStore;

type Db = Sqlite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The store on an SQLite file.
pub type SqliteStore = sql::SqlStore;

impl sql::Engine for SqlStore {
    /// SQLite walks its tables by `rowid`, which orders rows as they were inserted.
    type Cursor = i64;

    /// Few connections: WAL lets them read side by side, and writes go one at a time anyway.
    fn pool_size(asked: u32) -> u32 {
        asked.min(4)
    }

    /// A connection is a file this process holds open: nothing can end it while idle, so a
    /// ping (a hop to the connection's thread) would only cost time.
    const CHECK_BEFORE_USE: bool = false;

    fn connect_options(url: &str) -> Result<SqliteConnectOptions> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Bounded memory: a 1 MiB page cache per connection.
            .pragma("cache_size", "-1024")
            // Statement journals (a multi-row insert after another write in one transaction)
            // in memory rather than in a temporary file created and deleted each time.
            .pragma("temp_store", "memory");
        create_private(options.get_filename())?;
        Ok(options)
    }

    async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    /// SQLite has one writer at a time: every write transaction is serialized already.
    async fn begin_admin(&self) -> Result<Transaction<'_, Sqlite>> {
        self.begin_write().await
    }

    /// SQLite commits one writer at a time, in the order it numbers rows.
    async fn begin_feed_read(&self) -> Result<Transaction<'_, Sqlite>> {
        self.pool.begin().await.map_err(db_err)
    }

    fn purge_cursor(_key: &'static str) -> (&'static str, i64) {
        ("rowid", i64::MIN)
    }

    /// In WAL mode a read transaction sees the database as of its first read, whatever is
    /// written meanwhile; the first read is the schema version, before any table.
    async fn begin_snapshot(&self) -> Result<Transaction<'_, Sqlite>> {
        self.pool.begin().await.map_err(db_err)
    }

    async fn columns(
        tx: &mut Transaction<'_, Sqlite>,
        table: &str,
    ) -> Result<crate::archive::Columns> {
        let declared: Vec<(String, String)> =
            sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                .bind(table)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_err)?;
        // SQLite's affinity rules (§3.1 of its datatype page): booleans are integers here.
        Ok(declared
            .into_iter()
            .map(|(name, declared)| {
                let declared = declared.to_ascii_uppercase();
                let kind = if declared.contains("INT") {
                    Kind::Int
                } else if declared.contains("TEXT") || declared.contains("CHAR") {
                    Kind::Text
                } else if declared.contains("BLOB") || declared.is_empty() {
                    Kind::Bytes
                } else {
                    Kind::Int
                };
                (name, kind)
            })
            .collect())
    }

    async fn tables(tx: &mut Transaction<'_, Sqlite>) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        )
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)
    }

    /// An `AUTOINCREMENT` table's counter follows the largest id inserted.
    async fn after_restore(_tx: &mut Transaction<'_, Sqlite>) -> Result<()> {
        Ok(())
    }

    const NOW: &'static str = "CAST(strftime('%s', 'now') AS INTEGER)";

    /// SQLite's write transactions (`BEGIN IMMEDIATE`) hold the whole database already.
    const ROW_LOCK: &'static str = "";
}

#[async_trait]
impl WriteRows for SqliteConnection {
    async fn write_issues(&mut self, jobs: &[Issue]) -> sqlx::Result<Vec<bool>> {
        if jobs.iter().any(|job| job.spends.is_some()) {
            let mut tx = self.begin_with("BEGIN IMMEDIATE").await?;
            let written = sql::write_issues(&mut tx, jobs).await?;
            tx.commit().await?;
            return Ok(written);
        }
        // Nothing to spend: the whole transaction is one text, run by the connection's thread
        // in one hand-off (four before: begin, two inserts, commit). A statement that fails
        // leaves the transaction open, so it is rolled back here, and the writer may go on.
        let written = vec![true; jobs.len()];
        let mut batch = Inserts::default();
        batch.sql.push_str("BEGIN IMMEDIATE; ");
        batch.push(&Rows::of(jobs, &written))?;
        batch.sql.push_str("COMMIT");
        match sqlx::query_with(&batch.sql, batch.args)
            .execute(&mut *self)
            .await
        {
            Ok(_) => Ok(written),
            Err(e) => {
                // Where the begin itself failed there is nothing to roll back, and SQLite says
                // so: nothing to report.
                let _ = sqlx::Executor::execute(&mut *self, "ROLLBACK").await;
                Err(e)
            }
        }
    }
}

#[async_trait]
impl WriteProofs for SqliteConnection {
    async fn write_proofs(&mut self, proofs: &[(&[u8], i64)]) -> sqlx::Result<Vec<Vec<u8>>> {
        // One statement is one transaction.
        let mut query =
            sqlx::QueryBuilder::<Sqlite>::new("INSERT INTO dpop_proofs (proof_hash, expires_at) ");
        query.push_values(proofs, |mut row, (hash, expires_at)| {
            row.push_bind(*hash).push_bind(*expires_at);
        });
        query.push(" ON CONFLICT (proof_hash) DO NOTHING RETURNING proof_hash");
        query.build_query_scalar().fetch_all(self).await
    }
}

/// Inserts access tokens, refresh tokens and audit events with one multi-row statement per
/// table, all in one text run in one hand-off to the connection's thread: the one way token
/// rows are written.
async fn insert_rows(conn: &mut SqliteConnection, rows: &Rows<'_>) -> sqlx::Result<()> {
    let mut batch = Inserts::default();
    batch.push(rows)?;
    if !batch.sql.is_empty() {
        sqlx::query_with(&batch.sql, batch.args)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// A text of multi-row inserts and the values of its `?`s, in order (SQLite binds the `?` of
/// a text's statements in order, across them). Written with plain appends: it is built for
/// every batch, and `QueryBuilder` formats each placeholder and separator through `fmt`.
#[derive(Default)]
struct Inserts<'a> {
    sql: String,
    args: SqliteArguments<'a>,
}

impl<'a> Inserts<'a> {
    /// Appends an insert for each table that has rows, each ending in `; `.
    fn push(&mut self, rows: &Rows<'a>) -> sqlx::Result<()> {
        self.table(
            "INSERT INTO access_tokens (token_hash, client_id, user_id, scope, family_id, audience, created_at, expires_at, jkt, subject_key, act, sid)",
            &rows.access,
            |b, t| {
                b.bind(t.key.as_bytes())?;
                b.bind(t.client_id.as_str())?;
                b.bind(t.user_id.as_deref())?;
                b.bind(t.scope.as_str())?;
                b.bind(t.family_id.as_deref())?;
                b.bind(t.audience.as_deref())?;
                b.bind(t.created_at)?;
                b.bind(t.expires_at)?;
                b.bind(t.jkt.as_deref())?;
                b.bind(t.subject_key.as_ref().map(TokenKey::as_bytes))?;
                b.bind(t.act.as_deref())?;
                b.bind(t.sid.as_deref())
            },
        )?;
        self.table(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, auth_time, sid, amr, created_at, expires_at, jkt)",
            &rows.refresh,
            |b, t| {
                b.bind(t.key.as_bytes())?;
                b.bind(t.family_id.as_str())?;
                b.bind(t.client_id.as_str())?;
                b.bind(t.user_id.as_str())?;
                b.bind(t.scope.as_str())?;
                b.bind(t.auth_time)?;
                b.bind(t.sid.as_deref())?;
                b.bind(t.amr.as_deref())?;
                b.bind(t.created_at)?;
                b.bind(t.expires_at)?;
                b.bind(t.jkt.as_deref())
            },
        )?;
        self.table(
            "INSERT INTO audit_log (at, event, actor, subject, client_addr, detail)",
            &rows.events,
            |b, e| {
                b.bind(e.at)?;
                b.bind(e.event.as_str())?;
                b.bind(e.actor.as_deref())?;
                b.bind(e.subject.as_deref())?;
                b.bind(e.client_addr.as_deref())?;
                b.bind(e.detail_text())
            },
        )
    }

    /// `{insert} VALUES (?, …), …; ` with a placeholder for each of the columns `insert`
    /// names, in a row for each of `rows`, whose values `bind_row` binds; nothing without rows.
    fn table<T>(
        &mut self,
        insert: &str,
        rows: &[&'a T],
        bind_row: impl Fn(&mut Self, &'a T) -> sqlx::Result<()>,
    ) -> sqlx::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let width = insert.matches(',').count() + 1;
        self.sql
            .reserve(insert.len() + 10 + rows.len() * (3 * width + 2));
        self.sql.push_str(insert);
        self.sql.push_str(" VALUES ");
        for i in 0..rows.len() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('(');
            for j in 0..width {
                self.sql.push_str(if j == 0 { "?" } else { ", ?" });
            }
            self.sql.push(')');
        }
        self.sql.push_str("; ");
        let bound = self.args.len();
        for row in rows {
            bind_row(self, row)?;
        }
        // A column named without its value (or the other way round) shows in every test.
        debug_assert_eq!(self.args.len() - bound, rows.len() * width, "{insert}");
        Ok(())
    }

    fn bind<T: 'a + sqlx::Encode<'a, Sqlite> + sqlx::Type<Sqlite>>(
        &mut self,
        value: T,
    ) -> sqlx::Result<()> {
        self.args.add(value).map_err(sqlx::Error::Encode)
    }
}

/// Creates the database file readable and writable by its owner only, before SQLite opens
/// it: SQLite gives the `-wal` and `-shm` files it creates the mode of the database file.
/// An existing file keeps its mode (its owner chose it).
fn create_private(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str().is_empty() || path.to_str() == Some(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crate::StoreError::unavailable(e)),
    }
}
