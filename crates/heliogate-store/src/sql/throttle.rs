//! Failed sign-in counters.

use async_trait::async_trait;
use heliogate_core::UnixTime;

use super::SqlStore;
use crate::error::db_err;
use crate::{LoginThrottleStore, Result};

#[async_trait]
impl LoginThrottleStore for SqlStore {
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
