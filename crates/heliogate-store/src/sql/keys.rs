//! Signing keys.

use async_trait::async_trait;
use heliogate_core::UnixTime;

use super::audit::commit_with;
use sqlx::Transaction;

use super::{Db, Engine, SqlStore};
use crate::error::db_err;
use crate::{AuditEvent, KeyStore, Result, SigningKey, StoreError};

/// Inserts a key unless its algorithm has its generation already; how many rows it added.
async fn insert_key(tx: &mut Transaction<'_, Db>, key: &SigningKey) -> Result<u64> {
    let added = sqlx::query(
        "INSERT INTO signing_keys (kid, alg, generation, private_key, created_at, signs_from, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (alg, generation) DO NOTHING",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(key.generation)
    .bind(&key.private_key)
    .bind(key.created_at)
    .bind(key.signs_from)
    .bind(key.retired_at)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(added.rows_affected())
}

const KEY_COLUMNS: &str =
    "SELECT kid, alg, generation, private_key, created_at, signs_from, retired_at FROM signing_keys";

#[async_trait]
impl KeyStore for SqlStore {
    async fn signing_keys(&self, now: UnixTime) -> Result<Vec<SigningKey>> {
        sqlx::query_as(
            "SELECT kid, alg, generation, private_key, created_at, signs_from, retired_at \
             FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 \
             ORDER BY alg, generation",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn add_signing_key(&self, key: &SigningKey, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.begin_admin().await?;
        let added = insert_key(&mut tx, key).await?;
        if added == 0 {
            tx.commit().await.map_err(db_err)?;
            return Ok(false);
        }
        commit_with(tx, event).await?;
        Ok(true)
    }

    async fn all_signing_keys(&self) -> Result<Vec<SigningKey>> {
        sqlx::query_as(&format!("{KEY_COLUMNS} ORDER BY alg, generation"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn rotate_signing_key(
        &self,
        next: &SigningKey,
        retire_at: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        if insert_key(&mut tx, next).await? == 0 {
            return Err(StoreError::Conflict(format!(
                "another rotation made generation {} of {} first",
                next.generation, next.alg
            )));
        }
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $3 WHERE alg = $1 AND generation < $2 \
             AND (retired_at IS NULL OR retired_at > $3)",
        )
        .bind(&next.alg)
        .bind(next.generation)
        .bind(retire_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        commit_with(tx, event).await
    }
}
