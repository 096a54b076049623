//! Signing keys.

use async_trait::async_trait;
use heliogate_core::UnixTime;

use super::audit::commit_with;
use super::{Engine, SqlStore};
use crate::error::db_err;
use crate::{AuditEvent, KeyStore, Result, SigningKey};

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
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if added.rows_affected() == 0 {
            tx.commit().await.map_err(db_err)?;
            return Ok(false);
        }
        commit_with(tx, event).await?;
        Ok(true)
    }
}
