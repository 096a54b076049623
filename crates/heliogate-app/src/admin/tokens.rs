//! Revoking tokens in bulk, and purging expired ones.

use heliogate_store::Store;

use super::clients::existing_client;
use super::users::find_user;
use crate::{now, Actor, Result};

/// Revokes every live token acting for a user; returns how many.
pub async fn revoke_user_tokens(store: &dyn Store, actor: &Actor, name: &str) -> Result<u64> {
    let user = find_user(store, name).await?;
    let revoked = actor.event(
        "token.revoked",
        &user.name,
        serde_json::json!({ "user": user.name }),
    );
    Ok(store.revoke_user_tokens(&user.id, now(), &revoked).await?)
}

/// Revokes every live token issued to a client; returns how many.
pub async fn revoke_client_tokens(
    store: &dyn Store,
    actor: &Actor,
    client_id: &str,
) -> Result<u64> {
    let id = existing_client(store, client_id).await?;
    let revoked = actor.event(
        "token.revoked",
        client_id,
        serde_json::json!({ "client_id": client_id }),
    );
    Ok(store.revoke_client_tokens(&id, now(), &revoked).await?)
}

pub async fn purge_expired(store: &dyn Store) -> Result<u64> {
    Ok(store.purge_expired(now()).await?)
}
