//! OAuth 2 clients.

use async_trait::async_trait;
use heliogate_core::oauth::resource;
use heliogate_core::{ClientId, SecretHash, UnixTime};

use super::audit::commit_with;
use super::{user_id, Engine, SqlStore};
use crate::error::{db_err, unique};
use crate::rows::{ClientRow, CLIENT_COLUMNS};
use crate::{join, AuditEvent, Client, ClientStore, NewClient, Result, StoreError};

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, client: &NewClient, event: &AuditEvent) -> Result<Client> {
        let mut tx = self.begin_admin().await?;
        let owner_id = match &client.owner {
            Some(name) => Some(user_id(&mut tx, name.as_str()).await?),
            None => None,
        };
        let spec = &client.spec;
        sqlx::query(
            "INSERT INTO clients (client_id, secret_hash, name, owner_id, public, redirect_uris, \
             grant_types, scopes, introspect, trusted, pkce_optional, post_logout_redirect_uris, signing_alg, access_token_format, resources, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $12, $13, $14, $15, $16, $9, $9)",
        )
        .bind(client.client_id.as_str())
        .bind(client.secret_hash.map(|h| h.as_bytes().to_vec()))
        .bind(&spec.name)
        .bind(owner_id)
        .bind(spec.kind == heliogate_core::ClientKind::Public)
        .bind(join(spec.redirect_uris.iter().map(|u| u.as_str())))
        .bind(join(spec.grant_types.iter().map(|g| g.as_str())))
        .bind(join(spec.scopes.iter().map(|s| s.as_str())))
        .bind(client.now)
        .bind(client.introspect)
        .bind(client.trusted)
        .bind(client.pkce_optional)
        .bind(join(client.post_logout_redirect_uris.iter().map(|u| u.as_str())))
        .bind(client.signing_alg.as_str())
        .bind(client.access_token_format.as_str())
        .bind(resource::join(&client.resources))
        .execute(&mut *tx)
        .await
        .map_err(unique(format!(
            "a client with id {:?} already exists",
            client.client_id.as_str()
        )))?;
        commit_with(tx, event).await?;
        self.client(&client.client_id)
            .await?
            .ok_or_else(|| StoreError::NotFound("the new client vanished".into()))
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        let row: Option<ClientRow> =
            sqlx::query_as(&format!("SELECT {CLIENT_COLUMNS} WHERE c.client_id = $1"))
                .bind(client_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        row.map(Client::try_from).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>> {
        let rows: Vec<ClientRow> = sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} ORDER BY c.name, c.client_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn delete_client(&self, client_id: &ClientId, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no client with id {:?}",
                client_id.as_str()
            )));
        }
        commit_with(tx, event).await
    }

    async fn set_client_secret(
        &self,
        client_id: &ClientId,
        hash: &SecretHash,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let done = sqlx::query(
            "UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE client_id = $1 AND public = FALSE",
        )
        .bind(client_id.as_str())
        .bind(hash.as_bytes().to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no confidential client with id {:?}",
                client_id.as_str()
            )));
        }
        commit_with(tx, event).await
    }
}
