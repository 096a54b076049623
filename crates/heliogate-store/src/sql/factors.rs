//! Second factors: authenticator apps, recovery codes, pending sign-ins, roles that require one.

use async_trait::async_trait;
use heliogate_core::{RoleName, SecretHash, UnixTime};

use super::audit::{commit_if_changed, commit_with};
use super::roles::apply_role_mfa;
use super::{Engine, SqlStore};
use crate::error::db_err;
use crate::error::unique;
use crate::{AuditEvent, FactorStore, Result, StoreError, StoredPasskey, TotpFactor};

#[async_trait]
impl FactorStore for SqlStore {
    async fn totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>> {
        let row: Option<(Vec<u8>, bool, i64, i64)> = sqlx::query_as(
            "SELECT secret, confirmed, last_step, created_at FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(
            row.map(|(secret, confirmed, last_step, created_at)| TotpFactor {
                secret,
                confirmed,
                last_step,
                created_at,
            }),
        )
    }

    async fn begin_totp(&self, user_id: &str, secret: &[u8], now: UnixTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, confirmed, last_step, created_at) \
             VALUES ($1, $2, FALSE, 0, $3) ON CONFLICT (user_id) DO UPDATE \
             SET secret = excluded.secret, created_at = excluded.created_at \
             WHERE totp_factors.confirmed = FALSE",
        )
        .bind(user_id)
        .bind(secret.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "an authenticator app is set up already: remove it first".into(),
            ));
        }
        tx.commit().await.map_err(db_err)
    }

    async fn confirm_totp(&self, user_id: &str, step: i64, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE totp_factors SET confirmed = TRUE, last_step = $2 \
             WHERE user_id = $1 AND confirmed = FALSE",
        )
        .bind(user_id)
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        commit_if_changed(tx, done.rows_affected() > 0, event).await
    }

    async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE totp_factors SET last_step = $2 \
             WHERE user_id = $1 AND confirmed = TRUE AND last_step < $2",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[SecretHash],
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hash.as_bytes().to_vec())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        commit_with(tx, event).await
    }

    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &SecretHash,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(hash.as_bytes().to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        commit_if_changed(tx, done.rows_affected() > 0, event).await
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<u32> {
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    async fn reset_factors(&self, user_id: &str, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let mut removed = 0;
        for table in ["totp_factors", "recovery_codes", "passkeys"] {
            removed += sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        if removed == 0 {
            return Ok(false);
        }
        commit_with(tx, event).await?;
        Ok(true)
    }

    async fn mfa_required(&self, user_id: &str) -> Result<bool> {
        let required: Option<String> = sqlx::query_scalar(
            "SELECT r.name FROM user_roles ur JOIN roles r ON r.name = ur.role \
             WHERE ur.user_id = $1 AND r.mfa_required = TRUE LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(required.is_some())
    }

    async fn set_role_mfa(
        &self,
        role: &RoleName,
        required: bool,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        apply_role_mfa(&mut tx, role, required, event).await?;
        commit_with(tx, event).await
    }

    async fn create_mfa_pending(
        &self,
        id_hash: &SecretHash,
        user_id: &str,
        amr: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mfa_pending (id_hash, user_id, created_at, expires_at, amr) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash.as_bytes().to_vec())
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(amr)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn mfa_pending(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<(String, String)>> {
        sqlx::query_as(
            "SELECT user_id, amr FROM mfa_pending WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash.as_bytes().to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn delete_mfa_pending(&self, id_hash: &SecretHash) -> Result<()> {
        sqlx::query("DELETE FROM mfa_pending WHERE id_hash = $1")
            .bind(id_hash.as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>> {
        let rows: Vec<PasskeyRow> = sqlx::query_as(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(StoredPasskey::from).collect())
    }

    async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let row: Option<PasskeyRow> = sqlx::query_as(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(StoredPasskey::from))
    }

    async fn add_passkey(&self, passkey: &StoredPasskey, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO passkeys (credential_id, user_id, name, passkey, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&passkey.credential_id)
        .bind(&passkey.user_id)
        .bind(&passkey.name)
        .bind(&passkey.passkey)
        .bind(passkey.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique("that passkey is registered already".into()))?;
        commit_with(tx, event).await
    }

    async fn passkey_used(&self, credential_id: &str, passkey: &str, now: UnixTime) -> Result<()> {
        sqlx::query("UPDATE passkeys SET passkey = $2, last_used_at = $3 WHERE credential_id = $1")
            .bind(credential_id)
            .bind(passkey)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2")
            .bind(user_id)
            .bind(credential_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        commit_if_changed(tx, done.rows_affected() > 0, event).await
    }

    async fn put_challenge(
        &self,
        id_hash: &SecretHash,
        user_id: Option<&str>,
        state: &str,
        expires_at: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO webauthn_challenges (id_hash, user_id, state, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash.as_bytes().to_vec())
        .bind(user_id)
        .bind(state)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_challenge(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<(Option<String>, String)>> {
        let taken: Option<(Option<String>, String, i64)> = sqlx::query_as(
            "DELETE FROM webauthn_challenges WHERE id_hash = $1 RETURNING user_id, state, expires_at",
        )
        .bind(id_hash.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(taken
            .filter(|(_, _, expires_at)| *expires_at > now)
            .map(|(user_id, state, _)| (user_id, state)))
    }
}

const PASSKEY_COLUMNS: &str = "credential_id, user_id, name, passkey, created_at, last_used_at";

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    credential_id: String,
    user_id: String,
    name: String,
    passkey: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PasskeyRow> for StoredPasskey {
    fn from(row: PasskeyRow) -> Self {
        Self {
            credential_id: row.credential_id,
            user_id: row.user_id,
            name: row.name,
            passkey: row.passkey,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}
