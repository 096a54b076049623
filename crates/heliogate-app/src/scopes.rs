//! Which scopes exist and who holds them: the one place that answers both, for issuance and
//! for administration.

use heliogate_core::scope::OIDC_SCOPES;
use heliogate_core::{Scope, ScopeSet};
use heliogate_store::{Role, Store, User};

use crate::Result;

/// The OpenID Connect scopes: they name claims about whoever signs in, not powers, so every
/// client may be given them.
pub fn oidc_scopes() -> ScopeSet {
    OIDC_SCOPES
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .collect()
}

/// The scopes the server knows: those some role holds, and the OpenID Connect scopes.
pub async fn known_scopes(store: &dyn Store) -> Result<ScopeSet> {
    Ok(store.role_scopes().await?.union(&oidc_scopes()))
}

/// The scopes a user's roles hold now.
pub async fn scopes_of(store: &dyn Store, user: &User) -> Result<ScopeSet> {
    Ok(held_scopes(&store.list_roles().await?, user))
}

/// The scopes `user` holds through `roles` (every role, as listed once for many users).
pub fn held_scopes(roles: &[Role], user: &User) -> ScopeSet {
    scopes_given(roles, |role| user.roles.iter().any(|held| held == role))
}

/// The scopes that the roles `holds` names among `roles` give together.
pub fn scopes_given(roles: &[Role], holds: impl Fn(&str) -> bool) -> ScopeSet {
    roles
        .iter()
        .filter(|r| holds(r.name.as_str()))
        .fold(ScopeSet::default(), |held, role| held.union(&role.scopes))
}

/// What each of `scopes` allows, in words for the person asked: as administrators describe it,
/// or by its name.
pub async fn describe_scopes<'s>(
    store: &dyn Store,
    scopes: impl IntoIterator<Item = &'s str>,
) -> Result<Vec<(String, String)>> {
    let described = described_scopes(store).await?;
    Ok(scopes
        .into_iter()
        .map(|scope| {
            let words = described
                .get(scope)
                .cloned()
                .unwrap_or_else(|| undescribed(scope));
            (scope.to_owned(), words)
        })
        .collect())
}

/// The words administrators gave, by scope.
pub(crate) async fn described_scopes(
    store: &dyn Store,
) -> Result<std::collections::HashMap<String, String>> {
    Ok(store.scope_descriptions().await?.into_iter().collect())
}

/// The words for a scope nobody described.
pub fn undescribed(scope: &str) -> String {
    format!("use the \u{201c}{scope}\u{201d} permission of the services")
}

/// The client with this id as it may act now, if it may act at all (a disabled client may
/// not). An application a user registered never has a scope its owner does not hold today
/// (OpenID Connect's, which name claims, stay), so that when its owner loses a role, or is
/// disabled, it loses what that gave at once, without a write. A client an administrator
/// registered without an owner keeps its scopes.
pub async fn usable_client(
    store: &dyn Store,
    id: &heliogate_core::ClientId,
) -> std::result::Result<Option<heliogate_store::Client>, heliogate_store::StoreError> {
    // A disabled client (imported with what broke the rules left out) is unknown to the flows.
    let Some(mut client) = store.client(id).await?.filter(|c| !c.disabled) else {
        return Ok(None);
    };
    if let Some(owner) = &client.owner_id {
        let held = match store.user_with_scopes(owner).await? {
            Some((user, held)) if !user.disabled => held,
            _ => ScopeSet::default(),
        };
        client.scopes = client
            .scopes
            .iter()
            .filter(|s| s.is_oidc() || held.contains(s.as_str()))
            .cloned()
            .collect();
    }
    Ok(Some(client))
}
