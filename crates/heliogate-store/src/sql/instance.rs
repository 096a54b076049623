//! The store as a whole: migrations, liveness, the first administrator, instance facts.

use async_trait::async_trait;

use super::audit::commit_with;
use super::users::insert_user;
use super::{Engine, SqlStore, MIGRATOR};
use crate::error::db_err;
use crate::{AuditEvent, NewUser, Result, Store, StoreError, StoreStats};

#[async_trait]
impl Store for SqlStore {
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

    async fn schema_version(&self) -> Result<(i64, i64)> {
        let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        // A database never migrated has no table of migrations yet.
        let applied: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
                .fetch_one(&self.pool)
                .await
                .unwrap_or(0);
        Ok((applied, known))
    }

    async fn database_time(&self) -> Result<heliogate_core::UnixTime> {
        sqlx::query_scalar(&format!("SELECT {}", SqlStore::NOW))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    fn stats(&self) -> StoreStats {
        let (batch_buckets, batches, batched_issuances) = self.batch_sizes.snapshot();
        StoreStats {
            pool_open: self.pool.size(),
            pool_idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            pool_max: self.pool.options().get_max_connections(),
            queue_depth: (self.issuer.max_capacity() - self.issuer.capacity()) as u64,
            queue_capacity: self.issuer.max_capacity() as u64,
            batch_buckets,
            batches,
            batched_issuances,
        }
    }

    async fn bootstrap_admin(&self, admin: &NewUser, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.begin_admin().await?;
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
        commit_with(tx, event).await?;
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

    async fn instance_value_or(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO instance (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        self.instance_value(key)
            .await?
            .ok_or_else(|| StoreError::internal(format!("instance value {key} vanished")))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
