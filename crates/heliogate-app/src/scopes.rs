//! Which scopes exist and who holds them: the one place that answers both, for issuance and
//! for administration.

use heliogate_core::scope::OIDC_SCOPES;
use heliogate_core::{Scope, ScopeSet};
use heliogate_store::{Role, Store, User};

use crate::Result;

/// The scopes the server knows: those some role holds, and the OpenID Connect scopes.
pub async fn known_scopes(store: &dyn Store) -> Result<ScopeSet> {
    let oidc: ScopeSet = OIDC_SCOPES
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .collect();
    Ok(store.role_scopes().await?.union(&oidc))
}

/// The scopes a user's roles hold now.
pub async fn scopes_of(store: &dyn Store, user: &User) -> Result<ScopeSet> {
    Ok(held_scopes(&store.list_roles().await?, user))
}

/// The scopes `user` holds through `roles` (every role, as listed once for many users).
pub fn held_scopes(roles: &[Role], user: &User) -> ScopeSet {
    roles
        .iter()
        .filter(|r| user.roles.iter().any(|held| held == r.name.as_str()))
        .fold(ScopeSet::default(), |held, role| held.union(&role.scopes))
}
