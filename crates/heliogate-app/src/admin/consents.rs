//! The applications a user has authorized, as administrators see and revoke them.

use crate::App;
use heliogate_core::ClientId;
use heliogate_store::Store;
use serde::Serialize;
use utoipa::ToSchema;

use super::users::find_user;
use crate::{Actor, AppError, Result};

/// A remembered consent: the client may have these scopes for the user without asking again.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct ConsentView {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub updated_at: i64,
}

pub async fn list_consents(store: &dyn Store, name: &str) -> Result<Vec<ConsentView>> {
    let user = find_user(store, name).await?;
    Ok(store
        .consents(&user.id, crate::now())
        .await?
        .into_iter()
        .map(|c| ConsentView {
            client_id: c.client_id,
            client_name: c.client_name,
            scopes: c.scope.to_vec(),
            updated_at: c.updated_at,
        })
        .collect())
}

/// Takes a consent back, with the tokens it gave; `NotFound` when there was none.
pub async fn revoke_consent(app: &App, actor: &Actor, name: &str, client_id: &str) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let user = find_user(store, name).await?;
    let none = || AppError::NotFound(format!("{name:?} has no consent for {client_id:?}"));
    let id = ClientId::parse(client_id).map_err(|_| none())?;
    let event = actor.event(
        "consent.withdrawn",
        &user.name,
        serde_json::json!({ "client": client_id }),
    );
    if store
        .revoke_consent(&user.id, &id, app.now(), &event)
        .await?
    {
        Ok(())
    } else {
        Err(none())
    }
}
