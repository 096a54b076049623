//! Administration: users, roles, clients and tokens, as the CLI and the administration API
//! offer them. Every change is checked, made in one store call, and audited.

use heliogate_core::scope::OIDC_SCOPES;
use heliogate_core::{
    check_new_password, ClientKind, ClientSpec, Email, GrantType, RedirectUri, RoleName, Scope,
    SecretHash, UserName, ADMIN_ROLE,
};
use heliogate_store::{Client, NewClient, NewUser, Role, Store, User};
use serde::Serialize;

use crate::{
    invalid, new_client_id, new_secret, new_user_id, now, passwords, Actor, AppError, Result,
};

/// A user as shown to administrators.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    /// The scopes the user's roles hold, sorted.
    pub scopes: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A client as shown to administrators: never its secret, nor the secret's hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub owner: Option<String>,
    /// `confidential` or `public`.
    pub client_type: &'static str,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        Self {
            client_id: c.client_id,
            name: c.name,
            owner: c.owner,
            client_type: if c.public { "public" } else { "confidential" },
            redirect_uris: c.redirect_uris,
            grant_types: c.grant_types,
            scopes: c.scopes,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A new client and, for a confidential one, its secret: shown this once, stored only hashed.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    #[serde(skip)]
    pub client: ClientView,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoleView {
    pub name: String,
    pub scopes: Vec<String>,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            name: r.name,
            scopes: r.scopes,
        }
    }
}

/// What `add_user` takes.
#[derive(Debug, Clone)]
pub struct AddUser {
    pub name: String,
    pub roles: Vec<String>,
    pub email: Option<String>,
    pub password: String,
}

/// What `add_client` takes, as typed by a user: every field is checked here.
#[derive(Debug, Clone, Default)]
pub struct AddClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub owner: Option<String>,
}

async fn audit(
    store: &dyn Store,
    actor: &Actor,
    event: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    crate::audit(
        store,
        event,
        &actor.name,
        Some(subject),
        actor.client_addr.as_deref(),
        detail,
    )
    .await?;
    Ok(())
}

fn parse_roles(roles: &[String]) -> Result<Vec<RoleName>> {
    if roles.is_empty() {
        return Err(AppError::Invalid("a user needs at least one role".into()));
    }
    roles
        .iter()
        .map(|r| RoleName::parse(r).map_err(invalid))
        .collect()
}

fn parse_scopes(scopes: &[String]) -> Result<Vec<Scope>> {
    scopes
        .iter()
        .map(|s| Scope::parse(s).map_err(invalid))
        .collect()
}

fn user_name(name: &str) -> Result<UserName> {
    UserName::parse(name).map_err(invalid)
}

/// The scopes a user's roles hold now, sorted, each once.
pub(crate) async fn scopes_of(store: &dyn Store, user: &User) -> Result<Vec<String>> {
    let roles = store.list_roles().await?;
    let mut scopes: Vec<String> = roles
        .into_iter()
        .filter(|r| user.roles.contains(&r.name))
        .flat_map(|r| r.scopes)
        .collect();
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

async fn view_user(store: &dyn Store, user: User) -> Result<UserView> {
    let scopes = scopes_of(store, &user).await?;
    Ok(UserView {
        id: user.id,
        name: user.name,
        email: user.email,
        roles: user.roles,
        scopes,
        disabled: user.disabled,
        created_at: user.created_at,
        updated_at: user.updated_at,
    })
}

async fn find_user(store: &dyn Store, name: &str) -> Result<User> {
    store
        .user_by_name(name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user named {name:?}")))
}

pub async fn add_user(store: &dyn Store, actor: &Actor, input: AddUser) -> Result<UserView> {
    let name = user_name(&input.name)?;
    let roles = parse_roles(&input.roles)?;
    let email = input
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(invalid)?;
    check_new_password(&input.password).map_err(invalid)?;
    let password_hash = passwords::hash_async(input.password).await?;
    let new = NewUser {
        id: new_user_id(),
        name,
        email,
        password_hash,
        roles,
        now: now(),
    };
    let user = store.create_user(&new).await?;
    audit(
        store,
        actor,
        "user.created",
        &user.name,
        serde_json::json!({ "roles": user.roles }),
    )
    .await?;
    view_user(store, user).await
}

pub async fn list_users(store: &dyn Store) -> Result<Vec<UserView>> {
    let mut views = Vec::new();
    for user in store.list_users().await? {
        views.push(view_user(store, user).await?);
    }
    Ok(views)
}

pub async fn show_user(store: &dyn Store, name: &str) -> Result<UserView> {
    let user = find_user(store, name).await?;
    view_user(store, user).await
}

pub async fn set_user_roles(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    roles: &[String],
) -> Result<UserView> {
    let name = user_name(name)?;
    let roles = parse_roles(roles)?;
    store.set_user_roles(&name, &roles, now()).await?;
    let roles: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
    audit(
        store,
        actor,
        "user.roles_changed",
        name.as_str(),
        serde_json::json!({ "roles": roles }),
    )
    .await?;
    show_user(store, name.as_str()).await
}

pub async fn set_password(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    password: String,
) -> Result<()> {
    let name = user_name(name)?;
    check_new_password(&password).map_err(invalid)?;
    find_user(store, name.as_str()).await?;
    let hash = passwords::hash_async(password).await?;
    store.set_password_hash(&name, &hash, now(), None).await?;
    audit(
        store,
        actor,
        "user.password_changed",
        name.as_str(),
        serde_json::json!({}),
    )
    .await
}

pub async fn set_disabled(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    disabled: bool,
) -> Result<()> {
    let name = user_name(name)?;
    store.set_disabled(&name, disabled, now()).await?;
    let event = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    audit(store, actor, event, name.as_str(), serde_json::json!({})).await
}

pub async fn delete_user(store: &dyn Store, actor: &Actor, name: &str) -> Result<()> {
    let name = user_name(name)?;
    store.delete_user(&name).await?;
    audit(
        store,
        actor,
        "user.deleted",
        name.as_str(),
        serde_json::json!({}),
    )
    .await
}

pub async fn list_roles(store: &dyn Store) -> Result<Vec<RoleView>> {
    Ok(store
        .list_roles()
        .await?
        .into_iter()
        .map(RoleView::from)
        .collect())
}

fn role_scopes_input(scopes: &[String]) -> Result<Vec<Scope>> {
    if scopes.is_empty() {
        return Err(AppError::Invalid("a role needs at least one scope".into()));
    }
    parse_scopes(scopes)
}

pub async fn add_role(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    scopes: &[String],
) -> Result<RoleView> {
    let name = RoleName::parse(name).map_err(invalid)?;
    let scopes = role_scopes_input(scopes)?;
    let role = store.create_role(&name, &scopes, now()).await?;
    audit(
        store,
        actor,
        "role.created",
        &role.name,
        serde_json::json!({ "scopes": role.scopes }),
    )
    .await?;
    Ok(role.into())
}

pub async fn set_role_scopes(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    scopes: &[String],
) -> Result<RoleView> {
    let name = RoleName::parse(name).map_err(invalid)?;
    let scopes = role_scopes_input(scopes)?;
    let role = store.set_role_scopes(&name, &scopes).await?;
    audit(
        store,
        actor,
        "role.scopes_changed",
        &role.name,
        serde_json::json!({ "scopes": role.scopes }),
    )
    .await?;
    Ok(role.into())
}

pub async fn delete_role(store: &dyn Store, actor: &Actor, name: &str) -> Result<()> {
    let name = RoleName::parse(name).map_err(invalid)?;
    store.delete_role(&name).await?;
    audit(
        store,
        actor,
        "role.deleted",
        name.as_str(),
        serde_json::json!({}),
    )
    .await
}

/// The scopes the server knows: those some role holds, and the OpenID Connect scopes.
pub async fn known_scopes(store: &dyn Store) -> Result<Vec<String>> {
    let mut scopes = store.role_scopes().await?;
    scopes.extend(OIDC_SCOPES.iter().map(|s| s.to_string()));
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

pub async fn add_client(
    store: &dyn Store,
    actor: &Actor,
    input: AddClient,
) -> Result<IssuedClient> {
    let redirect_uris = input
        .redirect_uris
        .iter()
        .map(|u| RedirectUri::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let grant_types = input
        .grant_types
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let scopes = parse_scopes(&input.scopes)?;
    let known = known_scopes(store).await?;
    if let Some(unknown) = scopes
        .iter()
        .find(|s| !known.iter().any(|k| k == s.as_str()))
    {
        return Err(AppError::Invalid(format!(
            "unknown scope {:?}: no role holds it (known: {})",
            unknown.as_str(),
            known.join(" ")
        )));
    }
    let kind = if input.public {
        ClientKind::Public
    } else {
        ClientKind::Confidential
    };
    let spec =
        ClientSpec::new(&input.name, kind, redirect_uris, grant_types, scopes).map_err(invalid)?;
    let owner = input.owner.as_deref().map(user_name).transpose()?;
    let secret = (kind == ClientKind::Confidential).then(new_secret);
    let new = NewClient {
        client_id: new_client_id(),
        secret_hash: secret.as_deref().map(SecretHash::of),
        spec,
        owner,
        now: now(),
    };
    let client = store.create_client(&new).await?;
    audit(
        store,
        actor,
        "client.created",
        &client.client_id,
        serde_json::json!({ "name": client.name, "grant_types": client.grant_types, "scopes": client.scopes }),
    )
    .await?;
    Ok(IssuedClient {
        client_id: client.client_id.clone(),
        client_secret: secret,
        client: client.into(),
    })
}

pub async fn list_clients(store: &dyn Store) -> Result<Vec<ClientView>> {
    Ok(store
        .list_clients()
        .await?
        .into_iter()
        .map(ClientView::from)
        .collect())
}

pub async fn show_client(store: &dyn Store, client_id: &str) -> Result<ClientView> {
    store
        .client(client_id)
        .await?
        .map(ClientView::from)
        .ok_or_else(|| AppError::NotFound(format!("no client with id {client_id:?}")))
}

pub async fn delete_client(store: &dyn Store, actor: &Actor, client_id: &str) -> Result<()> {
    store.delete_client(client_id).await?;
    audit(
        store,
        actor,
        "client.deleted",
        client_id,
        serde_json::json!({}),
    )
    .await
}

/// Gives a confidential client a new secret; the old one stops working at once.
pub async fn rotate_client_secret(
    store: &dyn Store,
    actor: &Actor,
    client_id: &str,
) -> Result<IssuedClient> {
    let client = show_client(store, client_id).await?;
    if client.client_type == "public" {
        return Err(AppError::Invalid(format!(
            "client {client_id:?} is public: it has no secret"
        )));
    }
    let secret = new_secret();
    store
        .set_client_secret(client_id, &SecretHash::of(&secret), now())
        .await?;
    audit(
        store,
        actor,
        "client.secret_rotated",
        client_id,
        serde_json::json!({}),
    )
    .await?;
    Ok(IssuedClient {
        client_id: client.client_id.clone(),
        client_secret: Some(secret),
        client,
    })
}

/// Revokes every live token acting for a user; returns how many.
pub async fn revoke_user_tokens(store: &dyn Store, actor: &Actor, name: &str) -> Result<u64> {
    let user = find_user(store, name).await?;
    let count = store.revoke_user_tokens(&user.id, now()).await?;
    audit(
        store,
        actor,
        "token.revoked",
        &user.name,
        serde_json::json!({ "user": user.name, "count": count }),
    )
    .await?;
    Ok(count)
}

/// Revokes every live token issued to a client; returns how many.
pub async fn revoke_client_tokens(
    store: &dyn Store,
    actor: &Actor,
    client_id: &str,
) -> Result<u64> {
    show_client(store, client_id).await?;
    let count = store.revoke_client_tokens(client_id, now()).await?;
    audit(
        store,
        actor,
        "token.revoked",
        client_id,
        serde_json::json!({ "client_id": client_id, "count": count }),
    )
    .await?;
    Ok(count)
}

pub async fn purge_expired(store: &dyn Store) -> Result<u64> {
    Ok(store.purge_expired(now()).await?)
}

/// On a first start with no users: creates `admin` with the `administrator` role and a random
/// password, and returns that password to be shown once. `None` on every later start.
pub async fn bootstrap_admin(store: &dyn Store) -> Result<Option<String>> {
    let password = new_secret();
    let new = NewUser {
        id: new_user_id(),
        name: user_name("admin")?,
        email: None,
        password_hash: passwords::hash_async(password.clone()).await?,
        roles: vec![RoleName::parse(ADMIN_ROLE).map_err(invalid)?],
        now: now(),
    };
    if !store.bootstrap_admin(&new).await? {
        return Ok(None);
    }
    audit(
        store,
        &Actor {
            name: "heliogate".into(),
            client_addr: None,
        },
        "user.created",
        "admin",
        serde_json::json!({ "roles": [ADMIN_ROLE], "bootstrap": true }),
    )
    .await?;
    Ok(Some(password))
}

/// Every node of a cluster must present the same issuer: it is the `iss` of every answer and
/// decides the cookies. The first start records it; a node configured otherwise refuses to
/// start, until `migrate` records a new one on purpose.
pub async fn check_issuer(store: &dyn Store, issuer: &str) -> Result<()> {
    match store.instance_value("issuer").await? {
        None => Ok(store.set_instance_value("issuer", issuer).await?),
        Some(recorded) if recorded == issuer => Ok(()),
        Some(recorded) => Err(AppError::Conflict(format!(
            "this database is served as issuer {recorded}, not {issuer}: every node must use the same issuer \
             (to change it on purpose, run `heliogate migrate --issuer {issuer}`)"
        ))),
    }
}

/// Records the issuer the database is served as (by `migrate`).
pub async fn record_issuer(store: &dyn Store, issuer: &str) -> Result<()> {
    Ok(store.set_instance_value("issuer", issuer).await?)
}
