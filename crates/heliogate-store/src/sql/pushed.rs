//! Pushed authorization requests (RFC 9126).

use async_trait::async_trait;
use heliogate_core::{ClientId, SecretHash, UnixTime};

use super::SqlStore;
use crate::error::db_err;
use crate::{PushedRequest, PushedRequestStore, Result};

#[async_trait]
impl PushedRequestStore for SqlStore {
    async fn push_request(
        &self,
        request_hash: &SecretHash,
        client_id: &ClientId,
        params: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO pushed_requests (request_hash, client_id, params, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(request_hash.as_bytes().to_vec())
        .bind(client_id.as_str())
        .bind(params)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn pushed_request(
        &self,
        request_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<PushedRequest>> {
        sqlx::query_as(
            "SELECT client_id, params, created_at, expires_at, stale_sid FROM pushed_requests \
             WHERE request_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(request_hash.as_bytes().to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn mark_pushed_sign_in_stale(&self, request_hash: &SecretHash, sid: &str) -> Result<()> {
        sqlx::query("UPDATE pushed_requests SET stale_sid = $2 WHERE request_hash = $1")
            .bind(request_hash.as_bytes().to_vec())
            .bind(sid)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn use_pushed_request(&self, request_hash: &SecretHash, now: UnixTime) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE pushed_requests SET used_at = $2 \
             WHERE request_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(request_hash.as_bytes().to_vec())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }
}
