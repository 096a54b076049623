//! Rows as both engines return them, and their conversion to the store's records.

use heliogate_core::{
    ClientId, ClientKind, GrantType, LogoutUri, RedirectUri, RoleName, Scope, ScopeSet, SecretHash,
};

use heliogate_core::oauth::resource;

use crate::{split, Client, Result, StoreError, User};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn with_roles(self, roles: Vec<String>) -> User {
        User {
            id: self.id,
            name: self.name,
            email: self.email,
            disabled: self.disabled,
            must_change_password: self.must_change_password,
            roles,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A user's row beside one of its roles: a user read with its roles (`USER_WITH_ROLES`) is a
/// row for each role, or one row without a role.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRoleRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub role: Option<String>,
}

/// The user of `rows` (all of one user, as `USER_WITH_ROLES` reads them) with its roles, beside
/// what else the first row holds (the same in every row: the columns read with the user).
pub(crate) fn with_user<T>(rows: impl IntoIterator<Item = (T, UserRoleRow)>) -> Option<(T, User)> {
    let mut rows = rows.into_iter();
    let (first, row) = rows.next()?;
    let roles = row.role.into_iter().chain(rows.filter_map(|(_, r)| r.role));
    Some((first, row.user.with_roles(roles.collect())))
}

/// Attaches `(user_id, role)` pairs, sorted by user id, to their users.
pub(crate) fn attach_roles(users: Vec<UserRow>, links: Vec<(String, String)>) -> Vec<User> {
    users
        .into_iter()
        .map(|u| {
            let roles = links
                .iter()
                .filter(|(id, _)| *id == u.id)
                .map(|(_, r)| r.clone())
                .collect();
            u.with_roles(roles)
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    pub client_id: String,
    pub secret_hash: Option<Vec<u8>>,
    pub name: String,
    pub owner: Option<String>,
    pub owner_id: Option<String>,
    pub public: bool,
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub introspect: bool,
    pub trusted: bool,
    pub pkce_optional: bool,
    pub post_logout_redirect_uris: String,
    pub signing_alg: String,
    pub access_token_format: String,
    pub resources: String,
    pub require_par: bool,
    pub require_dpop: bool,
    pub backchannel_logout_uri: Option<String>,
    pub disabled: bool,
    pub managed_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    /// Every value was checked when the client was written; one that no longer parses is a
    /// damaged row, reported rather than silently dropped.
    fn try_from(row: ClientRow) -> Result<Self> {
        let damaged = |what: &str| {
            StoreError::internal(format!("client {:?} has a malformed {what}", row.client_id))
        };
        let secret_hash = match &row.secret_hash {
            Some(bytes) => {
                Some(SecretHash::from_slice(bytes).ok_or_else(|| damaged("secret hash"))?)
            }
            None => None,
        };
        let uris = |column: &str| {
            split(column)
                .iter()
                .map(|u| RedirectUri::parse(u))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| damaged("redirect URI"))
        };
        let redirect_uris = uris(&row.redirect_uris)?;
        let post_logout_redirect_uris = uris(&row.post_logout_redirect_uris)?;
        let resources = resource::split(&row.resources).ok_or_else(|| damaged("resource"))?;
        let grant_types = split(&row.grant_types)
            .iter()
            .map(|g| g.parse::<GrantType>())
            .collect::<Result<_, _>>()
            .map_err(|_| damaged("grant type"))?;
        let scopes = ScopeSet::parse(&row.scopes).map_err(|_| damaged("scope"))?;
        let client_id = ClientId::parse(&row.client_id).map_err(|_| damaged("client id"))?;
        Ok(Client {
            client_id,
            secret_hash,
            name: row.name,
            owner: row.owner,
            owner_id: row.owner_id,
            kind: if row.public {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            },
            redirect_uris,
            grant_types,
            scopes,
            introspect: row.introspect,
            trusted: row.trusted,
            pkce_optional: row.pkce_optional,
            post_logout_redirect_uris,
            signing_alg: row
                .signing_alg
                .parse()
                .map_err(|_| damaged("signing algorithm"))?,
            access_token_format: row
                .access_token_format
                .parse()
                .map_err(|_| damaged("access token format"))?,
            resources,
            require_par: row.require_par,
            require_dpop: row.require_dpop,
            backchannel_logout_uri: row
                .backchannel_logout_uri
                .map(LogoutUri::try_from)
                .transpose()
                .map_err(|_| damaged("back-channel logout URI"))?,
            disabled: row.disabled,
            managed_by: row.managed_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_addr: Option<String>,
    pub detail: String,
}

impl From<AuditRow> for crate::AuditRecord {
    fn from(row: AuditRow) -> Self {
        crate::AuditRecord {
            id: row.id,
            event: crate::AuditEvent {
                at: row.at,
                event: row.event,
                actor: row.actor,
                subject: row.subject,
                client_addr: row.client_addr,
                detail: serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null),
            },
        }
    }
}

/// The columns `ClientRow` reads, with the owner's name joined in, of every client but the
/// built-in one that personal access tokens are issued to (`PERSONAL_TOKENS_CLIENT`): no
/// listing shows it and no lookup finds it. Queries add their conditions with `AND`.
pub(crate) const CLIENT_COLUMNS: &str = "c.client_id, c.secret_hash, c.name, u.name AS owner, c.owner_id, \
     c.public, c.redirect_uris, c.grant_types, c.scopes, c.introspect, c.trusted, c.pkce_optional, c.post_logout_redirect_uris, c.signing_alg, c.access_token_format, c.resources, c.require_par, c.require_dpop, c.backchannel_logout_uri, c.disabled, c.managed_by, c.created_at, c.updated_at \
     FROM clients c LEFT JOIN users u ON u.id = c.owner_id \
     WHERE c.client_id <> 'heliogate-personal-tokens'";

pub(crate) const USER_COLUMNS: &str =
    "id, name, email, disabled, must_change_password, created_at, updated_at FROM users";

/// A user's columns beside one of its roles, named by table (`UserRoleRow`), read from `users`
/// joined with `HELD_ROLES`.
macro_rules! user_role_columns {
    () => {
        "users.id, users.name, users.email, users.disabled, users.must_change_password, \
         users.created_at, users.updated_at, held.role"
    };
}

/// The join that gives `users` its roles as `held.role` (a row for each, or one without).
macro_rules! held_roles {
    () => {
        "LEFT JOIN (SELECT user_id AS holder, role FROM user_roles) AS held \
         ON held.holder = users.id"
    };
}

pub(crate) const USER_ROLE_COLUMNS: &str = user_role_columns!();
pub(crate) const HELD_ROLES: &str = held_roles!();

/// The join that gives each of `held`'s roles its scopes, read as the column `held_scope` (a
/// row for each, or one without); `with_scopes` folds the rows.
pub(crate) const HELD_SCOPES: &str = "LEFT JOIN role_scopes ON role_scopes.role = held.role";
pub(crate) const HELD_SCOPE_COLUMN: &str = "role_scopes.scope AS held_scope";

/// A user's columns and its roles in one read, a row for each role (`UserRoleRow`); the caller
/// adds its `WHERE` on `users`, and its `ORDER BY role`. The columns are named by table and the
/// roles' table shows only `role`, so that another table may join the read.
pub(crate) const USER_WITH_ROLES: &str =
    concat!(user_role_columns!(), " FROM users ", held_roles!());

/// The user of `rows` — all of one user, as `USER_WITH_ROLES` with `HELD_SCOPES` reads them: a
/// row for each scope of each role (one without a scope for a role that holds none, or a user
/// without roles), in order of role — with the scopes their roles hold.
pub(crate) fn with_scopes(
    rows: impl IntoIterator<Item = (UserRoleRow, Option<String>)>,
) -> Result<Option<(User, ScopeSet)>> {
    let mut roles: Vec<UserRoleRow> = Vec::new();
    let mut scopes = Vec::new();
    for (row, scope) in rows {
        scopes.extend(scope);
        if roles.last().is_none_or(|last| last.role != row.role) {
            roles.push(row);
        }
    }
    let held = stored_scopes(scopes)?;
    Ok(with_user(roles.into_iter().map(|r| ((), r))).map(|((), user)| (user, held)))
}

pub(crate) const AUDIT_COLUMNS: &str =
    "id, at, event, actor, subject, client_addr, detail FROM audit_log";

/// Scopes as stored, one a row or space-separated: each was checked when it was written.
pub(crate) fn stored_scopes(scopes: impl IntoIterator<Item = String>) -> Result<ScopeSet> {
    scopes
        .into_iter()
        .flat_map(|s| split(&s))
        .map(|s| {
            Scope::parse(&s)
                .map_err(|_| StoreError::internal(format!("a stored scope is malformed: {s:?}")))
        })
        .collect()
}

/// A role name as stored.
pub(crate) fn stored_role(name: &str) -> Result<RoleName> {
    RoleName::parse(name)
        .map_err(|_| StoreError::internal(format!("a stored role name is malformed: {name:?}")))
}
