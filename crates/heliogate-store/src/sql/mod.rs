//! The one SQL implementation of the store traits, a file per aggregate.
//!
//! This folder is compiled inside each engine's module (`sqlite.rs`, `postgres.rs`), where
//! `Db` names that engine's sqlx database and `SqlStore` its store; what differs between the
//! engines is the `Engine` trait below, which each implements. So every statement is written
//! once and runs on typed pools, with no `sqlx::Any` and no per-call branching on the engine.
//! (One generic implementation over `sqlx::Database` was the alternative: Rust does not carry a
//! trait's where-clauses to its users, so each of its impl blocks would repeat some fifteen
//! bounds such as `for<'q> &'q str: Encode<'q, DB>`.)

mod archive;
mod audit;
mod authority;
mod clients;
mod code_reads;
mod config;
mod device;
mod factors;
mod grants;
mod import;
mod instance;
mod keys;
mod logouts;
mod proofs;
mod pushed;
mod roles;
mod sessions;
mod throttle;
mod tokens;
mod upstreams;
mod users;

use std::sync::Arc;

use heliogate_core::UnixTime;
use sqlx::pool::PoolOptions;
use sqlx::{Database, Pool, Transaction};
use tokio::sync::mpsc;

use super::{insert_rows, Db, MIGRATOR};
use crate::error::db_err;
use crate::issue::{spawn_issuer, BatchSizes, Issue};
use crate::proof_writer::{spawn_proof_writer, SeenProof};
use crate::{AuditEvent, ConnectOptions, Result, StoreError};

pub(super) use grants::write_issues;

type Connection = <Db as Database>::Connection;
type ConnectOptionsOf = <Connection as sqlx::Connection>::Options;

/// The store on this engine's pool.
pub struct SqlStore {
    pub(super) pool: Pool<Db>,
    /// The token writer's queue: see `crate::issue`.
    pub(super) issuer: mpsc::Sender<Issue>,
    /// The DPoP proof writer's queue: see `crate::proof_writer`.
    pub(super) proofs: mpsc::Sender<SeenProof>,
    /// The code reader's queue: see `code_reads`.
    codes: mpsc::Sender<code_reads::CodeRead>,
    /// How many issuances the token writer's commits carried.
    pub(super) batch_sizes: Arc<BatchSizes>,
}

impl SqlStore {
    /// Opens a pool on the database `url` names, and the token writer's own connection.
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Self> {
        let connect = SqlStore::connect_options(url)?;
        let pool = PoolOptions::<Db>::new()
            .max_connections(SqlStore::pool_size(options.max_connections))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(SqlStore::CHECK_BEFORE_USE)
            .connect_with(connect.clone())
            .await
            .map_err(db_err)?;
        let batch_sizes = Arc::new(BatchSizes::default());
        let proofs = spawn_proof_writer::<Connection>(connect.clone(), options.acquire_timeout);
        let issuer =
            spawn_issuer::<Connection>(connect, options.acquire_timeout, Arc::clone(&batch_sizes));
        let codes = code_reads::spawn_code_reader(pool.clone());
        Ok(Self {
            pool,
            codes,
            issuer,
            proofs,
            batch_sizes,
        })
    }
}

/// What an engine supplies to the shared SQL: how write transactions start and how a purge
/// walks a table.
pub(super) trait Engine {
    /// An ordered column's value, for the purge's cursor.
    type Cursor;

    /// How many connections the pool opens when the settings ask for `asked`.
    fn pool_size(asked: u32) -> u32;

    /// Whether the pool checks a connection with a round trip before lending it: worth it
    /// where a connection can die while idle (a server restarted, a network dropped).
    const CHECK_BEFORE_USE: bool;

    /// How to connect to the database `url` names (engine options such as pragmas included).
    fn connect_options(url: &str) -> Result<ConnectOptionsOf>;

    /// Starts a transaction that writes tokens, codes or consents.
    async fn begin_write(&self) -> Result<Transaction<'_, Db>>;

    /// Starts a transaction for an administrative change (users, roles, clients), serialized
    /// with every other such change so that the checks that span rows ("an administrator
    /// remains") see every earlier change committed.
    async fn begin_admin(&self) -> Result<Transaction<'_, Db>>;

    /// Starts a transaction that reads the revocation feed, once every change that has
    /// numbered an entry has committed (see the feed's migration).
    async fn begin_feed_read(&self) -> Result<Transaction<'_, Db>>;

    /// The column that a purge of a table keyed by `key` walks in order, and a value before
    /// its first row.
    fn purge_cursor(key: &'static str) -> (&'static str, Self::Cursor);

    /// Starts a transaction that reads every table as of one moment, writing nothing.
    async fn begin_snapshot(&self) -> Result<Transaction<'_, Db>>;

    /// A table's columns in order, and how each stores its values.
    async fn columns(tx: &mut Transaction<'_, Db>, table: &str) -> Result<crate::archive::Columns>;

    /// The tables of the database, but the migrations' own.
    async fn tables(tx: &mut Transaction<'_, Db>) -> Result<Vec<String>>;

    /// What a restore does last, once every row is in (PostgreSQL's sequences).
    async fn after_restore(tx: &mut Transaction<'_, Db>) -> Result<()>;

    /// The database's clock in whole seconds, as SQL.
    const NOW: &'static str;

    /// What a `SELECT` ends with to hold the rows it reads until the transaction ends.
    const ROW_LOCK: &'static str;
}

/// How many rows one purge transaction deletes.
const PURGE_CHUNK: u64 = 5000;

/// Users that would stay administrators.
const ADMIN_COUNT_SQL: &str = "SELECT COUNT(DISTINCT u.id) FROM users u \
     JOIN user_roles ur ON ur.user_id = u.id \
     JOIN role_scopes rs ON rs.role = ur.role AND rs.scope = $1 \
     WHERE u.disabled = FALSE";

pub(super) async fn admin_count(tx: &mut Transaction<'_, Db>) -> Result<i64> {
    sqlx::query_scalar(ADMIN_COUNT_SQL)
        .bind(heliogate_core::ADMIN_SCOPE)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)
}

/// Commits a change that must leave at least one administrator, if there was one before,
/// with its audit record.
pub(super) async fn keeping_an_admin(
    tx: Transaction<'_, Db>,
    before: i64,
    event: &AuditEvent,
) -> Result<()> {
    keeping_an_admin_with(tx, before, std::slice::from_ref(event)).await
}

/// Commits a change with its events, unless it left no administrator where there was one.
pub(super) async fn keeping_an_admin_with(
    mut tx: Transaction<'_, Db>,
    before: i64,
    events: &[AuditEvent],
) -> Result<()> {
    if before > 0 && admin_count(&mut tx).await? == 0 {
        return Err(StoreError::Conflict(
            "that would leave no enabled administrator".into(),
        ));
    }
    for event in events {
        audit::insert_event(&mut *tx, event).await?;
    }
    tx.commit().await.map_err(db_err)
}

pub(super) async fn user_id(tx: &mut Transaction<'_, Db>, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("no user named {name:?}")))
}

/// Revokes live rows of both token tables where `condition` holds (with `$1` bound to `value`
/// and `$2` to the time).
pub(super) async fn revoke_tokens_where(
    tx: &mut Transaction<'_, Db>,
    condition: &str,
    value: &str,
    now: UnixTime,
) -> Result<u64> {
    let mut count = 0;
    for table in ["access_tokens", "refresh_tokens"] {
        let done = sqlx::query(&format!(
            "UPDATE {table} SET revoked_at = $2 WHERE revoked_at IS NULL AND {condition}"
        ))
        .bind(value)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        count += done.rows_affected();
    }
    Ok(count)
}
