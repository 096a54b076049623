//! The audit log.

use async_trait::async_trait;

use super::SqlStore;
use crate::error::db_err;
use crate::rows::{AuditRow, AUDIT_COLUMNS};
use crate::{AuditEvent, AuditStore, Result};

#[async_trait]
impl AuditStore for SqlStore {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, event, actor, subject, client_addr, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.at)
        .bind(&event.event)
        .bind(&event.actor)
        .bind(&event.subject)
        .bind(&event.client_addr)
        .bind(event.detail.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
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
