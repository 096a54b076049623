//! The SQLite backend: one file in WAL mode, shared safely by a running server and the CLI.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, which take the write lock up front: a
//! deferred transaction that reads and then writes can fail at once with "database is locked"
//! when another process wrote in between, which the busy timeout cannot wait out.
//! `synchronous = FULL` makes every commit durable before it is acknowledged.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use heliogate_core::{RoleName, Scope, SecretHash, TokenKey, UnixTime, UserName};
use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};
use tokio::sync::mpsc;

use crate::issue::{enqueue, spawn_issuer, Issue, Rows, WriteRows};

use crate::rows::{
    attach_roles, AuditRow, ClientRow, UserRow, AUDIT_COLUMNS, CLIENT_COLUMNS, USER_COLUMNS,
};
use crate::{
    email_str, join, AccessToken, AuditEvent, AuditStore, Client, ClientStore, Code,
    ConnectOptions, Consent, Credentials, GrantStore, LoginThrottleStore, NewAccessToken,
    NewClient, NewCode, NewRefreshToken, NewSession, NewUser, Redemption, RefreshToken, Result,
    Revocation, Role, RoleStore, Session, SessionStore, Store, StoreError, TokenStore, User,
    UserStore, ADMIN_COUNT_SQL,
};

/// How many rows one purge transaction deletes.
const PURGE_CHUNK: u64 = 5000;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    /// The token writer's queue: see `crate::issue`.
    issuer: mpsc::Sender<Issue>,
}

#[async_trait]
impl WriteRows for SqliteConnection {
    async fn write_rows(&mut self, rows: &Rows<'_>) -> sqlx::Result<()> {
        let mut tx = self.begin_with("BEGIN IMMEDIATE").await?;
        insert_rows(&mut tx, rows).await?;
        tx.commit().await
    }
}

/// Inserts access tokens, refresh tokens and audit events with one multi-row statement per
/// table: the one way token rows are written.
async fn insert_rows(conn: &mut SqliteConnection, rows: &Rows<'_>) -> sqlx::Result<()> {
    if !rows.access.is_empty() {
        let mut query = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT INTO access_tokens (token_hash, client_id, user_id, scope, family_id, code_hash, created_at, expires_at) ",
        );
        query.push_values(&rows.access, |mut row, t| {
            row.push_bind(t.key.as_bytes())
                .push_bind(t.client_id.as_str())
                .push_bind(t.user_id.as_deref())
                .push_bind(t.scope.as_str())
                .push_bind(t.family_id.as_deref())
                .push_bind(t.code_hash.as_ref().map(SecretHash::as_bytes))
                .push_bind(t.created_at)
                .push_bind(t.expires_at);
        });
        query.build().execute(&mut *conn).await?;
    }
    if !rows.refresh.is_empty() {
        let mut query = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, code_hash, created_at, expires_at) ",
        );
        query.push_values(&rows.refresh, |mut row, t| {
            row.push_bind(t.key.as_bytes())
                .push_bind(t.family_id.as_str())
                .push_bind(t.client_id.as_str())
                .push_bind(t.user_id.as_str())
                .push_bind(t.scope.as_str())
                .push_bind(t.code_hash.as_ref().map(SecretHash::as_bytes))
                .push_bind(t.created_at)
                .push_bind(t.expires_at);
        });
        query.build().execute(&mut *conn).await?;
    }
    if !rows.events.is_empty() {
        let mut query = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT INTO audit_log (at, event, actor, subject, client_addr, detail) ",
        );
        query.push_values(&rows.events, |mut row, e| {
            row.push_bind(e.at)
                .push_bind(e.event.as_str())
                .push_bind(e.actor.as_deref())
                .push_bind(e.subject.as_deref())
                .push_bind(e.client_addr.as_deref())
                .push_bind(e.detail.to_string());
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::unavailable(e)
}

/// Maps a unique-constraint violation to `Conflict` with the given message.
fn unique(message: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message),
        _ => db_err(e),
    }
}

impl SqliteStore {
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Bounded memory: a 1 MiB page cache per connection, and few connections (WAL lets
            // them read side by side; writes go one at a time anyway).
            .pragma("cache_size", "-1024")
            // Statement journals (a multi-row insert after another write in one transaction)
            // in memory rather than in a temporary file created and deleted each time.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.min(4))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(db_err)?;
        let issuer = spawn_issuer::<SqliteConnection>(connect, options.acquire_timeout);
        Ok(Self { pool, issuer })
    }

    async fn write(&self) -> Result<Transaction<'_, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    async fn roles_of(&self, user_ids: Option<&str>) -> Result<Vec<(String, String)>> {
        let query = match user_ids {
            Some(id) => sqlx::query_as(
                "SELECT user_id, role FROM user_roles WHERE user_id = $1 ORDER BY role",
            )
            .bind(id.to_owned()),
            None => sqlx::query_as("SELECT user_id, role FROM user_roles ORDER BY user_id, role"),
        };
        query.fetch_all(&self.pool).await.map_err(db_err)
    }

    async fn user_where(&self, column: &str, value: &str) -> Result<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} WHERE {column} = $1"))
                .bind(value)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        match row {
            Some(row) => {
                let roles = self.roles_of(Some(&row.id)).await?;
                Ok(Some(
                    row.with_roles(roles.into_iter().map(|(_, r)| r).collect()),
                ))
            }
            None => Ok(None),
        }
    }

    async fn role(&self, name: &str) -> Result<Role> {
        let scopes: Vec<(String,)> =
            sqlx::query_as("SELECT scope FROM role_scopes WHERE role = $1 ORDER BY scope")
                .bind(name)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(Role {
            name: name.to_owned(),
            scopes: scopes.into_iter().map(|(s,)| s).collect(),
        })
    }
}

async fn admin_count(tx: &mut Transaction<'_, Sqlite>) -> Result<i64> {
    sqlx::query_scalar(ADMIN_COUNT_SQL)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)
}

/// Runs a change that must leave at least one administrator, if there was one before.
async fn keeping_an_admin(mut tx: Transaction<'_, Sqlite>, before: i64) -> Result<()> {
    if before > 0 && admin_count(&mut tx).await? == 0 {
        return Err(StoreError::Conflict(
            "that would leave no enabled administrator".into(),
        ));
    }
    tx.commit().await.map_err(db_err)
}

async fn user_id(tx: &mut Transaction<'_, Sqlite>, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("no user named {name:?}")))
}

async fn insert_user_roles(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
    roles: &[RoleName],
) -> Result<()> {
    for role in roles {
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = $1")
            .bind(role.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "no role named {:?}",
                role.as_str()
            )));
        }
        sqlx::query(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(role.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

async fn insert_user(tx: &mut Transaction<'_, Sqlite>, user: &NewUser) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, name, email, password_hash, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, FALSE, $5, $5)",
    )
    .bind(&user.id)
    .bind(user.name.as_str())
    .bind(email_str(&user.email))
    .bind(&user.password_hash)
    .bind(user.now)
    .execute(&mut **tx)
    .await
    .map_err(unique(format!(
        "a user named {:?} already exists",
        user.name.as_str()
    )))?;
    insert_user_roles(tx, &user.id, &user.roles).await
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &NewUser) -> Result<User> {
        let mut tx = self.write().await?;
        insert_user(&mut tx, user).await?;
        tx.commit().await.map_err(db_err)?;
        self.user_where("id", &user.id)
            .await?
            .ok_or_else(|| StoreError::NotFound("the new user vanished".into()))
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.user_where("name", name).await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        self.user_where("id", id).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let users: Vec<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(attach_roles(users, self.roles_of(None).await?))
    }

    async fn credentials(&self, name: &str) -> Result<Option<Credentials>> {
        let row: Option<(String, String, bool)> =
            sqlx::query_as("SELECT id, password_hash, disabled FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(row.map(|(user_id, password_hash, disabled)| Credentials {
            user_id,
            password_hash,
            disabled,
        }))
    }

    async fn set_user_roles(
        &self,
        name: &UserName,
        roles: &[RoleName],
        now: UnixTime,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        let before = admin_count(&mut tx).await?;
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_user_roles(&mut tx, &id, roles).await?;
        sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        keeping_an_admin(tx, before).await
    }

    async fn set_password_hash(
        &self,
        name: &UserName,
        hash: &str,
        now: UnixTime,
        keep: Option<&SecretHash>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(&id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(&id)
            .bind(keep.map(|k| k.as_bytes().to_vec()).unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_disabled(&self, name: &UserName, disabled: bool, now: UnixTime) -> Result<()> {
        let mut tx = self.write().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        let before = admin_count(&mut tx).await?;
        sqlx::query("UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1")
            .bind(&id)
            .bind(disabled)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            revoke_tokens_where(&mut tx, "user_id = $1", &id, now).await?;
        }
        keeping_an_admin(tx, before).await
    }

    async fn delete_user(&self, name: &UserName) -> Result<()> {
        let mut tx = self.write().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        let before = admin_count(&mut tx).await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        keeping_an_admin(tx, before).await
    }
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn list_roles(&self) -> Result<Vec<Role>> {
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM roles ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let links: Vec<(String, String)> =
            sqlx::query_as("SELECT role, scope FROM role_scopes ORDER BY role, scope")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(names
            .into_iter()
            .map(|(name,)| {
                let scopes = links
                    .iter()
                    .filter(|(r, _)| *r == name)
                    .map(|(_, s)| s.clone())
                    .collect();
                Role { name, scopes }
            })
            .collect())
    }

    async fn create_role(&self, name: &RoleName, scopes: &[Scope], now: UnixTime) -> Result<Role> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO roles (name, created_at) VALUES ($1, $2)")
            .bind(name.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unique(format!(
                "a role named {:?} already exists",
                name.as_str()
            )))?;
        insert_role_scopes(&mut tx, name, scopes).await?;
        tx.commit().await.map_err(db_err)?;
        self.role(name.as_str()).await
    }

    async fn set_role_scopes(&self, name: &RoleName, scopes: &[Scope]) -> Result<Role> {
        let mut tx = self.write().await?;
        role_exists(&mut tx, name).await?;
        let before = admin_count(&mut tx).await?;
        sqlx::query("DELETE FROM role_scopes WHERE role = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_role_scopes(&mut tx, name, scopes).await?;
        keeping_an_admin(tx, before).await?;
        self.role(name.as_str()).await
    }

    async fn delete_role(&self, name: &RoleName) -> Result<()> {
        let mut tx = self.write().await?;
        role_exists(&mut tx, name).await?;
        let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_roles WHERE role = $1")
            .bind(name.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if holders > 0 {
            return Err(StoreError::Conflict(format!(
                "role {:?} is held by {holders} user(s); take it from them first",
                name.as_str()
            )));
        }
        sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn role_scopes(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT scope FROM role_scopes ORDER BY scope")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }
}

async fn role_exists(tx: &mut Transaction<'_, Sqlite>, name: &RoleName) -> Result<()> {
    let found: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("no role named {:?}", name.as_str())))
}

async fn insert_role_scopes(
    tx: &mut Transaction<'_, Sqlite>,
    name: &RoleName,
    scopes: &[Scope],
) -> Result<()> {
    for scope in scopes {
        sqlx::query("INSERT INTO role_scopes (role, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name.as_str())
            .bind(scope.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: &NewClient) -> Result<Client> {
        let mut tx = self.write().await?;
        let owner_id = match &client.owner {
            Some(name) => Some(user_id(&mut tx, name.as_str()).await?),
            None => None,
        };
        let spec = &client.spec;
        sqlx::query(
            "INSERT INTO clients (client_id, secret_hash, name, owner_id, public, redirect_uris, \
             grant_types, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&client.client_id)
        .bind(client.secret_hash.map(|h| h.as_bytes().to_vec()))
        .bind(&spec.name)
        .bind(owner_id)
        .bind(spec.kind == heliogate_core::ClientKind::Public)
        .bind(join(spec.redirect_uris.iter().map(|u| u.as_str())))
        .bind(join(spec.grant_types.iter().map(|g| g.as_str())))
        .bind(join(spec.scopes.iter().map(|s| s.as_str())))
        .bind(client.now)
        .execute(&mut *tx)
        .await
        .map_err(unique(format!("a client with id {:?} already exists", client.client_id)))?;
        tx.commit().await.map_err(db_err)?;
        self.client(&client.client_id)
            .await?
            .ok_or_else(|| StoreError::NotFound("the new client vanished".into()))
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>> {
        let row: Option<ClientRow> =
            sqlx::query_as(&format!("SELECT {CLIENT_COLUMNS} WHERE c.client_id = $1"))
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        row.map(Client::try_from).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>> {
        let rows: Vec<ClientRow> = sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} ORDER BY c.name, c.client_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn delete_client(&self, client_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no client with id {client_id:?}"
            )));
        }
        Ok(())
    }

    async fn set_client_secret(
        &self,
        client_id: &str,
        hash: &SecretHash,
        now: UnixTime,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE client_id = $1 AND public = FALSE",
        )
        .bind(client_id)
        .bind(hash.as_bytes().to_vec())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no confidential client with id {client_id:?}"
            )));
        }
        Ok(())
    }
}

/// Revokes live tokens matching `column = value` in both token tables.
async fn revoke_where(pool: &SqlitePool, column: &str, value: &str, now: UnixTime) -> Result<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let mut count = 0;
    for table in ["access_tokens", "refresh_tokens"] {
        let done = sqlx::query(&format!(
            "UPDATE {table} SET revoked_at = $2 WHERE {column} = $1 AND revoked_at IS NULL AND expires_at > $2"
        ))
        .bind(value)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        count += done.rows_affected();
    }
    tx.commit().await.map_err(db_err)?;
    Ok(count)
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn access_token(&self, key: &TokenKey) -> Result<Option<AccessToken>> {
        #[allow(clippy::type_complexity)]
        let row: Option<(String, Option<String>, Option<String>, String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT a.client_id, a.user_id, u.name, a.scope, a.created_at, a.expires_at, a.revoked_at \
             FROM access_tokens a LEFT JOIN users u ON u.id = a.user_id WHERE a.token_hash = $1",
        )
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(
            |(client_id, user_id, username, scope, created_at, expires_at, revoked_at)| {
                AccessToken {
                    client_id,
                    user_id,
                    username,
                    scope,
                    created_at,
                    expires_at,
                    revoked_at,
                }
            },
        ))
    }

    async fn revoke_user_tokens(&self, user_id: &str, now: UnixTime) -> Result<u64> {
        revoke_where(&self.pool, "user_id", user_id, now).await
    }

    async fn revoke_client_tokens(&self, client_id: &str, now: UnixTime) -> Result<u64> {
        revoke_where(&self.pool, "client_id", client_id, now).await
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64> {
        // In chunks of short transactions, so that a purge of millions of rows never holds
        // the write lock long enough to stall issuance or sign-in.
        let mut count = 0;
        for table in [
            "access_tokens",
            "refresh_tokens",
            "authorization_codes",
            "sessions",
        ] {
            // A cursor over the rowid: each chunk goes on where the last one stopped, so the
            // purge reads the table once however many chunks it takes.
            let mut after = i64::MIN;
            loop {
                let last: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT id FROM (SELECT rowid AS id FROM {table} WHERE rowid > $2 AND expires_at <= $1 \
                     ORDER BY rowid LIMIT {PURGE_CHUNK}) ORDER BY id DESC LIMIT 1"
                ))
                .bind(now)
                .bind(after)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                let Some(last) = last else { break };
                let done = sqlx::query(&format!(
                    "DELETE FROM {table} WHERE rowid > $2 AND rowid <= $3 AND expires_at <= $1"
                ))
                .bind(now)
                .bind(after)
                .bind(last)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                count += done.rows_affected();
                after = last;
            }
        }
        Ok(count)
    }
}

/// Revokes live rows of both token tables where `condition` holds (with `$1` bound to `value`
/// and `$2` to the time).
async fn revoke_tokens_where(
    tx: &mut Transaction<'_, Sqlite>,
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

#[async_trait]
impl GrantStore for SqliteStore {
    async fn insert_code(&self, code: &NewCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, redirect_uri_given, scope, \
             code_challenge, nonce, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(code.hash.as_bytes().to_vec())
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(&code.redirect_uri)
        .bind(code.redirect_uri_given)
        .bind(&code.scope)
        .bind(&code.code_challenge)
        .bind(&code.nonce)
        .bind(code.auth_time)
        .bind(code.created_at)
        .bind(code.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn redeem_code(&self, hash: &SecretHash, now: UnixTime) -> Result<Redemption> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        #[allow(clippy::type_complexity)]
        let spent: Option<(String, String, String, bool, String, Option<String>, Option<String>, i64, i64)> =
            sqlx::query_as(
                "UPDATE authorization_codes SET redeemed_at = $2 WHERE code_hash = $1 AND redeemed_at IS NULL \
                 RETURNING client_id, user_id, redirect_uri, redirect_uri_given, scope, code_challenge, nonce, \
                 auth_time, expires_at",
            )
            .bind(hash.as_bytes().to_vec())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some((
            client_id,
            user_id,
            redirect_uri,
            redirect_uri_given,
            scope,
            code_challenge,
            nonce,
            auth_time,
            expires_at,
        )) = spent
        {
            tx.commit().await.map_err(db_err)?;
            return Ok(Redemption::Redeemed(Code {
                client_id,
                user_id,
                redirect_uri,
                redirect_uri_given,
                scope,
                code_challenge,
                nonce,
                auth_time,
                expires_at,
            }));
        }
        let known: Option<i64> =
            sqlx::query_scalar("SELECT redeemed_at FROM authorization_codes WHERE code_hash = $1")
                .bind(hash.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .flatten();
        if known.is_none() {
            return Ok(Redemption::Unknown);
        }
        let families: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT family_id FROM access_tokens WHERE code_hash = $1 AND family_id IS NOT NULL",
        )
        .bind(hash.as_bytes().to_vec())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut revoked = 0;
        for family in families {
            revoked += revoke_tokens_where(&mut tx, "family_id = $1", &family, now).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Redemption::Replayed { revoked })
    }

    async fn issue_tokens(
        &self,
        access: NewAccessToken,
        refresh: Option<NewRefreshToken>,
        event: Option<AuditEvent>,
    ) -> Result<()> {
        enqueue(&self.issuer, access, refresh, event).await
    }

    async fn refresh_token(&self, key: &TokenKey) -> Result<Option<RefreshToken>> {
        #[allow(clippy::type_complexity)]
        let row: Option<(String, String, String, String, i64, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT family_id, client_id, user_id, scope, created_at, expires_at, rotated_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(
            |(
                family_id,
                client_id,
                user_id,
                scope,
                created_at,
                expires_at,
                rotated_at,
                revoked_at,
            )| {
                RefreshToken {
                    family_id,
                    client_id,
                    user_id,
                    scope,
                    created_at,
                    expires_at,
                    rotated_at,
                    revoked_at,
                }
            },
        ))
    }

    async fn rotate_refresh(
        &self,
        old: &TokenKey,
        access: &NewAccessToken,
        refresh: &NewRefreshToken,
        now: UnixTime,
        event: Option<&AuditEvent>,
    ) -> Result<bool> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1 AND rotated_at IS NULL \
             AND revoked_at IS NULL",
        )
        .bind(old.as_bytes().to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            // Lost a race with another use of the same token: that is a replay too.
            revoke_tokens_where(&mut tx, "family_id = $1", &refresh.family_id, now).await?;
            tx.commit().await.map_err(db_err)?;
            return Ok(false);
        }
        let rows = Rows {
            access: vec![access],
            refresh: vec![refresh],
            events: event.into_iter().collect(),
        };
        insert_rows(&mut tx, &rows).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn revoke_family(&self, family_id: &str, now: UnixTime) -> Result<u64> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let count = revoke_tokens_where(&mut tx, "family_id = $1", family_id, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(count)
    }

    async fn revoke_token(
        &self,
        key: &TokenKey,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Revocation> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let access: Option<String> =
            sqlx::query_scalar("SELECT client_id FROM access_tokens WHERE token_hash = $1")
                .bind(key.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if let Some(owner) = access {
            if owner != client_id {
                return Ok(Revocation::NotOwned);
            }
            sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(key.as_bytes().to_vec())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            return Ok(Revocation::Revoked);
        }
        let refresh: Option<(String, String)> =
            sqlx::query_as("SELECT client_id, family_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(key.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        match refresh {
            Some((owner, _)) if owner != client_id => Ok(Revocation::NotOwned),
            Some((_, family)) => {
                revoke_tokens_where(&mut tx, "family_id = $1", &family, now).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Revocation::Revoked)
            }
            None => Ok(Revocation::Unknown),
        }
    }

    async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn consents(&self, user_id: &str) -> Result<Vec<Consent>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT c.client_id, c.name, k.scope, k.updated_at FROM consents k \
             JOIN clients c ON c.client_id = k.client_id WHERE k.user_id = $1 ORDER BY c.name, c.client_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(client_id, client_name, scope, updated_at)| Consent {
                client_id,
                client_name,
                scope,
                updated_at,
            })
            .collect())
    }

    async fn revoke_consent(&self, user_id: &str, client_id: &str, now: UnixTime) -> Result<bool> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let done = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut count = done.rows_affected();
        for table in ["access_tokens", "refresh_tokens"] {
            let revoked = sqlx::query(&format!(
                "UPDATE {table} SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL"
            ))
            .bind(user_id)
            .bind(client_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            count += revoked.rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(count > 0)
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &NewSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, \
             client_addr, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(session.id_hash.as_bytes().to_vec())
        .bind(&session.user_id)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(&session.client_addr)
        .bind(&session.user_agent)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&self, id_hash: &SecretHash, now: UnixTime) -> Result<Option<Session>> {
        let row: Option<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT s.user_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE",
        )
        .bind(id_hash.as_bytes().to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some((user_id, csrf_token, created_at, last_seen_at, expires_at)) = row else {
            return Ok(None);
        };
        let Some(user) = self.user_where("id", &user_id).await? else {
            return Ok(None);
        };
        Ok(Some(Session {
            user,
            csrf_token,
            created_at,
            last_seen_at,
            expires_at,
        }))
    }

    async fn touch_session(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1")
            .bind(id_hash.as_bytes().to_vec())
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &SecretHash) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash.as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_other_sessions(&self, user_id: &str, keep: &SecretHash) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id)
            .bind(keep.as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl LoginThrottleStore for SqliteStore {
    async fn locked_until(&self, keys: &[String], now: UnixTime) -> Result<Option<UnixTime>> {
        let mut until = None;
        for key in keys {
            let locked: Option<i64> = sqlx::query_scalar(
                "SELECT locked_until FROM login_failures WHERE key = $1 AND locked_until > $2",
            )
            .bind(key)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
            until = until.max(locked);
        }
        Ok(until)
    }

    async fn record_login_failure(&self, key: &str, now: UnixTime, window: i64) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO login_failures (key, failures, last_failure, locked_until) VALUES ($1, 1, $2, 0) \
             ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN login_failures.last_failure < $3 THEN 1 \
             ELSE login_failures.failures + 1 END, last_failure = $2 RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(now - window)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn lock_login(&self, key: &str, until: UnixTime) -> Result<()> {
        sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE key = $1")
            .bind(key)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, event, actor, subject, client_addr, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.at)
        .bind(&event.event)
        .bind(&event.actor)
        .bind(&event.subject)
        .bind(&event.client_addr)
        .bind(event.detail.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn recent_events(&self, limit: u32) -> Result<Vec<AuditEvent>> {
        let rows: Vec<AuditRow> =
            sqlx::query_as(&format!("SELECT {AUDIT_COLUMNS} ORDER BY id DESC LIMIT $1"))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(crate::migrate_error)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn bootstrap_admin(&self, admin: &NewUser) -> Result<bool> {
        let mut tx = self.write().await?;
        let marked = sqlx::query("INSERT INTO instance (key, value) VALUES ('bootstrap_admin', $1) ON CONFLICT DO NOTHING")
            .bind(admin.now.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if marked.rows_affected() == 0 || users > 0 {
            tx.commit().await.map_err(db_err)?;
            return Ok(false);
        }
        insert_user(&mut tx, admin).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn instance_value(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM instance WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn set_instance_value(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO instance (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
