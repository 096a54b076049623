//! OAuth 2 clients.

use async_trait::async_trait;
use heliogate_core::oauth::resource;
use heliogate_core::{ClientId, LogoutUri, SecretHash, UnixTime, UserName};

use super::audit::{commit_if_changed, commit_with};
use sqlx::{QueryBuilder, Transaction};

use super::authority::{end_credentials, Holder};
use super::{user_id, Db, Engine, SqlStore};
use crate::error::{db_err, unique};
use crate::rows::{stored_scopes, ClientRow, CLIENT_COLUMNS};
use crate::{
    join, AuditEvent, Client, ClientSettings, ClientStore, NewClient, Result, StoreError,
    PERSONAL_TOKENS_CLIENT,
};
use heliogate_core::authority::Change;

/// Inserts a client (its owner named by user name); a taken id is a `Conflict`.
pub(super) async fn insert_client(tx: &mut Transaction<'_, Db>, client: &NewClient) -> Result<()> {
    let owner_id = match &client.owner {
        Some(name) => Some(user_id(tx, name.as_str()).await?),
        None => None,
    };
    let sql = format!(
        "INSERT INTO clients (client_id, secret_hash, owner_id, public, created_at, updated_at, \
         {SETTINGS}) VALUES ($1, $2, $3, $4, $5, $5, {SETTINGS_VALUES})"
    );
    let query = sqlx::query(&sql)
        .bind(client.client_id.as_str())
        .bind(client.secret_hash.map(|h| h.as_bytes().to_vec()))
        .bind(owner_id)
        .bind(client.settings.spec.kind == heliogate_core::ClientKind::Public)
        .bind(client.now);
    bind_settings(query, &client.settings)
        .execute(&mut **tx)
        .await
        .map_err(unique(format!(
            "a client with id {:?} already exists",
            client.client_id.as_str()
        )))?;
    Ok(())
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, client: &NewClient, event: &AuditEvent) -> Result<Client> {
        let mut tx = self.begin_admin().await?;
        insert_client(&mut tx, client).await?;
        commit_with(tx, event).await?;
        self.client(&client.client_id)
            .await?
            .ok_or_else(|| StoreError::NotFound("the new client vanished".into()))
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        let row: Option<ClientRow> =
            sqlx::query_as(&format!("SELECT {CLIENT_COLUMNS} AND c.client_id = $1"))
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

    async fn clients_page(
        &self,
        owner: Option<&UserName>,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>> {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {CLIENT_COLUMNS}"));
        if let Some(owner) = owner {
            query.push(" AND u.name = ").push_bind(owner.as_str());
        }
        if let Some(after) = after {
            // A row-value comparison: by name, then id; a vanished cursor ends the listing.
            query
                .push(" AND (c.name, c.client_id) > (SELECT a.name, a.client_id FROM clients a WHERE a.client_id = ")
                .push_bind(after.as_str())
                .push(")");
        }
        query
            .push(" ORDER BY c.name, c.client_id LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<ClientRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn delete_client(&self, client_id: &ClientId, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        remove_client(&mut tx, client_id).await?;
        commit_with(tx, event).await
    }

    async fn enable_client(
        &self,
        client_id: &ClientId,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_admin().await?;
        let found: Option<bool> = sqlx::query_scalar(&format!(
            "SELECT c.disabled FROM clients c WHERE c.client_id = $1 \
             AND c.client_id <> '{PERSONAL_TOKENS_CLIENT}'"
        ))
        .bind(client_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(disabled) = found else {
            return Err(StoreError::NotFound(format!(
                "no client with id {:?}",
                client_id.as_str()
            )));
        };
        if disabled {
            sqlx::query(
                "UPDATE clients SET disabled = FALSE, updated_at = $2 WHERE client_id = $1",
            )
            .bind(client_id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        commit_if_changed(tx, disabled, event).await?;
        Ok(disabled)
    }

    async fn set_client_secret(
        &self,
        client_id: &ClientId,
        hash: &SecretHash,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        replace_client_secret(&mut tx, client_id, hash, now).await?;
        commit_with(tx, event).await
    }

    async fn update_client(
        &self,
        client_id: &ClientId,
        settings: &ClientSettings,
        read_at: UnixTime,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_admin().await?;
        let changed = change_client(&mut tx, client_id, settings, (read_at, now), event).await?;
        commit_if_changed(tx, changed, event).await
    }
}

/// Deletes a client with all it holds.
pub(super) async fn remove_client(
    tx: &mut Transaction<'_, Db>,
    client_id: &ClientId,
) -> Result<()> {
    let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
        .bind(client_id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "no client with id {:?}",
            client_id.as_str()
        )));
    }
    Ok(())
}

/// Gives a confidential client a new secret.
pub(super) async fn replace_client_secret(
    tx: &mut Transaction<'_, Db>,
    client_id: &ClientId,
    hash: &SecretHash,
    now: UnixTime,
) -> Result<()> {
    let done = sqlx::query(&format!(
        "UPDATE clients SET secret_hash = $2, updated_at = {NEXT_UPDATE} WHERE client_id = $1 AND public = FALSE"),
    )
    .bind(client_id.as_str())
    .bind(hash.as_bytes().to_vec())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "no confidential client with id {:?}",
            client_id.as_str()
        )));
    }
    Ok(())
}

/// Replaces a client's settings if it is as it was at `read_at`; what a narrowed client lost
/// ends with the change (`event` is its cause). `false`: it changed since.
pub(super) async fn change_client(
    tx: &mut Transaction<'_, Db>,
    client_id: &ClientId,
    settings: &ClientSettings,
    (read_at, now): (UnixTime, UnixTime),
    event: &AuditEvent,
) -> Result<bool> {
    let before: Option<String> =
        sqlx::query_scalar("SELECT scopes FROM clients WHERE client_id = $1 AND updated_at = $2")
            .bind(client_id.as_str())
            .bind(read_at)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
    let Some(before) = before else {
        return Ok(false);
    };
    let assignments = SETTINGS
        .split(", ")
        .enumerate()
        .map(|(i, column)| format!("{column} = ${}", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE clients SET {assignments}, updated_at = {NEXT_UPDATE} \
             WHERE client_id = $1 AND updated_at = $2"
    );
    let query = sqlx::query(&sql)
        .bind(client_id.as_str())
        .bind(read_at)
        .bind(now);
    let done = bind_settings(query, settings)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    // A narrowed client's tokens that carry what it lost end with the change.
    let after = settings.spec.scopes.iter().cloned().collect();
    let change = Change::scopes(&stored_scopes([before])?, &after);
    let holder = Holder::Client {
        id: client_id.as_str(),
    };
    end_credentials(tx, holder, &change, event).await?;
    Ok(done.rows_affected() > 0)
}

/// The columns of a client's settings, bound by `bind_settings` in this order.
const SETTINGS: &str = "name, redirect_uris, grant_types, scopes, introspect, trusted, \
    pkce_optional, post_logout_redirect_uris, signing_alg, access_token_format, resources, \
    require_par, require_dpop, backchannel_logout_uri";
/// Their places in an INSERT whose first five are the client's id, secret, owner, kind and time.
const SETTINGS_VALUES: &str = "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19";

/// Binds a client's settings, the columns of `SETTINGS` in order, after what is bound already.
fn bind_settings<'q>(
    query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    settings: &'q ClientSettings,
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    let spec = &settings.spec;
    query
        .bind(&spec.name)
        .bind(join(spec.redirect_uris.iter().map(|u| u.as_str())))
        .bind(join(spec.grant_types.iter().map(|g| g.as_str())))
        .bind(join(spec.scopes.iter().map(|s| s.as_str())))
        .bind(settings.introspect)
        .bind(settings.trusted)
        .bind(settings.pkce_optional)
        .bind(join(
            settings
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str()),
        ))
        .bind(settings.signing_alg.as_str())
        .bind(settings.access_token_format.as_str())
        .bind(resource::join(&settings.resources))
        .bind(settings.require_par)
        .bind(settings.require_dpop)
        .bind(
            settings
                .backchannel_logout_uri
                .as_ref()
                .map(LogoutUri::as_str),
        )
}

/// The `updated_at` of a change at `$3`: later than the one before, however close they come,
/// so that a change is always seen by whoever read the client before it.
const NEXT_UPDATE: &str = "CASE WHEN $3 > updated_at THEN $3 ELSE updated_at + 1 END";
