//! The audit log.

use async_trait::async_trait;

use sqlx::{Executor, QueryBuilder, Transaction};

use super::PURGE_CHUNK;
use super::{Db, SqlStore};
use crate::error::db_err;
use crate::rows::{AuditRow, AUDIT_COLUMNS};
use crate::{AuditEvent, AuditFilter, AuditRecord, AuditStore, Result};
use heliogate_core::UnixTime;

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
    .bind(event.detail_text())
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

/// Commits a change with its audit record if it changed anything (`changed`), else drops it;
/// tells which.
pub(super) async fn commit_if_changed(
    tx: Transaction<'_, Db>,
    changed: bool,
    event: &AuditEvent,
) -> Result<bool> {
    if changed {
        commit_with(tx, event).await?;
    }
    Ok(changed)
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        insert_event(&self.pool, event).await
    }

    async fn purge_audit(&self, before: UnixTime) -> Result<u64> {
        // Oldest first, by id (the order of writing), a chunk per short transaction: the log
        // has no index on time, and a purge must not hold the write lock for long. It stops
        // at the first chunk with nothing old in it; the few records written out of time
        // order around a chunk's edge wait for the next purge.
        let mut count = 0;
        let mut after = 0i64;
        loop {
            let chunk: Vec<(i64, i64)> = sqlx::query_as(&format!(
                "SELECT id, at FROM audit_log WHERE id > $1 ORDER BY id LIMIT {PURGE_CHUNK}"
            ))
            .bind(after)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            if !chunk.iter().any(|(_, at)| *at < before) {
                break;
            }
            let done = sqlx::query("DELETE FROM audit_log WHERE id > $1 AND id <= $2 AND at < $3")
                .bind(after)
                .bind(last)
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
            count += done.rows_affected();
            after = last;
        }
        Ok(count)
    }

    async fn recent_events(&self, limit: u32) -> Result<Vec<AuditEvent>> {
        let filter = AuditFilter {
            limit,
            ..AuditFilter::default()
        };
        let records = self.audit_records(&filter).await?;
        Ok(records.into_iter().map(|r| r.event).collect())
    }

    async fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {AUDIT_COLUMNS} WHERE 1 = 1"));
        for party in &filter.parties {
            query
                .push(" AND (actor = ")
                .push_bind(party.as_str())
                .push(" OR subject = ")
                .push_bind(party.as_str())
                .push(")");
        }
        if let Some(event) = &filter.event {
            query.push(" AND event = ").push_bind(event.as_str());
        }
        if let Some(prefix) = &filter.event_prefix {
            // A prefix match without LIKE's wildcards: the first characters, compared.
            query
                .push(" AND substr(event, 1, ")
                .push_bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
                .push(") = ")
                .push_bind(prefix.as_str());
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(since);
        }
        if let Some(before) = filter.before {
            query.push(" AND id < ").push_bind(before);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows: Vec<AuditRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }
}
