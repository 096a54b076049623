//! Back-channel logouts waiting for delivery (`LogoutStore`). The store's triggers queue them
//! (migration 0025); this file hands them out under a lease and records how each attempt went.

use async_trait::async_trait;
use heliogate_core::UnixTime;

use super::audit::commit_with;
use super::{Engine, SqlStore};
use crate::error::db_err;
use crate::{AuditEvent, LogoutDelivery, LogoutStore, Result};

#[async_trait]
impl LogoutStore for SqlStore {
    async fn claim_logouts(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> Result<Vec<LogoutDelivery>> {
        // The outer condition is checked again on each row as it is locked: of two nodes that
        // chose the same row, the second finds it leased and leaves it.
        sqlx::query_as(
            "UPDATE logout_deliveries SET lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM logout_deliveries \
                 WHERE next_attempt_at <= $1 AND lease_until <= $1 \
                 ORDER BY next_attempt_at, id LIMIT $3) \
             AND next_attempt_at <= $1 AND lease_until <= $1 \
             RETURNING id, client_id, sid, subject, jti, attempts, created_at",
        )
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn finish_logout(&self, id: i64, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM logout_deliveries WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        commit_with(tx, event).await
    }

    async fn retry_logout(
        &self,
        id: i64,
        next_attempt_at: UnixTime,
        error: &str,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE logout_deliveries SET next_attempt_at = $2, lease_until = 0, last_error = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        commit_with(tx, event).await
    }

    async fn pending_logouts(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM logout_deliveries")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
