//! Users, their credentials and their roles.

use async_trait::async_trait;
use heliogate_core::{Email, RoleName, ScopeSet, SecretHash, UnixTime, UserName};
use sqlx::{QueryBuilder, Transaction};

use super::audit::{commit_if_changed, commit_with};
use super::authority::{cause_of, end_credentials, held_scopes, second_factor_required, Holder};
use super::{admin_count, keeping_an_admin, keeping_an_admin_with, user_id, Db, Engine, SqlStore};
use crate::error::{db_err, unique};
use crate::rows::{
    attach_roles, with_scopes, with_user, UserRoleRow, UserRow, HELD_SCOPES, HELD_SCOPE_COLUMN,
    USER_COLUMNS, USER_WITH_ROLES,
};
use crate::{
    email_str, AuditEvent, Credentials, NewUser, Result, StoreError, User, UserChangeSet, UserStore,
};
use heliogate_core::authority::Change;

impl SqlStore {
    /// Every user's roles, as `(user_id, role)` sorted by user.
    async fn all_user_roles(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT user_id, role FROM user_roles ORDER BY user_id, role")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    /// The user whose `column` is `value`, with its roles, in one read.
    pub(super) async fn user_where(&self, column: &str, value: &str) -> Result<Option<User>> {
        let rows: Vec<UserRoleRow> = sqlx::query_as(&format!(
            "SELECT {USER_WITH_ROLES} WHERE users.{column} = $1 ORDER BY role"
        ))
        .bind(value)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(with_user(rows.into_iter().map(|r| ((), r))).map(|((), user)| user))
    }
}

async fn insert_user_roles(
    tx: &mut Transaction<'_, Db>,
    id: &str,
    roles: &[RoleName],
) -> Result<()> {
    for role in roles {
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = $1")
            .bind(role.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "no role named {:?}",
                role.as_str()
            )));
        }
        sqlx::query(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(role.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

pub(super) async fn insert_user(tx: &mut Transaction<'_, Db>, user: &NewUser) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, name, email, password_hash, disabled, must_change_password, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, FALSE, $6, $5, $5)",
    )
    .bind(&user.id)
    .bind(user.name.as_str())
    .bind(email_str(&user.email))
    .bind(&user.password_hash)
    .bind(user.now)
    .bind(user.must_change_password)
    .execute(&mut **tx)
    .await
    .map_err(unique(format!(
        "a user named {:?} already exists",
        user.name.as_str()
    )))?;
    insert_user_roles(tx, &user.id, &user.roles).await
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: &NewUser, event: &AuditEvent) -> Result<User> {
        let mut tx = self.begin_admin().await?;
        insert_user(&mut tx, user).await?;
        commit_with(tx, event).await?;
        self.user_where("id", &user.id)
            .await?
            .ok_or_else(|| StoreError::NotFound("the new user vanished".into()))
    }

    async fn user_by_name(&self, name: &UserName) -> Result<Option<User>> {
        self.user_where("name", name.as_str()).await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        self.user_where("id", id).await
    }

    async fn user_with_scopes(&self, id: &str) -> Result<Option<(User, ScopeSet)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRoleRow,
            held_scope: Option<String>,
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {HELD_SCOPE_COLUMN}, {USER_WITH_ROLES} {HELD_SCOPES} \
             WHERE users.id = $1 ORDER BY held.role, held_scope"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        with_scopes(rows.into_iter().map(|r| (r.user, r.held_scope)))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let users: Vec<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(attach_roles(users, self.all_user_roles().await?))
    }

    async fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<User>> {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {USER_COLUMNS} WHERE 1 = 1"));
        if let Some(prefix) = prefix {
            query
                .push(" AND substr(name, 1, ")
                .push_bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
                .push(") = ")
                .push_bind(prefix);
        }
        if let Some(after) = after {
            query.push(" AND name > ").push_bind(after);
        }
        query
            .push(" ORDER BY name LIMIT ")
            .push_bind(i64::from(limit));
        let users: Vec<UserRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut roles =
            QueryBuilder::<Db>::new("SELECT user_id, role FROM user_roles WHERE user_id IN (");
        let mut ids = roles.separated(", ");
        for user in &users {
            ids.push_bind(user.id.as_str());
        }
        roles.push(") ORDER BY user_id, role");
        let links: Vec<(String, String)> = roles
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(attach_roles(users, links))
    }

    async fn credentials(&self, name: &UserName) -> Result<Option<Credentials>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            password_hash: String,
            #[sqlx(flatten)]
            user: UserRoleRow,
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT password_hash, {USER_WITH_ROLES} WHERE users.name = $1 ORDER BY role"
        ))
        .bind(name.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let read = with_user(rows.into_iter().map(|r| (r.password_hash, r.user)));
        Ok(read.map(|(password_hash, user)| Credentials {
            user,
            password_hash,
        }))
    }

    async fn set_user_roles(
        &self,
        name: &UserName,
        roles: &[RoleName],
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        let before = admin_count(&mut tx).await?;
        apply_roles(&mut tx, (&id, name), roles, event).await?;
        touch(&mut tx, &id, now).await?;
        keeping_an_admin(tx, before, event).await
    }

    async fn set_password_hash(
        &self,
        name: &UserName,
        hash: &str,
        now: UnixTime,
        keep: Option<&SecretHash>,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3, must_change_password = FALSE \
             WHERE id = $1",
        )
        .bind(&id)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let holder = Holder::User {
            id: &id,
            name: name.as_str(),
            keep,
        };
        end_credentials(&mut tx, holder, &Change::NewPassword, event).await?;
        commit_with(tx, event).await
    }

    async fn upgrade_password_hash(
        &self,
        user_id: &str,
        legacy: &str,
        hash: &str,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
                .bind(user_id)
                .bind(legacy)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        commit_if_changed(tx, done.rows_affected() > 0, event).await
    }

    async fn set_disabled(
        &self,
        name: &UserName,
        disabled: bool,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        let before = admin_count(&mut tx).await?;
        apply_disabled(&mut tx, (&id, name), disabled, event).await?;
        touch(&mut tx, &id, now).await?;
        keeping_an_admin(tx, before, event).await
    }

    async fn set_email(
        &self,
        name: &UserName,
        email: Option<&Email>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        apply_email(&mut tx, &id, email).await?;
        touch(&mut tx, &id, now).await?;
        commit_with(tx, event).await
    }

    async fn change_user(
        &self,
        name: &UserName,
        change: &UserChangeSet,
        read_at: UnixTime,
        now: UnixTime,
        events: &[AuditEvent],
    ) -> Result<bool> {
        // Under the admin lock, so that no other change comes between the check and the write.
        let mut tx = self.begin_admin().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        let current: i64 = sqlx::query_scalar("SELECT updated_at FROM users WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if current != read_at {
            return Ok(false);
        }
        let before = admin_count(&mut tx).await?;
        if let Some(email) = &change.email {
            apply_email(&mut tx, &id, email.as_ref()).await?;
        }
        if let Some(roles) = &change.roles {
            apply_roles(&mut tx, (&id, name), roles, cause_of(events)?).await?;
        }
        if let Some(disabled) = change.disabled {
            apply_disabled(&mut tx, (&id, name), disabled, cause_of(events)?).await?;
        }
        touch(&mut tx, &id, now).await?;
        keeping_an_admin_with(tx, before, events).await?;
        Ok(true)
    }

    async fn delete_user(&self, name: &UserName, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let id = user_id(&mut tx, name.as_str()).await?;
        let before = admin_count(&mut tx).await?;
        let holder = Holder::User {
            id: &id,
            name: name.as_str(),
            keep: None,
        };
        // Their applications go with them; their tokens and sessions go with the row.
        end_credentials(&mut tx, holder, &Change::Deleted, event).await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        keeping_an_admin(tx, before, event).await
    }
}

/// Moves a user's `updated_at` on to `now`, or by a second when a change came within it, so
/// that whoever read the user before any change sees it changed: once per change, after the
/// `apply_…` that make it.
pub(super) async fn touch(tx: &mut Transaction<'_, Db>, id: &str, now: UnixTime) -> Result<()> {
    sqlx::query(
        "UPDATE users SET updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn apply_email(tx: &mut Transaction<'_, Db>, id: &str, email: Option<&Email>) -> Result<()> {
    sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
        .bind(id)
        .bind(email.map(Email::as_str))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Disables a user (ending their sessions and tokens, and what their applications hold) or
/// enables them.
async fn apply_disabled(
    tx: &mut Transaction<'_, Db>,
    (id, name): (&str, &UserName),
    disabled: bool,
    cause: &AuditEvent,
) -> Result<()> {
    sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
        .bind(id)
        .bind(disabled)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    if disabled {
        let holder = Holder::User {
            id,
            name: name.as_str(),
            keep: None,
        };
        end_credentials(tx, holder, &Change::Disabled, cause).await?;
    }
    Ok(())
}

/// Replaces a user's roles; what they no longer give ends (`authority`).
pub(super) async fn apply_roles(
    tx: &mut Transaction<'_, Db>,
    (id, name): (&str, &UserName),
    roles: &[RoleName],
    cause: &AuditEvent,
) -> Result<()> {
    let before = held_scopes(tx, id).await?;
    let required_before = second_factor_required(tx, id).await?;
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    insert_user_roles(tx, id, roles).await?;
    let after = held_scopes(tx, id).await?;
    let holder = Holder::User {
        id,
        name: name.as_str(),
        keep: None,
    };
    end_credentials(tx, holder, &Change::scopes(&before, &after), cause).await?;
    // A role that requires a second factor, newly held: what a password alone opened ends.
    if !required_before && second_factor_required(tx, id).await? {
        end_credentials(tx, holder, &Change::SecondFactorRequired, cause).await?;
    }
    Ok(())
}
