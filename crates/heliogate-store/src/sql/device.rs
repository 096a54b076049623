//! Device authorizations (RFC 8628).

use async_trait::async_trait;
use heliogate_core::{ScopeSet, SecretHash, UnixTime};
use sqlx::{Database, FromRow, Row};

use super::audit::insert_event;
use super::{Db, Engine, SqlStore};
use crate::error::db_err;
use crate::rows::{
    with_scopes, UserRoleRow, HELD_ROLES, HELD_SCOPES, HELD_SCOPE_COLUMN, USER_ROLE_COLUMNS,
};
use crate::{
    AuditEvent, DeviceAuthorization, DeviceDecision, DeviceStore, NewDeviceAuthorization, Result,
    StoreError, User,
};

/// What `DeviceAuthorization` reads, and where from.
const COLUMNS: &str = "d.client_id, c.name AS client_name, d.scope, d.resources, d.status, \
     d.user_id, d.auth_time, d.sid, d.amr, d.poll_interval, d.last_poll, d.family_id, d.expires_at";
const FROM: &str = "FROM device_authorizations d JOIN clients c ON c.client_id = d.client_id";

/// A device authorization beside its user, one of the user's roles and one scope of it: a
/// row for each scope of each role, or one row without a user.
struct PollRow {
    device: DeviceAuthorization,
    user: Option<(UserRoleRow, Option<String>)>,
}

impl<'r> FromRow<'r, <Db as Database>::Row> for PollRow {
    fn from_row(row: &'r <Db as Database>::Row) -> sqlx::Result<Self> {
        let device = DeviceAuthorization::from_row(row)?;
        // The user's columns are all NULL where no user approved it.
        let user = match row.try_get::<Option<String>, _>("id")? {
            Some(_) => Some((UserRoleRow::from_row(row)?, row.try_get("held_scope")?)),
            None => None,
        };
        Ok(Self { device, user })
    }
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn create_device_authorization(
        &self,
        new: &NewDeviceAuthorization,
        max_pending: u32,
    ) -> Result<bool> {
        // Counted and written in one write transaction: parallel requests of one client
        // cannot all pass the count.
        let mut tx = self.begin_write().await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM device_authorizations \
             WHERE client_id = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(&new.client_id)
        .bind(new.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if pending >= i64::from(max_pending) {
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO device_authorizations (device_code_hash, user_code_hash, client_id, \
             scope, resources, poll_interval, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(new.device_code_hash.as_bytes().to_vec())
        .bind(new.user_code_hash.as_bytes().to_vec())
        .bind(&new.client_id)
        .bind(&new.scope)
        .bind(&new.resources)
        .bind(new.interval)
        .bind(new.created_at)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict("the user code is taken".into()));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn pending_device_authorization(
        &self,
        user_code_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} {FROM} WHERE d.user_code_hash = $1 AND d.status = 'pending' AND d.expires_at > $2 \
             AND c.disabled = FALSE"
        ))
        .bind(user_code_hash.as_bytes().to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn decide_device_authorization(
        &self,
        user_code_hash: &SecretHash,
        decision: &DeviceDecision<'_>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = match decision {
            DeviceDecision::Approve {
                user_id,
                scope,
                auth_time,
                sid,
                amr,
            } => sqlx::query(
                "UPDATE device_authorizations SET status = 'approved', user_id = $3, scope = $4, \
                 auth_time = $5, sid = $6, amr = $7 \
                 WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2",
            )
            .bind(user_code_hash.as_bytes().to_vec())
            .bind(now)
            .bind(*user_id)
            .bind(scope.to_string())
            .bind(*auth_time)
            .bind(*sid)
            .bind(*amr),
            DeviceDecision::Deny => sqlx::query(
                "UPDATE device_authorizations SET status = 'denied' \
                 WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2",
            )
            .bind(user_code_hash.as_bytes().to_vec())
            .bind(now),
        }
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut *tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn device_authorization(
        &self,
        device_code_hash: &SecretHash,
    ) -> Result<Option<DeviceAuthorization>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} {FROM} WHERE d.device_code_hash = $1"
        ))
        .bind(device_code_hash.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn device_poll(
        &self,
        device_code_hash: &SecretHash,
    ) -> Result<Option<(DeviceAuthorization, Option<(User, ScopeSet)>)>> {
        let rows: Vec<PollRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS}, {USER_ROLE_COLUMNS}, {HELD_SCOPE_COLUMN} {FROM} \
             LEFT JOIN users ON users.id = d.user_id {HELD_ROLES} {HELD_SCOPES} \
             WHERE d.device_code_hash = $1 ORDER BY held.role, held_scope"
        ))
        .bind(device_code_hash.as_bytes().to_vec())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let user = first.user.map(|first| {
            with_scopes(std::iter::once(first).chain(rows.filter_map(|row| row.user)))
        });
        Ok(Some((first.device, user.transpose()?.flatten())))
    }

    async fn record_device_poll(
        &self,
        device_code_hash: &SecretHash,
        now: UnixTime,
        interval: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE device_authorizations SET last_poll = $2, poll_interval = $3 \
             WHERE device_code_hash = $1",
        )
        .bind(device_code_hash.as_bytes().to_vec())
        .bind(now)
        .bind(interval)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
