//! Issued access tokens: lookup, revocation by user or client, and the purge.

use async_trait::async_trait;
use heliogate_core::oauth::resource::StoredResources;
use heliogate_core::{ClientId, ScopeSet, TokenKey, UnixTime};

use super::audit::commit_with;
use super::{revoke_tokens_where, Engine, SqlStore, PURGE_CHUNK};
use crate::error::db_err;
use crate::{
    AccessToken, AuditEvent, NewPersonalToken, PersonalToken, Result, RevokedToken, StoreError,
    TokenHolder, TokenKind, TokenRecord, TokenStore, PERSONAL_TOKENS_CLIENT,
};

impl SqlStore {
    /// Revokes live tokens matching `column = value` in both token tables, and records it.
    async fn revoke_where(
        &self,
        column: &str,
        value: &str,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let condition = format!("{column} = $1 AND expires_at > $2");
        let count = revoke_tokens_where(&mut tx, &condition, value, now).await?;
        commit_with(tx, &event.clone().with("revoked", count)).await?;
        Ok(count)
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn access_token(&self, key: &TokenKey) -> Result<Option<AccessToken>> {
        sqlx::query_as(
            "SELECT a.client_id, a.user_id, u.name AS username, a.scope, a.audience, a.created_at, \
             a.expires_at, a.revoked_at, a.last_used_at, a.jkt, a.subject_key, a.act FROM access_tokens a \
             LEFT JOIN users u ON u.id = a.user_id WHERE a.token_hash = $1",
        )
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn revoke_user_tokens(
        &self,
        user_id: &str,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<u64> {
        self.revoke_where("user_id", user_id, now, event).await
    }

    async fn revoke_client_tokens(
        &self,
        client_id: &ClientId,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<u64> {
        self.revoke_where("client_id", client_id.as_str(), now, event)
            .await
    }

    async fn live_tokens(
        &self,
        holder: TokenHolder<'_>,
        now: UnixTime,
        after: &[u8],
        limit: u32,
    ) -> Result<Vec<TokenRecord>> {
        let (column, value) = holder.column();
        let rows: Vec<TokenRow> = sqlx::query_as(&format!(
            "SELECT k, refresh, client_id, username, scope, audience, created_at, expires_at FROM (\
             SELECT a.token_hash AS k, FALSE AS refresh, a.client_id, u.name AS username, a.scope, \
             a.audience, a.created_at, a.expires_at FROM access_tokens a \
             LEFT JOIN users u ON u.id = a.user_id WHERE a.{column} = $1 \
             AND a.revoked_at IS NULL AND a.expires_at > $2 AND a.token_hash > $3 \
             UNION ALL \
             SELECT r.token_hash, TRUE, r.client_id, u.name, r.scope, NULL, r.created_at, \
             r.expires_at FROM refresh_tokens r LEFT JOIN users u ON u.id = r.user_id \
             WHERE r.{column} = $1 AND r.revoked_at IS NULL AND r.rotated_at IS NULL \
             AND r.expires_at > $2 AND r.token_hash > $3\
             ) live ORDER BY k LIMIT $4"
        ))
        .bind(value)
        .bind(now)
        .bind(after.to_vec())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }

    async fn revoked_after(
        &self,
        after: i64,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<RevokedToken>> {
        let mut tx = self.begin_feed_read().await?;
        let entries = sqlx::query_as(
            "SELECT seq, token_sha256, expires_at FROM token_revocations \
             WHERE seq > $1 AND expires_at > $2 ORDER BY seq LIMIT $3",
        )
        .bind(after)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(entries)
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64> {
        // In chunks of short transactions, so that a purge of millions of rows never holds
        // the write lock long enough to stall issuance or sign-in.
        let mut count = 0;
        let tables = [
            ("access_tokens", "token_hash"),
            ("refresh_tokens", "token_hash"),
            ("authorization_codes", "code_hash"),
            ("sessions", "id_hash"),
            ("mfa_pending", "id_hash"),
            ("webauthn_challenges", "id_hash"),
            ("device_authorizations", "device_code_hash"),
            ("pushed_requests", "request_hash"),
            ("dpop_proofs", "proof_hash"),
        ];
        for (table, key) in tables {
            // A cursor over an ordered column: each chunk goes on where the last one stopped,
            // so the purge reads the table once however many chunks it takes.
            let (column, mut after) = SqlStore::purge_cursor(key);
            // A number on one engine, bytes on the other: bound by reference on both.
            #[allow(clippy::needless_borrows_for_generic_args)]
            loop {
                let last: Option<<SqlStore as Engine>::Cursor> = sqlx::query_scalar(&format!(
                    "SELECT k FROM (SELECT {column} AS k FROM {table} WHERE {column} > $2 \
                     AND expires_at <= $1 ORDER BY {column} LIMIT {PURGE_CHUNK}) chunk \
                     ORDER BY k DESC LIMIT 1"
                ))
                .bind(now)
                .bind(&after)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                let Some(last) = last else { break };
                let done = sqlx::query(&format!(
                    "DELETE FROM {table} WHERE {column} > $2 AND {column} <= $3 AND expires_at <= $1"
                ))
                .bind(now)
                .bind(&after)
                .bind(&last)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                count += done.rows_affected();
                after = last;
            }
        }
        // A session's relying parties are forgotten with it (by the session's trigger); these
        // are the few recorded as their session ended in another transaction.
        sqlx::query(
            "DELETE FROM session_clients WHERE NOT EXISTS \
             (SELECT 1 FROM sessions WHERE sessions.sid = session_clients.sid)",
        )
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        // The feed keeps only tokens that have not expired (a small table, one statement);
        // its entries are not tokens, and not counted.
        sqlx::query("DELETE FROM token_revocations WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(count)
    }

    async fn create_personal_token(
        &self,
        token: &NewPersonalToken,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, client_id, user_id, scope, created_at, \
             expires_at, name) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.key.as_bytes().to_vec())
        .bind(PERSONAL_TOKENS_CLIENT)
        .bind(&token.user_id)
        .bind(&token.scope)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(&token.name)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        commit_with(tx, event).await
    }

    async fn personal_tokens(&self, user_id: &str, now: UnixTime) -> Result<Vec<PersonalToken>> {
        type Row = (Vec<u8>, String, String, i64, i64, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT token_hash, name, scope, created_at, expires_at, last_used_at \
             FROM access_tokens WHERE user_id = $1 AND client_id = $2 AND name IS NOT NULL \
             AND revoked_at IS NULL AND expires_at > $3 ORDER BY token_hash DESC",
        )
        .bind(user_id)
        .bind(PERSONAL_TOKENS_CLIENT)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(key, name, scope, created_at, expires_at, last_used_at)| {
                let damaged =
                    || StoreError::internal(format!("personal token {name:?} is damaged"));
                Ok(PersonalToken {
                    key: TokenKey::from_stored(&key).ok_or_else(damaged)?,
                    scope: ScopeSet::parse(&scope).map_err(|_| damaged())?,
                    name,
                    created_at,
                    expires_at,
                    last_used_at,
                })
            })
            .collect()
    }

    async fn personal_token_used(&self, key: &TokenKey, now: UnixTime) -> Result<()> {
        sqlx::query(
            "UPDATE access_tokens SET last_used_at = $2 WHERE token_hash = $1 AND client_id = $3",
        )
        .bind(key.as_bytes().to_vec())
        .bind(now)
        .bind(PERSONAL_TOKENS_CLIENT)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    k: Vec<u8>,
    refresh: bool,
    client_id: String,
    username: Option<String>,
    #[sqlx(try_from = "String")]
    scope: ScopeSet,
    #[sqlx(try_from = "Option<String>")]
    audience: StoredResources,
    created_at: i64,
    expires_at: i64,
}

impl From<TokenRow> for TokenRecord {
    fn from(row: TokenRow) -> Self {
        Self {
            key: row.k,
            kind: if row.refresh {
                TokenKind::Refresh
            } else {
                TokenKind::Access
            },
            client_id: row.client_id,
            username: row.username,
            scope: row.scope,
            audience: row.audience,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}
