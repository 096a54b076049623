//! Roles: named sets of scopes.

use crate::App;
use heliogate_core::{RoleName, Scope, ScopeSet};
use heliogate_store::{Role, Store};
use serde::Serialize;
use utoipa::ToSchema;

use super::{parse_scopes, Changed};
use crate::{invalid, now, Actor, AppError, Result};

/// A role: a named set of scopes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub scopes: Vec<String>,
    /// Its users must sign in with a second factor.
    pub mfa_required: bool,
    /// The settings file that declares it (`heliogate apply`): a change made elsewhere is
    /// undone when the file is applied again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            name: r.name.as_str().to_owned(),
            scopes: r.scopes.to_vec(),
            mfa_required: r.mfa_required,
            managed_by: r.managed_by,
        }
    }
}

pub async fn list_roles(store: &dyn Store) -> Result<Vec<RoleView>> {
    Ok(store
        .list_roles()
        .await?
        .into_iter()
        .map(RoleView::from)
        .collect())
}

/// A role's scopes as its audit records show them: sorted, each once.
fn scopes_detail(scopes: &[Scope]) -> serde_json::Value {
    let set: ScopeSet = scopes.iter().cloned().collect();
    serde_json::json!({ "scopes": set.to_vec() })
}

fn role_scopes_input(scopes: &[String]) -> Result<Vec<Scope>> {
    if scopes.is_empty() {
        return Err(AppError::Invalid("a role needs at least one scope".into()));
    }
    parse_scopes(scopes)
}

/// The role with this name; a name that cannot be valid is no role's.
pub async fn show_role(store: &dyn Store, name: &str) -> Result<RoleView> {
    let not_found = || AppError::NotFound(format!("no role named {name:?}"));
    let name = RoleName::parse(name).map_err(|_| not_found())?;
    store
        .list_roles()
        .await?
        .into_iter()
        .find(|r| r.name == name)
        .map(RoleView::from)
        .ok_or_else(not_found)
}

pub async fn add_role(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    scopes: &[String],
) -> Result<RoleView> {
    let name = RoleName::parse(name).map_err(invalid)?;
    let scopes = role_scopes_input(scopes)?;
    let created = actor.event("role.created", name.as_str(), scopes_detail(&scopes));
    let role = store.create_role(&name, &scopes, now(), &created).await?;
    Ok(role.into())
}

pub async fn set_role_scopes(
    app: &App,
    actor: &Actor,
    name: &str,
    scopes: &[String],
) -> Result<RoleView> {
    let store = app.store();
    let _changed = app.on_change();
    let name = RoleName::parse(name).map_err(invalid)?;
    let scopes = role_scopes_input(scopes)?;
    let changed = actor.event("role.scopes_changed", name.as_str(), scopes_detail(&scopes));
    let role = store.set_role_scopes(&name, &scopes, &changed).await?;
    Ok(role.into())
}

/// Changes a role's scopes and whether it requires a second factor together, if it is still
/// as `read` shows it.
pub async fn change_role(
    app: &App,
    actor: &Actor,
    read: &RoleView,
    scopes: Option<&[String]>,
    mfa_required: Option<bool>,
) -> Result<Changed<RoleView>> {
    let store = app.store();
    let _changed = app.on_change();
    let name = RoleName::parse(&read.name).map_err(invalid)?;
    let scopes = scopes.map(role_scopes_input).transpose()?;
    let as_read = Role {
        name: name.clone(),
        scopes: parse_scopes(&read.scopes)?.into_iter().collect(),
        mfa_required: read.mfa_required,
        managed_by: read.managed_by.clone(),
    };
    let mut events = Vec::new();
    if let Some(scopes) = &scopes {
        events.push(actor.event("role.scopes_changed", name.as_str(), scopes_detail(scopes)));
    }
    if let Some(required) = mfa_required {
        events.push(actor.event(
            "role.mfa_changed",
            name.as_str(),
            serde_json::json!({ "required": required }),
        ));
    }
    if !store
        .change_role(&name, &as_read, scopes.as_deref(), mfa_required, &events)
        .await?
    {
        return Ok(Changed::Stale);
    }
    Ok(Changed::Done(Box::new(
        show_role(store, name.as_str()).await?,
    )))
}

pub async fn delete_role(store: &dyn Store, actor: &Actor, name: &str) -> Result<()> {
    let name = RoleName::parse(name).map_err(invalid)?;
    let deleted = actor.event("role.deleted", name.as_str(), serde_json::json!({}));
    Ok(store.delete_role(&name, &deleted).await?)
}
