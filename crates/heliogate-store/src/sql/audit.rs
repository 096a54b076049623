//! The audit log.

use async_trait::async_trait;

use sqlx::{Executor, Transaction};

use super::{Db, SqlStore};
use crate::error::db_err;
use crate::rows::{AuditRow, AUDIT_COLUMNS};
use crate::{AuditEvent, AuditStore, Result};

/// Writes an audit record: alone, or in the transaction of the change it records.
pub(super) async fn insert_event<'e>(
    executor: impl Executor<'e, Database = Db>,
    event: &AuditEvent,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, event, actor, subject, client_addr, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.at)
    .bind(&event.event)
    .bind(&event.actor)
    .bind(&event.subject)
    .bind(&event.client_addr)
    .bind(event.detail.to_string())
    .execute(executor)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Records the event of a change in the change's transaction, and commits both.
pub(super) async fn commit_with(mut tx: Transaction<'_, Db>, event: &AuditEvent) -> Result<()> {
    insert_event(&mut *tx, event).await?;
    tx.commit().await.map_err(db_err)
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        insert_event(&self.pool, event).await
    }

    async fn recent_events(&self, limit: u32) -> Result<Vec<AuditEvent>> {
        let rows: Vec<AuditRow> =
            sqlx::query_as(&format!("SELECT {AUDIT_COLUMNS} ORDER BY id DESC LIMIT $1"))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }
}
