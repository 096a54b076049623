//! Roles: named sets of scopes.

use heliogate_core::{RoleName, Scope};
use heliogate_store::{Role, Store};
use serde::Serialize;

use super::{audit, parse_scopes};
use crate::{invalid, now, Actor, AppError, Result};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoleView {
    pub name: String,
    pub scopes: Vec<String>,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            name: r.name.as_str().to_owned(),
            scopes: r.scopes.to_vec(),
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
    let role = RoleView::from(store.create_role(&name, &scopes, now()).await?);
    audit(
        store,
        actor,
        "role.created",
        &role.name,
        serde_json::json!({ "scopes": role.scopes }),
    )
    .await?;
    Ok(role)
}

pub async fn set_role_scopes(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    scopes: &[String],
) -> Result<RoleView> {
    let name = RoleName::parse(name).map_err(invalid)?;
    let scopes = role_scopes_input(scopes)?;
    let role = RoleView::from(store.set_role_scopes(&name, &scopes).await?);
    audit(
        store,
        actor,
        "role.scopes_changed",
        &role.name,
        serde_json::json!({ "scopes": role.scopes }),
    )
    .await?;
    Ok(role)
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
