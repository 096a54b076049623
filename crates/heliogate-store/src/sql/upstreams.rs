//! Upstream identity providers and the identities linked through them.

use async_trait::async_trait;
use sqlx::Transaction;

use super::audit::commit_with;
use super::users::{apply_roles, insert_user, touch};
use super::{admin_count, keeping_an_admin, user_id, Db, Engine, SqlStore};
use crate::error::{db_err, unique};
use crate::{
    AuditEvent, NewUser, Result, StoreError, Upstream, UpstreamIdentity, UpstreamSignIn,
    UpstreamStore, User,
};

const UPSTREAM_COLUMNS: &str = "name, preset, issuer, client_id, client_secret, scopes, \
    display_name, provision, default_roles, role_claim, role_map, trust_mfa, managed_by, created_at";

const IDENTITY_COLUMNS: &str =
    "issuer, subject, upstream, user_id, email, mapped_roles, created_at, last_used_at";

async fn insert_identity(tx: &mut Transaction<'_, Db>, identity: &UpstreamIdentity) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO upstream_identities ({IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(&identity.upstream)
    .bind(&identity.user_id)
    .bind(&identity.email)
    .bind(&identity.mapped_roles)
    .bind(identity.created_at)
    .bind(identity.last_used_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::NotFound("no such upstream or user".into())
        }
        _ => unique("this identity is linked to a user already".into())(e),
    })?;
    Ok(())
}

/// Inserts an upstream; `on_conflict` is empty (a taken name is a `Conflict`) or replaces.
async fn insert_upstream(
    tx: &mut Transaction<'_, Db>,
    upstream: &Upstream,
    on_conflict: &str,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO upstreams ({UPSTREAM_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14){on_conflict}"
    ))
    .bind(&upstream.name)
    .bind(&upstream.preset)
    .bind(&upstream.issuer)
    .bind(&upstream.client_id)
    .bind(&upstream.client_secret)
    .bind(&upstream.scopes)
    .bind(&upstream.display_name)
    .bind(&upstream.provision)
    .bind(&upstream.default_roles)
    .bind(&upstream.role_claim)
    .bind(&upstream.role_map)
    .bind(upstream.trust_mfa)
    .bind(&upstream.managed_by)
    .bind(upstream.created_at)
    .execute(&mut **tx)
    .await
    .map_err(unique(format!(
        "an upstream named {:?} already exists",
        upstream.name
    )))?;
    Ok(())
}

/// Creates an upstream, or replaces every setting of the one of its name (a settings file's).
pub(super) async fn put_upstream(tx: &mut Transaction<'_, Db>, upstream: &Upstream) -> Result<()> {
    let replace = " ON CONFLICT (name) DO UPDATE SET preset = excluded.preset, \
        issuer = excluded.issuer, client_id = excluded.client_id, \
        client_secret = excluded.client_secret, scopes = excluded.scopes, \
        display_name = excluded.display_name, provision = excluded.provision, \
        default_roles = excluded.default_roles, role_claim = excluded.role_claim, \
        role_map = excluded.role_map, trust_mfa = excluded.trust_mfa, \
        managed_by = excluded.managed_by";
    insert_upstream(tx, upstream, replace).await
}

#[async_trait]
impl UpstreamStore for SqlStore {
    async fn create_upstream(&self, upstream: &Upstream, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        insert_upstream(&mut tx, upstream, "").await?;
        commit_with(tx, event).await
    }

    async fn upstream(&self, name: &str) -> Result<Option<Upstream>> {
        sqlx::query_as(&format!(
            "SELECT {UPSTREAM_COLUMNS} FROM upstreams WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn list_upstreams(&self) -> Result<Vec<Upstream>> {
        sqlx::query_as(&format!(
            "SELECT {UPSTREAM_COLUMNS} FROM upstreams ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn delete_upstream(&self, name: &str, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let done = sqlx::query("DELETE FROM upstreams WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no upstream named {name:?}")));
        }
        commit_with(tx, event).await
    }

    async fn upstream_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UpstreamIdentity>> {
        sqlx::query_as(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM upstream_identities WHERE issuer = $1 AND subject = $2"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn user_identities(&self, user_id: &str) -> Result<Vec<UpstreamIdentity>> {
        sqlx::query_as(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM upstream_identities WHERE user_id = $1 \
             ORDER BY created_at, upstream, subject"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn link_identity(&self, identity: &UpstreamIdentity, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        insert_identity(&mut tx, identity).await?;
        commit_with(tx, event).await
    }

    async fn provision_user(
        &self,
        user: &NewUser,
        identity: &UpstreamIdentity,
        event: &AuditEvent,
    ) -> Result<User> {
        let mut tx = self.begin_admin().await?;
        insert_user(&mut tx, user).await?;
        insert_identity(&mut tx, identity).await?;
        commit_with(tx, event).await?;
        self.user_where("id", &user.id)
            .await?
            .ok_or_else(|| StoreError::NotFound("the new user vanished".into()))
    }

    async fn unlink_identity(
        &self,
        user_id: &str,
        issuer: &str,
        subject: &str,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_admin().await?;
        let done = sqlx::query(
            "DELETE FROM upstream_identities WHERE user_id = $1 AND issuer = $2 AND subject = $3",
        )
        .bind(user_id)
        .bind(issuer)
        .bind(subject)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        commit_with(tx, event).await?;
        Ok(true)
    }

    async fn upstream_signed_in(
        &self,
        sign_in: &UpstreamSignIn<'_>,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        sqlx::query(
            "UPDATE upstream_identities SET email = $3, mapped_roles = $4, last_used_at = $5 \
             WHERE issuer = $1 AND subject = $2",
        )
        .bind(sign_in.issuer)
        .bind(sign_in.subject)
        .bind(sign_in.email)
        .bind(sign_in.mapped_roles)
        .bind(sign_in.now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((name, roles)) = sign_in.roles else {
            tx.commit().await.map_err(db_err)?;
            return Ok(());
        };
        let id = user_id(&mut tx, name.as_str()).await?;
        let before = admin_count(&mut tx).await?;
        apply_roles(&mut tx, (&id, name), roles, event).await?;
        touch(&mut tx, &id, sign_in.now).await?;
        keeping_an_admin(tx, before, event).await
    }

    async fn users_with_email(&self, email: &str) -> Result<Vec<User>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1) ORDER BY name")
                .bind(email)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(user) = self.user_where("id", &id).await? {
                users.push(user);
            }
        }
        Ok(users)
    }
}
