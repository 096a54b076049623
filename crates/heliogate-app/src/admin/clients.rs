//! OAuth 2 clients: register, show, rotate the secret, delete.

use crate::App;
use heliogate_core::oauth::Resource;
use heliogate_core::{
    ClientId, ClientKind, ClientSpec, GrantType, LogoutUri, RedirectUri, ScopeSet, SecretHash,
};
use heliogate_store::{Client, ClientSettings, NewClient, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse_scopes, user_name, Changed};
use crate::scopes::known_scopes;
use crate::{invalid, new_client_id, new_secret, now, Actor, AppError, Result};

/// A client as shown to administrators: never its secret, nor the secret's hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub owner: Option<String>,
    /// `confidential` or `public`.
    pub client_type: &'static str,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// May introspect tokens issued to other clients.
    pub introspect: bool,
    /// A remembered consent is used again, even for a public client.
    pub trusted: bool,
    /// May omit PKCE (a confidential client only).
    pub pkce_optional: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub signing_alg: &'static str,
    pub access_token_format: &'static str,
    /// The resource servers it may ask tokens for (RFC 8707).
    pub resources: Vec<String>,
    /// Takes pushed authorization requests only (RFC 9126).
    pub require_par: bool,
    /// Gets DPoP-bound tokens only (RFC 9449).
    pub require_dpop: bool,
    /// Where it takes logout tokens (OpenID Connect Back-Channel Logout).
    pub backchannel_logout_uri: Option<String>,
    /// Imported with what broke the rules left out: unusable until enabled.
    pub disabled: bool,
    /// The settings file that declares it (`heliogate apply`): a change made elsewhere is
    /// undone when the file is applied again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        Self {
            client_id: c.client_id.as_str().to_owned(),
            client_type: match c.kind {
                ClientKind::Public => "public",
                ClientKind::Confidential => "confidential",
            },
            redirect_uris: c
                .redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scopes: c.scopes.to_vec(),
            introspect: c.introspect,
            trusted: c.trusted,
            pkce_optional: c.pkce_optional,
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            signing_alg: c.signing_alg.as_str(),
            access_token_format: c.access_token_format.as_str(),
            resources: c.resources.iter().map(|r| r.as_str().to_owned()).collect(),
            require_par: c.require_par,
            require_dpop: c.require_dpop,
            backchannel_logout_uri: c.backchannel_logout_uri.map(|u| u.as_str().to_owned()),
            disabled: c.disabled,
            managed_by: c.managed_by,
            name: c.name,
            owner: c.owner,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A new client and, for a confidential one, its secret: shown this once, stored only hashed.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    #[serde(skip)]
    pub client: ClientView,
}

/// What `add_client` takes, as typed by a user (or sent to the API): every field is checked
/// here.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddClient {
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A public client has no secret (a browser or native application).
    #[serde(default)]
    pub public: bool,
    /// None given: `authorization_code` and `refresh_token` with redirect URIs, else
    /// `client_credentials`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The owning user's name.
    #[serde(default)]
    pub owner: Option<String>,
    /// May introspect tokens issued to other clients (a resource server).
    #[serde(default)]
    pub introspect: bool,
    /// Vouched for by an administrator (see `Client::trusted`).
    #[serde(default)]
    pub trusted: bool,
    /// May omit PKCE; refused for a public client.
    #[serde(default)]
    pub pkce_optional: bool,
    /// Where it may send the browser after signing the user out.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `RS256` (the default) or `ES256`.
    #[serde(default)]
    pub signing_alg: Option<String>,
    /// `opaque` (the default) or `jwt`.
    #[serde(default)]
    pub access_token_format: Option<String>,
    /// Resource servers it may ask tokens for, as their `resource` URIs (RFC 8707).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Takes pushed authorization requests only (RFC 9126).
    #[serde(default)]
    pub require_par: bool,
    /// Gets DPoP-bound tokens only (RFC 9449): a token request without a proof is refused.
    #[serde(default)]
    pub require_dpop: bool,
    /// Where it takes logout tokens when a session it signed a user in through ends (OpenID
    /// Connect Back-Channel Logout): https, or http on a loopback host.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
}

/// The client with this id; an id that cannot be valid is no client's.
async fn find_client(store: &dyn Store, client_id: &str) -> Result<Client> {
    let not_found = || AppError::NotFound(format!("no client with id {client_id:?}"));
    let id = ClientId::parse(client_id).map_err(|_| not_found())?;
    store.client(&id).await?.ok_or_else(not_found)
}

/// A change to a client: each field given replaces what it had; the client as changed must
/// pass the rules of registration. Its kind (confidential or public) and owner stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientChange {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub introspect: Option<bool>,
    pub trusted: Option<bool>,
    pub pkce_optional: Option<bool>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `RS256` or `ES256`.
    pub signing_alg: Option<String>,
    /// `opaque` or `jwt`.
    pub access_token_format: Option<String>,
    pub resources: Option<Vec<String>>,
    pub require_par: Option<bool>,
    pub require_dpop: Option<bool>,
    /// A new back-channel logout URI; empty: none any more.
    pub backchannel_logout_uri: Option<String>,
}

impl ClientChange {
    /// The settings of `client` with this change applied, still as typed.
    fn applied_to(self, client: &ClientView) -> AddClient {
        AddClient {
            name: self.name.unwrap_or_else(|| client.name.clone()),
            redirect_uris: self
                .redirect_uris
                .unwrap_or_else(|| client.redirect_uris.clone()),
            public: client.client_type == "public",
            grant_types: self
                .grant_types
                .unwrap_or_else(|| client.grant_types.clone()),
            scopes: self.scopes.unwrap_or_else(|| client.scopes.clone()),
            owner: client.owner.clone(),
            introspect: self.introspect.unwrap_or(client.introspect),
            trusted: self.trusted.unwrap_or(client.trusted),
            pkce_optional: self.pkce_optional.unwrap_or(client.pkce_optional),
            post_logout_redirect_uris: self
                .post_logout_redirect_uris
                .unwrap_or_else(|| client.post_logout_redirect_uris.clone()),
            signing_alg: Some(
                self.signing_alg
                    .unwrap_or_else(|| client.signing_alg.to_owned()),
            ),
            access_token_format: Some(
                self.access_token_format
                    .unwrap_or_else(|| client.access_token_format.to_owned()),
            ),
            resources: self.resources.unwrap_or_else(|| client.resources.clone()),
            require_par: self.require_par.unwrap_or(client.require_par),
            require_dpop: self.require_dpop.unwrap_or(client.require_dpop),
            backchannel_logout_uri: match self.backchannel_logout_uri {
                Some(uri) => Some(uri).filter(|u| !u.is_empty()),
                None => client.backchannel_logout_uri.clone(),
            },
        }
    }
}

fn redirect_uris(uris: &[String]) -> Result<Vec<RedirectUri>> {
    uris.iter()
        .map(|u| RedirectUri::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)
}

/// A client's settings as typed, checked against the rules of registration and the scopes
/// that roles hold.
pub(crate) async fn checked_settings(
    store: &dyn Store,
    input: &AddClient,
) -> Result<ClientSettings> {
    settings_within(input, &known_scopes(store).await?)
}

/// A client's settings as typed, checked against the rules of registration, its scopes
/// among `known`.
pub(crate) fn settings_within(input: &AddClient, known: &ScopeSet) -> Result<ClientSettings> {
    let grant_types = input
        .grant_types
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let scopes = parse_scopes(&input.scopes)?;
    if let Some(unknown) = scopes.iter().find(|s| !known.contains(s.as_str())) {
        return Err(AppError::Invalid(format!(
            "unknown scope {:?}: no role holds it (known: {known})",
            unknown.as_str(),
        )));
    }
    let kind = if input.public {
        ClientKind::Public
    } else {
        ClientKind::Confidential
    };
    let spec = ClientSpec::new(
        &input.name,
        kind,
        redirect_uris(&input.redirect_uris)?,
        grant_types,
        scopes,
    )
    .map_err(invalid)?;
    if input.introspect && kind == ClientKind::Public {
        return Err(AppError::Invalid(
            "a public client cannot introspect: introspection needs a client secret".into(),
        ));
    }
    if input.pkce_optional && kind == ClientKind::Public {
        return Err(AppError::Invalid(
            "a public client must send PKCE: only a confidential client may omit it".into(),
        ));
    }
    let signing_alg = input
        .signing_alg
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(invalid)?
        .unwrap_or_default();
    let access_token_format = input
        .access_token_format
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(invalid)?
        .unwrap_or_default();
    let mut resources = input
        .resources
        .iter()
        .map(|r| Resource::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    resources.sort();
    resources.dedup();
    if input.require_par && !spec.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(AppError::Invalid(
            "require_par needs the authorization_code grant: only it has authorization requests"
                .into(),
        ));
    }
    let backchannel_logout_uri = input
        .backchannel_logout_uri
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(LogoutUri::parse)
        .transpose()
        .map_err(invalid)?;
    let signs_users_in = spec
        .grant_types
        .iter()
        .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::DeviceCode));
    if backchannel_logout_uri.is_some() && !signs_users_in {
        return Err(AppError::Invalid(
            "a back-channel logout URI needs the authorization_code or device_code grant: only \
             they sign users in"
                .into(),
        ));
    }
    Ok(ClientSettings {
        spec,
        introspect: input.introspect,
        trusted: input.trusted,
        pkce_optional: input.pkce_optional,
        post_logout_redirect_uris: redirect_uris(&input.post_logout_redirect_uris)?,
        signing_alg,
        access_token_format,
        resources,
        require_par: input.require_par,
        require_dpop: input.require_dpop,
        backchannel_logout_uri,
    })
}

pub async fn add_client(
    store: &dyn Store,
    actor: &Actor,
    input: AddClient,
) -> Result<IssuedClient> {
    let settings = checked_settings(store, &input).await?;
    let owner = input.owner.as_deref().map(user_name).transpose()?;
    let kind = settings.spec.kind;
    let secret = (kind == ClientKind::Confidential).then(new_secret);
    let new = NewClient {
        client_id: ClientId::parse(&new_client_id()).map_err(invalid)?,
        secret_hash: secret.as_deref().map(SecretHash::of),
        settings,
        owner,
        now: now(),
    };
    let created = actor.event(
        "client.created",
        new.client_id.as_str(),
        summary(&new.settings.spec),
    );
    let client = ClientView::from(store.create_client(&new, &created).await?);
    Ok(IssuedClient {
        client_id: client.client_id.clone(),
        client_secret: secret,
        client,
    })
}

pub async fn list_clients(store: &dyn Store) -> Result<Vec<ClientView>> {
    Ok(store
        .list_clients()
        .await?
        .into_iter()
        .map(ClientView::from)
        .collect())
}

/// Which clients to list: by name, after `cursor`, only `owner`'s when given.
#[derive(Debug, Clone, Default)]
pub struct ClientQuery {
    pub owner: Option<String>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// 1 to 1000 (default 50).
    pub limit: Option<u32>,
}

/// Clients by name, and the cursor of the next page while there is one.
#[derive(Debug, Clone, Serialize)]
pub struct ClientPage {
    pub clients: Vec<ClientView>,
    pub next_cursor: Option<String>,
}

/// A page of clients.
pub async fn page_clients(store: &dyn Store, query: ClientQuery) -> Result<ClientPage> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::Invalid("the limit is 1 to 1000 clients".into()));
    }
    let owner = query.owner.as_deref().map(user_name).transpose()?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            ClientId::parse(c)
                .map_err(|_| AppError::Invalid("the cursor is not one a page gave".into()))
        })
        .transpose()?;
    let mut clients = store
        .clients_page(owner.as_ref(), after.as_ref(), limit + 1)
        .await?;
    let more = clients.len() > limit as usize;
    clients.truncate(limit as usize);
    let next_cursor = more
        .then(|| clients.last().map(|c| c.client_id.as_str().to_owned()))
        .flatten();
    Ok(ClientPage {
        clients: clients.into_iter().map(ClientView::from).collect(),
        next_cursor,
    })
}

pub async fn show_client(store: &dyn Store, client_id: &str) -> Result<ClientView> {
    Ok(find_client(store, client_id).await?.into())
}

pub async fn delete_client(app: &App, actor: &Actor, client_id: &str) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let client = find_client(store, client_id).await?;
    let deleted = actor.event("client.deleted", client_id, serde_json::json!({}));
    Ok(store.delete_client(&client.client_id, &deleted).await?)
}

/// Lets a client imported disabled be used again, once an administrator has corrected it;
/// `false` when it was not disabled.
pub async fn enable_client(app: &App, actor: &Actor, client_id: &str) -> Result<bool> {
    let store = app.store();
    let _changed = app.on_change();
    let client = find_client(store, client_id).await?;
    let enabled = actor.event("client.enabled", client_id, serde_json::json!({}));
    Ok(store
        .enable_client(&client.client_id, app.now(), &enabled)
        .await?)
}

/// Gives a confidential client a new secret; the old one stops working at once.
pub async fn rotate_client_secret(
    app: &App,
    actor: &Actor,
    client_id: &str,
) -> Result<IssuedClient> {
    let store = app.store();
    let _changed = app.on_change();
    let client = find_client(store, client_id).await?;
    if client.is_public() {
        return Err(AppError::Invalid(format!(
            "client {client_id:?} is public: it has no secret"
        )));
    }
    let secret = new_secret();
    let rotated = actor.event("client.secret_rotated", client_id, serde_json::json!({}));
    store
        .set_client_secret(
            &client.client_id,
            &SecretHash::of(&secret),
            app.now(),
            &rotated,
        )
        .await?;
    let client = ClientView::from(client);
    Ok(IssuedClient {
        client_id: client.client_id.clone(),
        client_secret: Some(secret),
        client,
    })
}

/// The name, grant types and scopes of a client, as audit records give them.
fn summary(spec: &ClientSpec) -> serde_json::Value {
    let grant_types: Vec<&str> = spec.grant_types.iter().map(|g| g.as_str()).collect();
    let scopes: Vec<&str> = spec.scopes.iter().map(|s| s.as_str()).collect();
    serde_json::json!({ "name": spec.name, "grant_types": grant_types, "scopes": scopes })
}

/// Changes a client's settings, if it is still as `read` shows it.
pub async fn change_client(
    app: &App,
    actor: &Actor,
    read: &ClientView,
    change: ClientChange,
) -> Result<Changed<ClientView>> {
    let store = app.store();
    let _changed = app.on_change();
    let client = find_client(store, &read.client_id).await?;
    let settings = checked_settings(store, &change.applied_to(read)).await?;
    let changed = actor.event(
        "client.changed",
        client.client_id.as_str(),
        summary(&settings.spec),
    );
    if !store
        .update_client(
            &client.client_id,
            &settings,
            read.updated_at,
            app.now(),
            &changed,
        )
        .await?
    {
        return Ok(Changed::Stale);
    }
    Ok(Changed::Done(Box::new(
        find_client(store, &read.client_id).await?.into(),
    )))
}

/// A client that exists, for the operations on its tokens.
pub(super) async fn existing_client(store: &dyn Store, client_id: &str) -> Result<ClientId> {
    Ok(find_client(store, client_id).await?.client_id)
}
