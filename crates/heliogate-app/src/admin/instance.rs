//! The installation: its first administrator, and the issuer every node must share.

use heliogate_core::{RoleName, ServerKey, ADMIN_ROLE};
use heliogate_store::{NewUser, Store, StoreError};

use super::user_name;
use crate::{invalid, new_secret, new_user_id, now, password_hashing, Actor, AppError, Result};

/// On a first start with no users: creates `admin` with the `administrator` role and a random
/// password, and returns that password to be shown once. `None` on every later start.
pub async fn bootstrap_admin(store: &dyn Store) -> Result<Option<String>> {
    let password = new_secret();
    let new = NewUser {
        id: new_user_id(),
        name: user_name("admin")?,
        email: None,
        password_hash: password_hashing::hash_async(password.clone()).await?,
        roles: vec![RoleName::parse(ADMIN_ROLE).map_err(invalid)?],
        // Printed on a terminal: its first sign-in replaces it.
        must_change_password: true,
        now: now(),
    };
    let server = Actor {
        name: "heliogate".into(),
        client_addr: None,
    };
    let created = server.event(
        "user.created",
        "admin",
        serde_json::json!({ "roles": [ADMIN_ROLE], "bootstrap": true }),
    );
    Ok(store
        .bootstrap_admin(&new, &created)
        .await?
        .then_some(password))
}

/// Every node of a cluster must present the same issuer: it is the `iss` of every answer and
/// decides the cookies. The first start records it; a node configured otherwise refuses to
/// start, until `migrate` records a new one on purpose.
pub async fn check_issuer(store: &dyn Store, issuer: &str) -> Result<()> {
    match store.instance_value_or("issuer", issuer).await? {
        recorded if recorded == issuer => Ok(()),
        recorded => Err(AppError::Conflict(format!(
            "this database is served as issuer {recorded}, not {issuer}: every node must use the same issuer \
             (to change it on purpose, run `heliogate migrate --issuer {issuer}`)"
        ))),
    }
}

/// The installation's key for tagging values, made by the first node that asks and the same on
/// every node after.
pub async fn server_key(store: &dyn Store) -> Result<ServerKey> {
    let stored = store.instance_value_or("server_key", &new_secret()).await?;
    ServerKey::decode(&stored).ok_or_else(|| {
        AppError::Internal(StoreError::Internal(
            "the stored server key is malformed".into(),
        ))
    })
}

/// Records the issuer the database is served as (by `migrate`).
pub async fn record_issuer(store: &dyn Store, issuer: &str) -> Result<()> {
    Ok(store.set_instance_value("issuer", issuer).await?)
}
