//! An import from another system: what is new is written, what exists stays, all in one
//! transaction.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::audit::commit_with;
use super::clients::insert_client;
use super::users::insert_user;
use super::{Db, Engine, SqlStore};
use crate::error::db_err;
use crate::{AuditEvent, ImportBatch, ImportCounts, ImportStore, Result};

/// Rows per `INSERT` (seven values each: well under either engine's limit on parameters).
const ROWS_PER_STATEMENT: usize = 500;

#[async_trait]
impl ImportStore for SqlStore {
    async fn import(
        &self,
        batch: &ImportBatch,
        event: &AuditEvent,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts> {
        let mut tx = self.begin_admin().await?;
        let mut counts = ImportCounts::default();
        // Rows gone through so far, told every `ROWS_PER_STATEMENT`.
        let mut done: u64 = 0;
        let mut step = |rows: usize| {
            let before = done / ROWS_PER_STATEMENT as u64;
            done += rows as u64;
            if done / ROWS_PER_STATEMENT as u64 != before {
                progress(done);
            }
        };
        for user in &batch.users {
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
                .bind(user.name.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if exists.is_none() {
                insert_user(&mut tx, user).await?;
                if batch.disabled_users.iter().any(|n| n == user.name.as_str()) {
                    sqlx::query("UPDATE users SET disabled = TRUE WHERE id = $1")
                        .bind(&user.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                counts.users += 1;
            }
            step(1);
        }
        for client in &batch.clients {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT client_id FROM clients WHERE client_id = $1")
                    .bind(client.client_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if exists.is_none() {
                insert_client(&mut tx, client).await?;
                if batch
                    .disabled_clients
                    .iter()
                    .any(|id| id == client.client_id.as_str())
                {
                    sqlx::query("UPDATE clients SET disabled = TRUE WHERE client_id = $1")
                        .bind(client.client_id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                counts.clients += 1;
            }
            step(1);
        }
        // Tokens in statements of many rows: a million one at a time would take minutes.
        for chunk in batch.refresh_tokens.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, \
                 created_at, expires_at) ",
            );
            query.push_values(chunk, |mut row, t| {
                row.push_bind(t.key.as_bytes().to_vec())
                    .push_bind(&t.family_id)
                    .push_bind(&t.client_id)
                    .push_bind(&t.user_id)
                    .push_bind(&t.scope)
                    .push_bind(t.created_at)
                    .push_bind(t.expires_at);
            });
            query.push(" ON CONFLICT (token_hash) DO NOTHING");
            let done = query.build().execute(&mut *tx).await.map_err(db_err)?;
            counts.refresh_tokens += done.rows_affected();
            step(chunk.len());
        }
        for chunk in batch.access_tokens.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO access_tokens (token_hash, client_id, user_id, scope, family_id, \
                 created_at, expires_at) ",
            );
            query.push_values(chunk, |mut row, t| {
                row.push_bind(t.key.as_bytes().to_vec())
                    .push_bind(&t.client_id)
                    .push_bind(&t.user_id)
                    .push_bind(&t.scope)
                    .push_bind(&t.family_id)
                    .push_bind(t.created_at)
                    .push_bind(t.expires_at);
            });
            query.push(" ON CONFLICT (token_hash) DO NOTHING");
            let done = query.build().execute(&mut *tx).await.map_err(db_err)?;
            counts.access_tokens += done.rows_affected();
            step(chunk.len());
        }
        let event = event
            .clone()
            .with("users", counts.users)
            .with("clients", counts.clients)
            .with("access_tokens", counts.access_tokens)
            .with("refresh_tokens", counts.refresh_tokens);
        progress(done);
        commit_with(tx, &event).await?;
        Ok(counts)
    }
}
