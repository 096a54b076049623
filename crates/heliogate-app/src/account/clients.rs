//! Applications a user registers for themselves ("developer clients"): registered, listed,
//! given a new secret and deleted by their owner, through the administrators' use cases, and
//! never with a scope the owner does not hold nor with an administrator's powers (introspection,
//! trust, skipping PKCE).

use crate::App;
use heliogate_core::{GrantType, ScopeSet};
use heliogate_store::{Store, User};

use crate::admin::{self, AddClient, ClientPage, ClientQuery, IssuedClient};
use crate::scopes::{oidc_scopes, scopes_of};
use crate::{Actor, AppError, Result};

/// An application as its owner registers it.
#[derive(Debug, Clone, Default)]
pub struct OwnClient {
    pub name: String,
    /// A public client has no secret (a browser or native application).
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
}

/// Registers an application owned by `user`; its secret, if confidential, is shown this once.
pub async fn register_client(
    app: &App,
    actor: &Actor,
    user: &User,
    signed_in_at: heliogate_core::UnixTime,
    input: OwnClient,
) -> Result<IssuedClient> {
    let store = app.store();
    if input.scopes.is_empty() {
        return Err(AppError::Invalid(
            "choose at least one scope the application may ask for".into(),
        ));
    }
    let offered = offered_scopes(store, user).await?;
    if let Some(beyond) = input.scopes.iter().find(|s| !offered.contains(s)) {
        return Err(AppError::Invalid(format!(
            "you do not hold the scope {beyond:?}: an application of yours can ask only for \
             scopes you hold"
        )));
    }
    app.require_fresh(input.scopes.iter().map(String::as_str), signed_in_at)?;
    if input
        .grant_types
        .iter()
        .any(|g| g == GrantType::TokenExchange.as_str())
    {
        return Err(AppError::Invalid(
            "token exchange is for services an administrator registers, with the resource \
             servers they may call"
                .into(),
        ));
    }
    let add = AddClient {
        name: input.name,
        redirect_uris: input.redirect_uris,
        public: input.public,
        grant_types: input.grant_types,
        scopes: input.scopes,
        owner: Some(user.name.clone()),
        ..AddClient::default()
    };
    admin::add_client(store, actor, add).await
}

/// The scopes an application of `user`'s may ask for: those their roles give, and the OpenID
/// Connect scopes (which name claims about whoever signs in, not powers).
pub async fn offered_scopes(store: &dyn Store, user: &User) -> Result<ScopeSet> {
    Ok(scopes_of(store, user).await?.union(&oidc_scopes()))
}

/// A page of `user`'s applications.
pub async fn own_clients(
    store: &dyn Store,
    user: &User,
    cursor: Option<String>,
) -> Result<ClientPage> {
    admin::page_clients(
        store,
        ClientQuery {
            owner: Some(user.name.clone()),
            cursor,
            limit: Some(50),
        },
    )
    .await
}

/// `user`'s application with this id (theirs by id, not by name); another's, or none, is
/// `NotFound` alike.
async fn own_client(store: &dyn Store, user: &User, client_id: &str) -> Result<()> {
    let found = match heliogate_core::ClientId::parse(client_id) {
        Ok(id) => store.client(&id).await?,
        Err(_) => None,
    };
    match found {
        Some(client) if client.owner_id.as_deref() == Some(user.id.as_str()) => Ok(()),
        _ => Err(AppError::NotFound(format!(
            "you have no application with id {client_id:?}"
        ))),
    }
}

/// A new secret for `user`'s confidential application; the old one stops working at once.
pub async fn rotate_own_secret(
    app: &App,
    actor: &Actor,
    user: &User,
    client_id: &str,
) -> Result<IssuedClient> {
    let store = app.store();
    own_client(store, user, client_id).await?;
    admin::rotate_client_secret(app, actor, client_id).await
}

/// Deletes `user`'s application, and with it every token it holds.
pub async fn delete_own_client(
    app: &App,
    actor: &Actor,
    user: &User,
    client_id: &str,
) -> Result<()> {
    let store = app.store();
    own_client(store, user, client_id).await?;
    admin::delete_client(app, actor, client_id).await
}
