//! Roles: named sets of scopes.

use async_trait::async_trait;
use heliogate_core::{RoleName, Scope, ScopeSet, UnixTime};
use sqlx::Transaction;

use super::audit::commit_with;
use super::authority::{cause_of, end_credentials, held_scopes, holders_of, Holder};
use super::{admin_count, keeping_an_admin, keeping_an_admin_with, Db, Engine, SqlStore};
use crate::error::{db_err, unique};
use crate::rows::{stored_role, stored_scopes};
use crate::{AuditEvent, Result, Role, RoleStore, StoreError};
use heliogate_core::authority::Change;

impl SqlStore {
    /// The roles (every one, or the one named `name`) with their scopes, in one read: a row for
    /// each of a role's scopes, or one row for a role without any.
    async fn roles_where(&self, name: Option<&str>) -> Result<Vec<Role>> {
        let filter = if name.is_some() {
            "WHERE name = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT name, mfa_required, managed_by, scope FROM roles \
             LEFT JOIN role_scopes ON role_scopes.role = roles.name {filter} ORDER BY name, scope"
        );
        let mut query = sqlx::query_as(&sql);
        if let Some(name) = name {
            query = query.bind(name);
        }
        let rows: Vec<(String, bool, Option<String>, Option<String>)> =
            query.fetch_all(&self.pool).await.map_err(db_err)?;
        let mut roles = Vec::new();
        let mut rows = rows.into_iter().peekable();
        while let Some((name, mfa_required, managed_by, scope)) = rows.next() {
            let mut scopes: Vec<String> = scope.into_iter().collect();
            while let Some((_, _, _, scope)) = rows.next_if(|next| next.0 == name) {
                scopes.extend(scope);
            }
            roles.push(Role {
                name: stored_role(&name)?,
                scopes: stored_scopes(scopes)?,
                mfa_required,
                managed_by,
            });
        }
        Ok(roles)
    }

    async fn role(&self, name: &str) -> Result<Role> {
        self.roles_where(Some(name))
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("no role named {name:?}")))
    }
}

#[async_trait]
impl RoleStore for SqlStore {
    async fn list_roles(&self) -> Result<Vec<Role>> {
        self.roles_where(None).await
    }

    async fn create_role(
        &self,
        name: &RoleName,
        scopes: &[Scope],
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<Role> {
        let mut tx = self.begin_admin().await?;
        insert_role(&mut tx, name, scopes, now).await?;
        commit_with(tx, event).await?;
        self.role(name.as_str()).await
    }

    async fn set_role_scopes(
        &self,
        name: &RoleName,
        scopes: &[Scope],
        event: &AuditEvent,
    ) -> Result<Role> {
        let mut tx = self.begin_admin().await?;
        role_exists(&mut tx, name).await?;
        let before = admin_count(&mut tx).await?;
        replace_role_scopes(&mut tx, name, scopes, event).await?;
        keeping_an_admin(tx, before, event).await?;
        self.role(name.as_str()).await
    }

    async fn change_role(
        &self,
        name: &RoleName,
        read: &Role,
        scopes: Option<&[Scope]>,
        mfa_required: Option<bool>,
        events: &[AuditEvent],
    ) -> Result<bool> {
        // Under the admin lock: what is there is compared with what was read, then changed,
        // with nothing between.
        let mut tx = self.begin_admin().await?;
        role_exists(&mut tx, name).await?;
        let held: Vec<String> =
            sqlx::query_scalar("SELECT scope FROM role_scopes WHERE role = $1 ORDER BY scope")
                .bind(name.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        let required: bool = sqlx::query_scalar("SELECT mfa_required FROM roles WHERE name = $1")
            .bind(name.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if stored_scopes(held)? != read.scopes || required != read.mfa_required {
            return Ok(false);
        }
        let before = admin_count(&mut tx).await?;
        if let Some(scopes) = scopes {
            replace_role_scopes(&mut tx, name, scopes, cause_of(events)?).await?;
        }
        if let Some(required) = mfa_required {
            apply_role_mfa(&mut tx, name, required, cause_of(events)?).await?;
        }
        keeping_an_admin_with(tx, before, events).await?;
        Ok(true)
    }

    async fn delete_role(&self, name: &RoleName, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        remove_role(&mut tx, name).await?;
        commit_with(tx, event).await
    }

    async fn role_scopes(&self) -> Result<ScopeSet> {
        let scopes: Vec<String> = sqlx::query_scalar("SELECT DISTINCT scope FROM role_scopes")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        stored_scopes(scopes)
    }

    async fn scope_descriptions(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT scope, description FROM scope_descriptions ORDER BY scope")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn set_scope_description(
        &self,
        scope: &Scope,
        description: Option<&str>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        describe_scope(&mut tx, scope, description, now).await?;
        commit_with(tx, event).await
    }
}

/// Creates a role holding `scopes`; a taken name is a `Conflict`.
pub(super) async fn insert_role(
    tx: &mut Transaction<'_, Db>,
    name: &RoleName,
    scopes: &[Scope],
    now: UnixTime,
) -> Result<()> {
    sqlx::query("INSERT INTO roles (name, created_at) VALUES ($1, $2)")
        .bind(name.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(unique(format!(
            "a role named {:?} already exists",
            name.as_str()
        )))?;
    insert_role_scopes(tx, name, scopes).await
}

/// Deletes a role nobody holds.
pub(super) async fn remove_role(tx: &mut Transaction<'_, Db>, name: &RoleName) -> Result<()> {
    role_exists(tx, name).await?;
    let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_roles WHERE role = $1")
        .bind(name.as_str())
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    if holders > 0 {
        return Err(StoreError::Conflict(format!(
            "role {:?} is held by {holders} user(s); take it from them first",
            name.as_str()
        )));
    }
    sqlx::query("DELETE FROM roles WHERE name = $1")
        .bind(name.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Sets (or, with `None`, removes) what a scope is said to allow.
pub(super) async fn describe_scope(
    tx: &mut Transaction<'_, Db>,
    scope: &Scope,
    description: Option<&str>,
    now: UnixTime,
) -> Result<()> {
    match description {
        Some(text) => sqlx::query(
            "INSERT INTO scope_descriptions (scope, description, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (scope) DO UPDATE \
             SET description = excluded.description, updated_at = excluded.updated_at",
        )
        .bind(scope.as_str())
        .bind(text)
        .bind(now),
        None => sqlx::query("DELETE FROM scope_descriptions WHERE scope = $1").bind(scope.as_str()),
    }
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(super) async fn role_exists(tx: &mut Transaction<'_, Db>, name: &RoleName) -> Result<()> {
    let found: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("no role named {:?}", name.as_str())))
}

/// Replaces a role's scopes; what its holders no longer hold through any role ends.
pub(super) async fn replace_role_scopes(
    tx: &mut Transaction<'_, Db>,
    name: &RoleName,
    scopes: &[Scope],
    cause: &AuditEvent,
) -> Result<()> {
    let holders = holders_of(tx, name.as_str()).await?;
    let mut before = Vec::with_capacity(holders.len());
    for (id, _) in &holders {
        before.push(held_scopes(tx, id).await?);
    }
    sqlx::query("DELETE FROM role_scopes WHERE role = $1")
        .bind(name.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    insert_role_scopes(tx, name, scopes).await?;
    for ((id, holder_name), before) in holders.iter().zip(before) {
        let after = held_scopes(tx, id).await?;
        let holder = Holder::User {
            id,
            name: holder_name,
            keep: None,
        };
        end_credentials(tx, holder, &Change::scopes(&before, &after), cause).await?;
    }
    Ok(())
}

/// Requires a second factor of a role's users, or not; `NotFound` when there is no such role.
/// When it starts to, what its holders opened with a password alone ends.
pub(super) async fn apply_role_mfa(
    tx: &mut Transaction<'_, Db>,
    name: &RoleName,
    required: bool,
    cause: &AuditEvent,
) -> Result<()> {
    let was: Option<bool> = sqlx::query_scalar("SELECT mfa_required FROM roles WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    if required && was == Some(false) {
        for (id, holder_name) in holders_of(tx, name.as_str()).await? {
            let holder = Holder::User {
                id: &id,
                name: &holder_name,
                keep: None,
            };
            end_credentials(tx, holder, &Change::SecondFactorRequired, cause).await?;
        }
    }
    let done = sqlx::query("UPDATE roles SET mfa_required = $2 WHERE name = $1")
        .bind(name.as_str())
        .bind(required)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "no role named {:?}",
            name.as_str()
        )));
    }
    Ok(())
}

async fn insert_role_scopes(
    tx: &mut Transaction<'_, Db>,
    name: &RoleName,
    scopes: &[Scope],
) -> Result<()> {
    for scope in scopes {
        sqlx::query("INSERT INTO role_scopes (role, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name.as_str())
            .bind(scope.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}
