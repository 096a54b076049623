//! Sign-in sessions.

use async_trait::async_trait;
use heliogate_core::{SecretHash, UnixTime};

use super::audit::{commit_if_changed, commit_with};
use super::{Engine, SqlStore};
use crate::error::db_err;
use crate::{AuditEvent, NewSession, Result, Session, SessionInfo, SessionStore};

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, session: &NewSession, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, \
             client_addr, user_agent, amr, sid) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)",
        )
        .bind(session.id_hash.as_bytes().to_vec())
        .bind(&session.user_id)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(&session.client_addr)
        .bind(&session.user_agent)
        .bind(&session.amr)
        .bind(session.id_hash.session_sid())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        commit_with(tx, event).await
    }

    async fn session(&self, id_hash: &SecretHash, now: UnixTime) -> Result<Option<Session>> {
        let row: Option<(String, String, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT s.user_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.amr FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE",
        )
        .bind(id_hash.as_bytes().to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some((user_id, csrf_token, created_at, last_seen_at, expires_at, amr)) = row else {
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
            amr,
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

    async fn delete_session(&self, id_hash: &SecretHash, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash.as_bytes().to_vec())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        commit_with(tx, event).await
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

    async fn user_sessions(&self, user_id: &str, now: UnixTime) -> Result<Vec<SessionInfo>> {
        type Row = (Vec<u8>, i64, i64, i64, Option<String>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id_hash, created_at, last_seen_at, expires_at, client_addr, user_agent \
             FROM sessions WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY last_seen_at DESC, created_at DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(
                |(hash, created_at, last_seen_at, expires_at, addr, agent)| {
                    Some(SessionInfo {
                        id_hash: SecretHash::from_slice(&hash)?,
                        created_at,
                        last_seen_at,
                        expires_at,
                        client_addr: addr,
                        user_agent: agent,
                    })
                },
            )
            .collect())
    }

    async fn end_session(
        &self,
        user_id: &str,
        id_hash: &SecretHash,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash = $2")
            .bind(user_id)
            .bind(id_hash.as_bytes().to_vec())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let ended = done.rows_affected() > 0;
        commit_if_changed(tx, ended, event).await?;
        Ok(ended)
    }
}
