//! Upstream providers and the identities linked through them, as administrators manage them
//! (the CLI, the administration API, the console), and a user's own links.

use std::collections::BTreeMap;

use heliogate_core::upstream::{
    check_claim_name, Issuer, Preset, Provision, RoleMap, UpstreamName, NO_PASSWORD,
};
use heliogate_core::RoleName;
use heliogate_store::{Store, Upstream, UpstreamIdentity, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{callback_uri, secret_aad};
use crate::admin::find_user;
use crate::oidc::sealing::{self, KeyEncryptionKey};
use crate::{event, invalid, Actor, App, AppError, Result};

/// An upstream provider, as administrators see it: never its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct UpstreamView {
    pub name: String,
    /// `oidc`, or `github` (GitHub's OAuth 2 and user API).
    pub preset: String,
    pub issuer: String,
    pub client_id: String,
    /// It has a client secret (kept sealed, never shown).
    pub has_client_secret: bool,
    pub scopes: Vec<String>,
    pub display_name: String,
    /// `off`, `create` or `link-email`.
    pub provision: String,
    pub default_roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_claim: Option<String>,
    pub role_map: BTreeMap<String, String>,
    /// Its `amr`/`acr` is believed when it says it asked for a second factor.
    pub trust_mfa: bool,
    /// The path of the redirect URI to register at the provider, under heliogate's issuer.
    pub redirect_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

impl From<Upstream> for UpstreamView {
    fn from(u: Upstream) -> Self {
        Self {
            redirect_path: callback_uri("", &u.name),
            has_client_secret: u.client_secret.is_some(),
            scopes: u.scopes.split_whitespace().map(str::to_owned).collect(),
            default_roles: serde_json::from_str(&u.default_roles).unwrap_or_default(),
            role_map: serde_json::from_str(&u.role_map).unwrap_or_default(),
            name: u.name,
            preset: u.preset,
            issuer: u.issuer,
            client_id: u.client_id,
            display_name: u.display_name,
            provision: u.provision,
            role_claim: u.role_claim,
            trust_mfa: u.trust_mfa,
            managed_by: u.managed_by,
        }
    }
}

/// What `add_upstream` takes, as typed on the command line, sent to the API or declared in a
/// settings file (`[upstreams.NAME]`, whose secret comes from `client_secret_env`): every field
/// is checked here.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUpstream {
    /// Part of its redirect URI, `ISSUER/login/upstream/NAME/callback`.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")]
    pub name: String,
    /// `oidc` (the default) or `github`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Its issuer identifier: https (http only on the loopback address).
    pub issuer: String,
    pub client_id: String,
    /// Kept sealed; never shown again.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `openid profile email` (GitHub: `read:user user:email`) unless given; `openid` is
    /// always asked of an OpenID provider.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `off` (the default), `create` or `link-email`.
    #[serde(default)]
    pub provision: Option<String>,
    #[serde(default)]
    pub default_roles: Vec<String>,
    #[serde(default)]
    pub role_claim: Option<String>,
    /// Claim value to role.
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    #[serde(default)]
    pub trust_mfa: bool,
    /// The settings file that declares it (`heliogate apply`); set by `apply` alone.
    #[serde(skip)]
    pub managed_by: Option<String>,
}

impl AddUpstream {
    /// A role map from `VALUE=ROLE` entries, as the command line and the console take it.
    pub fn role_map_of(entries: &[String]) -> Result<BTreeMap<String, String>> {
        Ok(RoleMap::parse(entries).map_err(invalid)?.to_map())
    }
}

fn text_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

/// The row of an upstream as `add` describes it, checked against the roles that stand.
async fn checked_upstream(
    store: &dyn Store,
    kek: Option<&KeyEncryptionKey>,
    add: &AddUpstream,
    now: i64,
) -> Result<Upstream> {
    let known: Vec<RoleName> = store
        .list_roles()
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    upstream_row(kek, add, now, &known)
}

/// The row of an upstream as `add` describes it, its roles among `known`; its secret sealed
/// under `kek`.
pub(crate) fn upstream_row(
    kek: Option<&KeyEncryptionKey>,
    add: &AddUpstream,
    now: i64,
    known: &[RoleName],
) -> Result<Upstream> {
    let name = UpstreamName::parse(&add.name).map_err(invalid)?;
    let preset = Preset::parse(add.preset.as_deref().unwrap_or("oidc")).map_err(invalid)?;
    let issuer = Issuer::parse(&add.issuer).map_err(invalid)?;
    if !text_ok(&add.client_id, 255) {
        return Err(AppError::Invalid(
            "a client id must be 1 to 255 characters, none of them control characters".into(),
        ));
    }
    if let Some(secret) = &add.client_secret {
        if !text_ok(secret, 512) {
            return Err(AppError::Invalid(
                "a client secret must be 1 to 512 characters".into(),
            ));
        }
    }
    let mut scopes: Vec<String> = if add.scopes.is_empty() {
        match preset {
            Preset::Oidc => vec!["openid".into(), "profile".into(), "email".into()],
            Preset::Github => vec!["read:user".into(), "user:email".into()],
        }
    } else {
        add.scopes.clone()
    };
    if scopes.iter().any(|s| {
        s.is_empty()
            || s.len() > 128
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    }) {
        return Err(AppError::Invalid(
            "a scope must be 1 to 128 characters, without spaces, quotes or backslashes".into(),
        ));
    }
    if preset == Preset::Oidc && !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    scopes.retain(|s| seen.insert(s.clone()));
    let display_name = add.display_name.clone().unwrap_or_else(|| name.to_string());
    if !text_ok(&display_name, 64) {
        return Err(AppError::Invalid(
            "a display name must be 1 to 64 characters".into(),
        ));
    }
    let provision = Provision::parse(add.provision.as_deref().unwrap_or("off")).map_err(invalid)?;
    if let Some(claim) = &add.role_claim {
        check_claim_name(claim).map_err(invalid)?;
    }
    let role_map = RoleMap::from_map(&add.role_map).map_err(invalid)?;
    if !role_map.is_empty() && add.role_claim.is_none() {
        return Err(AppError::Invalid(
            "a role map needs the claim it reads: give --role-claim".into(),
        ));
    }
    let default_roles: Vec<RoleName> = add
        .default_roles
        .iter()
        .map(|r| RoleName::parse(r).map_err(invalid))
        .collect::<Result<_>>()?;
    for role in default_roles.iter().chain(role_map.roles().iter()) {
        if !known.contains(role) {
            return Err(AppError::NotFound(format!(
                "no role named {:?}",
                role.as_str()
            )));
        }
    }
    let client_secret = add
        .client_secret
        .as_ref()
        .map(|s| sealing::seal(kek, &secret_aad(name.as_str()), s.as_bytes().to_vec()))
        .transpose()?;
    let roles: Vec<&str> = default_roles.iter().map(RoleName::as_str).collect();
    Ok(Upstream {
        name: name.to_string(),
        preset: preset.as_str().into(),
        issuer: issuer.as_str().into(),
        client_id: add.client_id.clone(),
        client_secret,
        scopes: scopes.join(" "),
        display_name,
        provision: provision.as_str().into(),
        default_roles: serde_json::to_string(&roles).map_err(invalid)?,
        role_claim: add.role_claim.clone(),
        role_map: serde_json::to_string(&role_map.to_map()).map_err(invalid)?,
        trust_mfa: add.trust_mfa,
        managed_by: add.managed_by.clone(),
        created_at: now,
    })
}

/// What an upstream's audit records say of it: everything but its secret.
fn upstream_detail(view: &UpstreamView) -> serde_json::Value {
    let mut detail = serde_json::to_value(view).unwrap_or_default();
    if let Some(map) = detail.as_object_mut() {
        map.remove("redirect_path");
    }
    detail
}

pub async fn add_upstream(
    app: &App,
    kek: Option<&KeyEncryptionKey>,
    actor: &Actor,
    add: &AddUpstream,
) -> Result<UpstreamView> {
    let store = app.store();
    let upstream = checked_upstream(store, kek, add, app.now()).await?;
    let view = UpstreamView::from(upstream.clone());
    let created = actor.event("upstream.created", &upstream.name, upstream_detail(&view));
    store.create_upstream(&upstream, &created).await?;
    Ok(view)
}

pub async fn list_upstreams(store: &dyn Store) -> Result<Vec<UpstreamView>> {
    Ok(store
        .list_upstreams()
        .await?
        .into_iter()
        .map(UpstreamView::from)
        .collect())
}

pub async fn show_upstream(store: &dyn Store, name: &str) -> Result<UpstreamView> {
    store
        .upstream(name)
        .await?
        .map(UpstreamView::from)
        .ok_or_else(|| AppError::NotFound(format!("no upstream named {name:?}")))
}

/// Deletes an upstream and every link through it; sessions already signed in stand.
pub async fn delete_upstream(app: &App, actor: &Actor, name: &str) -> Result<()> {
    let deleted = actor.event("upstream.deleted", name, serde_json::json!({}));
    app.store().delete_upstream(name, &deleted).await?;
    app.providers().forget();
    Ok(())
}

/// An identity at an upstream provider, linked to a user.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct IdentityView {
    pub upstream: String,
    pub issuer: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

impl From<UpstreamIdentity> for IdentityView {
    fn from(i: UpstreamIdentity) -> Self {
        Self {
            upstream: i.upstream,
            issuer: i.issuer,
            subject: i.subject,
            email: i.email,
            created_at: i.created_at,
            last_used_at: i.last_used_at,
        }
    }
}

/// A user's linked identities.
pub async fn list_identities(store: &dyn Store, user_id: &str) -> Result<Vec<IdentityView>> {
    Ok(store
        .user_identities(user_id)
        .await?
        .into_iter()
        .map(IdentityView::from)
        .collect())
}

fn check_subject(subject: &str) -> Result<()> {
    if text_ok(subject, 255) {
        Ok(())
    } else {
        Err(AppError::Invalid(
            "a subject must be 1 to 255 characters".into(),
        ))
    }
}

/// Links the identity `subject` at `upstream` to the user `name`: their next sign-in there
/// is theirs.
pub async fn link_identity(
    app: &App,
    actor: &Actor,
    name: &str,
    upstream: &str,
    subject: &str,
) -> Result<IdentityView> {
    let store = app.store();
    check_subject(subject)?;
    let user = find_user(store, name).await?;
    let provider = show_upstream(store, upstream).await?;
    let identity = UpstreamIdentity {
        issuer: provider.issuer,
        subject: subject.to_owned(),
        upstream: provider.name,
        user_id: user.id,
        email: None,
        mapped_roles: "[]".into(),
        created_at: app.now(),
        last_used_at: None,
    };
    let linked = actor.event(
        "user.identity_linked",
        &user.name,
        serde_json::json!({ "upstream": identity.upstream, "subject": subject }),
    );
    store.link_identity(&identity, &linked).await?;
    Ok(identity.into())
}

/// Unlinks an identity from the user `name`.
pub async fn unlink_identity(
    app: &App,
    actor: &Actor,
    name: &str,
    upstream: &str,
    subject: &str,
) -> Result<()> {
    let store = app.store();
    let user = find_user(store, name).await?;
    let unlinked = actor.event(
        "user.identity_unlinked",
        &user.name,
        serde_json::json!({ "upstream": upstream, "subject": subject }),
    );
    let Some(identity) = store
        .user_identities(&user.id)
        .await?
        .into_iter()
        .find(|i| i.upstream == upstream && i.subject == subject)
    else {
        return Err(AppError::NotFound(format!(
            "{name:?} has no identity {subject:?} at {upstream:?}"
        )));
    };
    store
        .unlink_identity(&user.id, &identity.issuer, subject, &unlinked)
        .await?;
    Ok(())
}

/// A user removes one of their own linked identities, unless it is their last way to sign in
/// (no password, no passkey, no other identity).
pub async fn remove_own_identity(
    app: &App,
    user: &User,
    upstream: &str,
    subject: &str,
    addr: Option<&str>,
) -> Result<()> {
    let store = app.store();
    let identities = store.user_identities(&user.id).await?;
    let Some(identity) = identities
        .iter()
        .find(|i| i.upstream == upstream && i.subject == subject)
    else {
        return Err(AppError::NotFound("no such linked identity".into()));
    };
    let has_password = match heliogate_core::UserName::parse(&user.name) {
        Ok(name) => store
            .credentials(&name)
            .await?
            .is_some_and(|c| c.password_hash != NO_PASSWORD),
        Err(_) => false,
    };
    let has_passkey = !store.passkeys(&user.id).await?.is_empty();
    if !has_password && !has_passkey && identities.len() < 2 {
        return Err(AppError::Conflict(
            "this is your only way to sign in: add a passkey, or ask an administrator for a password, first".into(),
        ));
    }
    let unlinked = event(
        "user.identity_unlinked",
        &user.name,
        Some(&user.name),
        addr,
        serde_json::json!({ "upstream": upstream, "subject": subject }),
    );
    store
        .unlink_identity(&user.id, &identity.issuer, subject, &unlinked)
        .await?;
    Ok(())
}
