//! Users: create, show, change roles and passwords, disable, delete.

use crate::App;
use heliogate_core::{check_new_password, Email, RoleName, UserName};
use heliogate_store::{AuditEvent, NewUser, Role, Store, User, UserChangeSet};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{user_name, Changed};
use crate::scopes::held_scopes;
use crate::{invalid, new_secret, new_user_id, now, password_hashing, Actor, AppError, Result};

/// A user as shown to administrators.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
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

/// What `add_user` takes (also the API's request body).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUser {
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")] // NAME_PATTERN
    pub name: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Under the password rules; stored only as its Argon2id hash.
    #[schema(min_length = 10)]
    pub password: String,
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

pub(crate) async fn view_user(store: &dyn Store, user: User) -> Result<UserView> {
    Ok(view_with(&store.list_roles().await?, user))
}

/// Many users' views, with the roles read once.
async fn view_users(store: &dyn Store, users: Vec<User>) -> Result<Vec<UserView>> {
    let roles = store.list_roles().await?;
    Ok(users.into_iter().map(|u| view_with(&roles, u)).collect())
}

fn view_with(roles: &[Role], user: User) -> UserView {
    let scopes = held_scopes(roles, &user).to_vec();
    UserView {
        id: user.id,
        name: user.name,
        email: user.email,
        roles: user.roles,
        scopes,
        disabled: user.disabled,
        created_at: user.created_at,
        updated_at: user.updated_at,
    }
}

/// The user with this name; a name that cannot be valid is no user's.
pub(crate) async fn find_user(store: &dyn Store, name: &str) -> Result<User> {
    let not_found = || AppError::NotFound(format!("no user named {name:?}"));
    let name = UserName::parse(name).map_err(|_| not_found())?;
    store.user_by_name(&name).await?.ok_or_else(not_found)
}

pub async fn add_user(store: &dyn Store, actor: &Actor, input: AddUser) -> Result<UserView> {
    create_user(store, actor, input, false).await
}

/// A new user whose password is made here and shown this once (given to them by whoever
/// creates the account): their first sign-in asks them to choose their own.
pub async fn add_user_with_one_time_password(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    email: Option<String>,
    roles: Vec<String>,
) -> Result<(UserView, String)> {
    let password = new_secret();
    let input = AddUser {
        name: name.to_owned(),
        roles,
        email,
        password: password.clone(),
    };
    Ok((create_user(store, actor, input, true).await?, password))
}

async fn create_user(
    store: &dyn Store,
    actor: &Actor,
    input: AddUser,
    one_time_password: bool,
) -> Result<UserView> {
    let name = user_name(&input.name)?;
    let roles = parse_roles(&input.roles)?;
    let email = input
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(invalid)?;
    check_new_password(&input.password).map_err(invalid)?;
    let password_hash = password_hashing::hash_async(input.password).await?;
    let new = NewUser {
        id: new_user_id(),
        name,
        email,
        password_hash,
        roles,
        must_change_password: one_time_password,
        now: now(),
    };
    let roles: Vec<&str> = new.roles.iter().map(RoleName::as_str).collect();
    let created = actor.event(
        "user.created",
        new.name.as_str(),
        serde_json::json!({ "roles": roles }),
    );
    let user = store.create_user(&new, &created).await?;
    view_user(store, user).await
}

pub async fn list_users(store: &dyn Store) -> Result<Vec<UserView>> {
    view_users(store, store.list_users().await?).await
}

/// Which users to list: by name, those whose names start with `prefix`, after `cursor`.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub prefix: Option<String>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// 1 to 1000 (default 50).
    pub limit: Option<u32>,
}

/// Users by name, and the cursor of the next page while there is one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserPage {
    pub users: Vec<UserView>,
    pub next_cursor: Option<String>,
}

/// A page of users.
pub async fn page_users(store: &dyn Store, query: UserQuery) -> Result<UserPage> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::Invalid("the limit is 1 to 1000 users".into()));
    }
    // A cursor is the last name of a page; a prefix is the start of one.
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            user_name(c).map_err(|_| AppError::Invalid("the cursor is not one a page gave".into()))
        })
        .transpose()?;
    let prefix = query.prefix.filter(|p| !p.is_empty());
    if prefix
        .as_ref()
        .is_some_and(|p| p.len() > 64 || p.chars().any(char::is_control))
    {
        return Err(AppError::Invalid(
            "the prefix is at most 64 printable characters".into(),
        ));
    }
    let mut users = store
        .users_page(
            prefix.as_deref(),
            after.as_ref().map(UserName::as_str),
            limit + 1,
        )
        .await?;
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let next_cursor = more.then(|| users.last().map(|u| u.name.clone())).flatten();
    Ok(UserPage {
        users: view_users(store, users).await?,
        next_cursor,
    })
}

pub async fn show_user(store: &dyn Store, name: &str) -> Result<UserView> {
    let user = find_user(store, name).await?;
    view_user(store, user).await
}

/// Whether a user still signs in with a password hash carried over from the original design
/// (replaced by Argon2id at their next successful sign-in).
pub async fn has_legacy_password(store: &dyn Store, name: &str) -> Result<bool> {
    let name = user_name(name)?;
    Ok(store
        .credentials(&name)
        .await?
        .is_some_and(|c| heliogate_core::legacy::is_legacy_hash(&c.password_hash)))
}

pub async fn set_user_roles(
    app: &App,
    actor: &Actor,
    name: &str,
    roles: &[String],
) -> Result<UserView> {
    let store = app.store();
    let _changed = app.on_change();
    let name = user_name(name)?;
    let roles = parse_roles(roles)?;
    let changed = roles_event(actor, &name, &roles);
    store
        .set_user_roles(&name, &roles, app.now(), &changed)
        .await?;
    show_user(store, name.as_str()).await
}

pub async fn set_password(app: &App, actor: &Actor, name: &str, password: String) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let name = user_name(name)?;
    check_new_password(&password).map_err(invalid)?;
    find_user(store, name.as_str()).await?;
    let hash = password_hashing::hash_async(password).await?;
    let changed = actor.event(
        "user.password_changed",
        name.as_str(),
        serde_json::json!({}),
    );
    Ok(store
        .set_password_hash(&name, &hash, app.now(), None, &changed)
        .await?)
}

pub async fn set_disabled(app: &App, actor: &Actor, name: &str, disabled: bool) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let name = user_name(name)?;
    let changed = disabled_event(actor, &name, disabled);
    Ok(store
        .set_disabled(&name, disabled, app.now(), &changed)
        .await?)
}

/// Sets or clears (`None`) a user's email address.
pub async fn set_email(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    email: Option<&str>,
) -> Result<()> {
    let name = user_name(name)?;
    let email = email.map(Email::parse).transpose().map_err(invalid)?;
    let changed = email_event(actor, &name, email.as_ref());
    Ok(store
        .set_email(&name, email.as_ref(), now(), &changed)
        .await?)
}

fn roles_event(actor: &Actor, name: &UserName, roles: &[RoleName]) -> AuditEvent {
    let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
    actor.event(
        "user.roles_changed",
        name.as_str(),
        serde_json::json!({ "roles": names }),
    )
}

fn disabled_event(actor: &Actor, name: &UserName, disabled: bool) -> AuditEvent {
    let event = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    actor.event(event, name.as_str(), serde_json::json!({}))
}

fn email_event(actor: &Actor, name: &UserName, email: Option<&Email>) -> AuditEvent {
    actor.event(
        "user.email_changed",
        name.as_str(),
        serde_json::json!({ "email": email.map(Email::as_str) }),
    )
}

/// A change to a user (also the API's request body): each field given is replaced
/// (`email: null` clears the address).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    pub roles: Option<Vec<String>>,
    /// A disabled user cannot sign in; their sessions and tokens end.
    pub disabled: Option<bool>,
}

/// A field that is present, as `Some` of its value (`null` included), apart from an absent one.
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Changes a user's email, roles and status at once, if the user is still as `read` shows:
/// one transaction, one check of the last administrator, each change audited as alone.
pub async fn change_user(
    app: &App,
    actor: &Actor,
    read: &UserView,
    change: UserChange,
) -> Result<Changed<UserView>> {
    let store = app.store();
    let _changed = app.on_change();
    let name = user_name(&read.name)?;
    let email = change
        .email
        .map(|e| e.as_deref().map(Email::parse).transpose().map_err(invalid))
        .transpose()?;
    let roles = change.roles.as_deref().map(parse_roles).transpose()?;
    let mut events = Vec::new();
    if let Some(email) = &email {
        events.push(email_event(actor, &name, email.as_ref()));
    }
    if let Some(roles) = &roles {
        events.push(roles_event(actor, &name, roles));
    }
    if let Some(disabled) = change.disabled {
        events.push(disabled_event(actor, &name, disabled));
    }
    let set = UserChangeSet {
        email,
        roles,
        disabled: change.disabled,
    };
    if !store
        .change_user(&name, &set, read.updated_at, app.now(), &events)
        .await?
    {
        return Ok(Changed::Stale);
    }
    Ok(Changed::Done(Box::new(
        show_user(store, name.as_str()).await?,
    )))
}

pub async fn delete_user(app: &App, actor: &Actor, name: &str) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let name = user_name(name)?;
    let deleted = actor.event("user.deleted", name.as_str(), serde_json::json!({}));
    Ok(store.delete_user(&name, &deleted).await?)
}
