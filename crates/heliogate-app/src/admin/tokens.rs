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

/// What a purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Purged {
    /// Expired tokens, codes and sessions.
    pub purged: u64,
    /// Audit records past their retention.
    pub audit_records: u64,
    /// Sign-in counters idle for longer than their window and not locked.
    pub login_counters: u64,
}

/// Deletes what has expired: tokens, codes and sessions; audit records older than
/// `audit_retention_days`; sign-in counters idle for longer than `throttle_window` seconds.
pub async fn purge_expired(
    store: &dyn Store,
    audit_retention_days: i64,
    throttle_window: i64,
) -> Result<Purged> {
    let now = now();
    Ok(Purged {
        purged: store.purge_expired(now).await?,
        audit_records: store
            .purge_audit(now - audit_retention_days * 86_400)
            .await?,
        login_counters: store
            .purge_login_counters(now - throttle_window, now)
            .await?,
    })
}
