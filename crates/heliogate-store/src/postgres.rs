//! The PostgreSQL engine: the store of a cluster of stateless heliogate nodes.
//!
//! Administrative changes (users, roles, clients) take a transaction-scoped advisory lock
//! first, so that two nodes cannot each remove "the other" last administrator: the checks that
//! span rows see every earlier change committed. Commits are durable under PostgreSQL's
//! default `synchronous_commit = on`.

use std::str::FromStr;

use async_trait::async_trait;
use heliogate_core::TokenKey;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Postgres, Transaction};

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

type Db = Postgres;

/// The advisory lock key that serializes administrative changes across nodes.
const ADMIN_LOCK: i64 = 0x6865_6c69_6f67;

/// The advisory lock key that orders the revocation feed (migration 0018): its writers hold
/// it shared until they commit, its reader takes it exclusively.
const FEED_LOCK: i64 = 0x6865_6c69_6f68;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The store on a PostgreSQL database.
pub type PgStore = sql::SqlStore;

impl sql::Engine for SqlStore {
    /// PostgreSQL walks its tables by their key (a B-tree index).
    type Cursor = Vec<u8>;

    fn pool_size(asked: u32) -> u32 {
        asked
    }

    const CHECK_BEFORE_USE: bool = true;

    fn connect_options(url: &str) -> Result<PgConnectOptions> {
        Ok(PgConnectOptions::from_str(url)
            .map_err(db_err)?
            .application_name("heliogate"))
    }

    async fn begin_write(&self) -> Result<Transaction<'_, Postgres>> {
        self.pool.begin().await.map_err(db_err)
    }

    async fn begin_admin(&self) -> Result<Transaction<'_, Postgres>> {
        let mut tx = self.begin_write().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ADMIN_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Ok(tx)
    }

    async fn begin_feed_read(&self) -> Result<Transaction<'_, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FEED_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Ok(tx)
    }

    fn purge_cursor(key: &'static str) -> (&'static str, Vec<u8>) {
        (key, Vec::new())
    }

    async fn begin_snapshot(&self) -> Result<Transaction<'_, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db_err)
    }

    async fn columns(
        tx: &mut Transaction<'_, Postgres>,
        table: &str,
    ) -> Result<crate::archive::Columns> {
        let declared: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        declared
            .into_iter()
            .map(|(name, declared)| {
                let kind = match declared.as_str() {
                    "bigint" | "integer" | "smallint" => Kind::Int,
                    "boolean" => Kind::Bool,
                    "text" | "character varying" => Kind::Text,
                    "bytea" => Kind::Bytes,
                    other => {
                        return Err(crate::StoreError::internal(format!(
                            "{table}.{name} is of a type backups do not know: {other}"
                        )))
                    }
                };
                Ok((name, kind))
            })
            .collect()
    }

    async fn tables(tx: &mut Transaction<'_, Postgres>) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)
    }

    /// The sequences go on after the largest id restored.
    async fn after_restore(tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        for (table, column) in [
            ("audit_log", "id"),
            ("token_revocations", "seq"),
            ("logout_deliveries", "id"),
        ] {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            ))
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    const NOW: &'static str = "CAST(extract(epoch FROM now()) AS BIGINT)";

    const ROW_LOCK: &'static str = " FOR UPDATE";
}

#[async_trait]
impl WriteRows for PgConnection {
    async fn write_issues(&mut self, jobs: &[Issue]) -> sqlx::Result<Vec<bool>> {
        if jobs.iter().all(|job| job.spends.is_none()) {
            // One statement is one transaction.
            return sql::write_issues(self, jobs).await;
        }
        let mut tx = sqlx::Connection::begin(&mut *self).await?;
        let written = sql::write_issues(&mut tx, jobs).await?;
        tx.commit().await?;
        Ok(written)
    }
}

#[async_trait]
impl WriteProofs for PgConnection {
    async fn write_proofs(&mut self, proofs: &[(&[u8], i64)]) -> sqlx::Result<Vec<Vec<u8>>> {
        let hashes: Vec<&[u8]> = proofs.iter().map(|(hash, _)| *hash).collect();
        let expiries: Vec<i64> = proofs.iter().map(|(_, at)| *at).collect();
        sqlx::query_scalar(
            "INSERT INTO dpop_proofs (proof_hash, expires_at) \
             SELECT * FROM UNNEST($1::bytea[], $2::int8[]) \
             ON CONFLICT (proof_hash) DO NOTHING RETURNING proof_hash",
        )
        .bind(hashes)
        .bind(expiries)
        .fetch_all(self)
        .await
    }
}

/// Inserts access tokens, refresh tokens and audit events in one statement, each table's rows
/// as one array per column: the same text for any number of rows, so it is prepared once per
/// connection, and one round trip for a whole batch. The one way token rows are written.
const INSERT_ROWS: &str = "\
    WITH access AS (\
        INSERT INTO access_tokens \
            (token_hash, client_id, user_id, scope, family_id, created_at, expires_at, audience, \
             jkt, subject_key, act, sid) \
        SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], \
            $6::int8[], $7::int8[], $8::text[], $9::text[], $10::bytea[], $11::text[], \
            $12::text[])\
    ), refresh AS (\
        INSERT INTO refresh_tokens \
            (token_hash, family_id, client_id, user_id, scope, auth_time, sid, created_at, \
             expires_at, amr, jkt) \
        SELECT * FROM UNNEST($13::bytea[], $14::text[], $15::text[], $16::text[], $17::text[], \
            $18::int8[], $19::text[], $20::int8[], $21::int8[], $22::text[], $23::text[])\
    ) \
    INSERT INTO audit_log (at, event, actor, subject, client_addr, detail) \
    SELECT * FROM UNNEST($24::int8[], $25::text[], $26::text[], $27::text[], $28::text[], \
        $29::text[])";

async fn insert_rows(conn: &mut PgConnection, rows: &Rows<'_>) -> sqlx::Result<()> {
    fn column<'r, T: 'r, V>(items: &[&'r T], field: impl Fn(&'r T) -> V) -> Vec<V> {
        items.iter().map(|item| field(item)).collect()
    }
    let (access, refresh, events) = (&rows.access, &rows.refresh, &rows.events);
    sqlx::query(INSERT_ROWS)
        .bind(column(access, |t| t.key.as_bytes()))
        .bind(column(access, |t| t.client_id.as_str()))
        .bind(column(access, |t| t.user_id.as_deref()))
        .bind(column(access, |t| t.scope.as_str()))
        .bind(column(access, |t| t.family_id.as_deref()))
        .bind(column(access, |t| t.created_at))
        .bind(column(access, |t| t.expires_at))
        .bind(column(access, |t| t.audience.as_deref()))
        .bind(column(access, |t| t.jkt.as_deref()))
        .bind(column(access, |t| {
            t.subject_key.as_ref().map(TokenKey::as_bytes)
        }))
        .bind(column(access, |t| t.act.as_deref()))
        .bind(column(access, |t| t.sid.as_deref()))
        .bind(column(refresh, |t| t.key.as_bytes()))
        .bind(column(refresh, |t| t.family_id.as_str()))
        .bind(column(refresh, |t| t.client_id.as_str()))
        .bind(column(refresh, |t| t.user_id.as_str()))
        .bind(column(refresh, |t| t.scope.as_str()))
        .bind(column(refresh, |t| t.auth_time))
        .bind(column(refresh, |t| t.sid.as_deref()))
        .bind(column(refresh, |t| t.created_at))
        .bind(column(refresh, |t| t.expires_at))
        .bind(column(refresh, |t| t.amr.as_deref()))
        .bind(column(refresh, |t| t.jkt.as_deref()))
        .bind(column(events, |e| e.at))
        .bind(column(events, |e| e.event.as_str()))
        .bind(column(events, |e| e.actor.as_deref()))
        .bind(column(events, |e| e.subject.as_deref()))
        .bind(column(events, |e| e.client_addr.as_deref()))
        .bind(column(events, |e| e.detail_text()))
        .execute(conn)
        .await?;
    Ok(())
}
