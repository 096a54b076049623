//! Failed sign-in counters.

use async_trait::async_trait;
use heliogate_core::{Attempt, AttemptCounter, ThrottlePolicy, UnixTime};

use super::{Engine, SqlStore};
use crate::error::db_err;
use crate::{LoginThrottleStore, Result};

#[async_trait]
impl LoginThrottleStore for SqlStore {
    async fn reserve_login_attempt(
        &self,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
        threshold: i64,
    ) -> Result<Attempt> {
        // Read, decide and write in one transaction that holds the row: no other attempt on
        // this key, on this node or any other, comes in between.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO login_failures (key, failures, last_failure, locked_until) \
             VALUES ($1, 0, 0, 0) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let (failures, last_failure, locked_until): (i64, i64, i64) = sqlx::query_as(&format!(
            "SELECT failures, last_failure, locked_until FROM login_failures WHERE key = $1{}",
            SqlStore::ROW_LOCK
        ))
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let stored = AttemptCounter {
            failures,
            last_failure,
            locked_until,
        };
        let attempt = policy.count_attempt(stored, now, threshold);
        if let Attempt::Counted { counter, .. } = &attempt {
            sqlx::query(
                "UPDATE login_failures SET failures = $2, last_failure = $3, locked_until = $4 \
                 WHERE key = $1",
            )
            .bind(key)
            .bind(counter.failures)
            .bind(counter.last_failure)
            .bind(counter.locked_until)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(attempt)
    }

    async fn release_login_attempt(&self, key: &str, held: bool) -> Result<()> {
        sqlx::query(
            "UPDATE login_failures SET failures = failures - 1, \
             locked_until = CASE WHEN $2 THEN 0 ELSE locked_until END \
             WHERE key = $1 AND failures > 0",
        )
        .bind(key)
        .bind(held)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn purge_login_counters(&self, idle_before: UnixTime, now: UnixTime) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM login_failures WHERE last_failure < $1 AND locked_until <= $2",
        )
        .bind(idle_before)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
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
