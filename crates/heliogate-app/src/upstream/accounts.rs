//! Which heliogate user an upstream identity is, made or linked on a first sign-in as the
//! upstream's `provision` says, and the roles its role map gives at every sign-in.

use std::collections::BTreeSet;

use heliogate_core::upstream::{roles_after_sign_in, user_name_candidates, Provision, NO_PASSWORD};
use heliogate_core::{Email, RoleName, UserName};
use heliogate_store::{NewUser, StoreError, UpstreamIdentity, UpstreamSignIn, User};
use serde_json::{Map, Value};

use super::{Failure, Settings};
use crate::{event, new_user_id, App, Result};

/// What heliogate reads of an upstream identity.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    /// The role claim's values (a string or an array of strings).
    pub role_values: Vec<String>,
}

impl Identity {
    pub(crate) fn from_claims(claims: &Map<String, Value>, role_claim: Option<&str>) -> Self {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        // Some providers send `"true"` for a verified address.
        let email_verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
            || claims.get("email_verified").and_then(Value::as_str) == Some("true");
        let role_values = role_claim
            .and_then(|claim| claim_at(claims, claim))
            .map(|v| match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(list) => list
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        Self {
            subject: text("sub").unwrap_or_default(),
            email: text("email"),
            email_verified,
            preferred_username: text("preferred_username"),
            role_values,
        }
    }
}

/// A claim by name, or by a dotted path into nested objects (Keycloak's
/// `realm_access.roles`) when no claim has the whole name.
fn claim_at<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// The roles that stand, of those given.
async fn standing(
    app: &App,
    roles: impl IntoIterator<Item = RoleName>,
) -> Result<BTreeSet<RoleName>> {
    let known: BTreeSet<RoleName> = app
        .store()
        .list_roles()
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    Ok(roles.into_iter().filter(|r| known.contains(r)).collect())
}

fn role_list(roles: &BTreeSet<RoleName>) -> String {
    let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
}

/// The user the identity signs in as, after its roles are brought up to date; or why none.
pub(crate) async fn user_for(
    app: &App,
    settings: &Settings,
    identity: &Identity,
    addr: Option<&str>,
) -> Result<Result<User, Failure>> {
    let store = app.store();
    let issuer = settings.issuer.as_str();
    let mapped = standing(app, settings.role_map.roles_for(&identity.role_values)).await?;
    let linked = match store.upstream_identity(issuer, &identity.subject).await? {
        Some(linked) => linked,
        None => return first_sign_in(app, settings, identity, &mapped, addr).await,
    };
    let Some(user) = store.user_by_id(&linked.user_id).await? else {
        return Ok(Err(Failure::NotLinked));
    };
    if user.disabled {
        return Ok(Err(Failure::Disabled));
    }
    let before: BTreeSet<RoleName> = serde_json::from_str::<Vec<String>>(&linked.mapped_roles)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| RoleName::parse(r).ok())
        .collect();
    let current: Vec<RoleName> = user
        .roles
        .iter()
        .filter_map(|r| RoleName::parse(r).ok())
        .collect();
    let after = if settings.role_claim.is_some() {
        roles_after_sign_in(&current, &before, &mapped)
    } else {
        current.clone()
    };
    let name = UserName::parse(&user.name).map_err(crate::invalid)?;
    let changed = after != current;
    let roles_event = event(
        "user.roles_changed",
        &format!("upstream:{}", settings.name),
        Some(&user.name),
        addr,
        serde_json::json!({
            "roles": after.iter().map(RoleName::as_str).collect::<Vec<_>>(),
            "role_claim": settings.role_claim,
        }),
    );
    let sign_in = UpstreamSignIn {
        issuer,
        subject: &identity.subject,
        email: identity.email.as_deref(),
        mapped_roles: &role_list(&mapped),
        roles: changed.then_some((&name, after.as_slice())),
        now: app.now(),
    };
    let _changed = changed.then(|| app.on_change());
    store.upstream_signed_in(&sign_in, &roles_event).await?;
    let user = if changed {
        store.user_by_id(&user.id).await?.unwrap_or(user)
    } else {
        user
    };
    Ok(Ok(user))
}

/// An identity nobody linked yet: made a user, linked by its verified address, or refused.
async fn first_sign_in(
    app: &App,
    settings: &Settings,
    identity: &Identity,
    mapped: &BTreeSet<RoleName>,
    addr: Option<&str>,
) -> Result<Result<User, Failure>> {
    let store = app.store();
    let now = app.now();
    let record = |user_id: &str| UpstreamIdentity {
        issuer: settings.issuer.as_str().to_owned(),
        subject: identity.subject.clone(),
        upstream: settings.name.to_string(),
        user_id: user_id.to_owned(),
        email: identity.email.clone(),
        mapped_roles: role_list(mapped),
        created_at: now,
        last_used_at: Some(now),
    };
    let actor = format!("upstream:{}", settings.name);
    match settings.provision {
        Provision::Off => Ok(Err(Failure::NotLinked)),
        Provision::LinkEmail => {
            let Some(email) = identity
                .email
                .as_deref()
                .filter(|_| identity.email_verified)
            else {
                return Ok(Err(Failure::UnverifiedEmail));
            };
            let users: Vec<User> = store
                .users_with_email(email)
                .await?
                .into_iter()
                .filter(|u| !u.disabled)
                .collect();
            let [user] = users.as_slice() else {
                return Ok(Err(Failure::NoAccountForEmail));
            };
            let linked = event(
                "user.identity_linked",
                &actor,
                Some(&user.name),
                addr,
                serde_json::json!({ "upstream": settings.name.as_str(), "subject": identity.subject, "by": "verified e-mail" }),
            );
            // The roles the map gives come at the next sign-in's update, which this is.
            let mut unmapped = record(&user.id);
            unmapped.mapped_roles = "[]".into();
            match store.link_identity(&unmapped, &linked).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            Box::pin(user_for(app, settings, identity, addr)).await
        }
        Provision::Create => {
            let email = identity
                .email
                .as_deref()
                .filter(|_| identity.email_verified)
                .and_then(|e| Email::parse(e).ok());
            let mut roles: BTreeSet<RoleName> =
                standing(app, settings.default_roles.iter().cloned()).await?;
            roles.extend(mapped.iter().cloned());
            let id = new_user_id();
            let candidates = user_name_candidates(
                identity.preferred_username.as_deref(),
                identity.email.as_deref(),
            );
            for candidate in candidates {
                let Ok(name) = UserName::parse(&candidate) else {
                    continue;
                };
                let user = NewUser {
                    id: id.clone(),
                    name: name.clone(),
                    email: email.clone(),
                    password_hash: NO_PASSWORD.into(),
                    roles: roles.iter().cloned().collect(),
                    must_change_password: false,
                    now,
                };
                let created = event(
                    "user.created",
                    &actor,
                    Some(name.as_str()),
                    addr,
                    serde_json::json!({
                        "roles": roles.iter().map(RoleName::as_str).collect::<Vec<_>>(),
                        "upstream": settings.name.as_str(),
                        "subject": identity.subject,
                    }),
                );
                match store.provision_user(&user, &record(&id), &created).await {
                    Ok(user) => return Ok(Ok(user)),
                    Err(StoreError::Conflict(_)) => {
                        // Another sign-in by the same identity may have made its user first.
                        if let Some(linked) = store
                            .upstream_identity(settings.issuer.as_str(), &identity.subject)
                            .await?
                        {
                            let user = store.user_by_id(&linked.user_id).await?;
                            return Ok(user.filter(|u| !u.disabled).ok_or(Failure::Disabled));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Err(Failure::NoFreeName))
        }
    }
}
