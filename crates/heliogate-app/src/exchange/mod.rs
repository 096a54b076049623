//! Token exchange (RFC 8693): a service holding a user's access token exchanges it for a token
//! for another resource server it is registered for (`--resource`), acting for the user.
//!
//! What the issued token is: the subject token's user as `sub`; a scope never wider than the
//! subject token's and the exchanging client's (§2.2.2 `invalid_scope` otherwise); an audience
//! of resource servers registered for the exchanging client (`invalid_target` otherwise); the
//! acting party as `act` (§4.1: the exchanging client, or the `actor_token`'s subject, with the
//! subject token's own `act` nested); no refresh token; an expiry no later than the subject
//! token's. It ends when the token it was first exchanged from ends — revoked, its user disabled
//! or deleted, its client deleted, its consent withdrawn — in the same transaction (the store's
//! triggers), and the revocation feed names both. heliogate issues no `may_act` claim, so none
//! constrains an exchange here; a DPoP-bound subject token is not exchanged (its holder's proof
//! cannot be checked by the service that received it).

use heliogate_core::oauth::token_request::{Exchange, ACCESS_TOKEN_TYPE};
use heliogate_core::oauth::{requested_resources, OAuthError, OAuthErrorCode, Params, Resource};
use heliogate_core::{GrantType, ScopeSet, TokenKey};
use heliogate_store::Store;
use serde_json::{json, Value};

use crate::now;
use crate::oauth::access_tokens::{Exchanged, Grant};
use crate::oauth::client_auth::AuthenticatedClient;
use crate::oauth::token::{issued, mint, token_type, TokenResponse};
use crate::oauth::{ActiveToken, OAuthResult, OAuthState};

fn refused(code: OAuthErrorCode, description: &str) -> OAuthError {
    OAuthError::new(code, description)
}

/// The resource servers the new token is for: `resource` (RFC 8707) and `audience` (RFC 8693
/// §2.1, here a registered resource's URI), each registered for the exchanging client; at
/// least one.
fn target(params: &Params, registered: &[Resource]) -> Result<Vec<Resource>, OAuthError> {
    let mut target = requested_resources(params, registered)?;
    for audience in params.all("audience") {
        let named = registered.iter().find(|r| r.as_str() == audience);
        let Some(named) = named else {
            return Err(refused(
                OAuthErrorCode::InvalidTarget,
                &format!("audience {audience:?} is not a resource server of this client"),
            ));
        };
        if !target.contains(named) {
            target.push(named.clone());
        }
    }
    if target.is_empty() {
        return Err(refused(
            OAuthErrorCode::InvalidTarget,
            "name the resource server the token is for (resource)",
        ));
    }
    Ok(target)
}

/// Who acts (§4.1): `sub` is the acting party (a user's id, or a client's for its own token),
/// `client_id` the client it acts through; an earlier actor nests as `act`.
fn actor(acting: Value, subject: &ActiveToken) -> Value {
    let mut act = acting;
    if let Some(earlier) = subject
        .act
        .as_deref()
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
    {
        act["act"] = earlier;
    }
    act
}

/// The scope of the new token: what was asked, within both the subject token's and the
/// client's; or, when nothing was asked, all they share.
fn scope(
    asked: Option<&ScopeSet>,
    subject: &ScopeSet,
    client: &ScopeSet,
) -> Result<ScopeSet, OAuthError> {
    let both: ScopeSet = subject
        .iter()
        .filter(|s| client.contains(s.as_str()))
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    let granted = match asked {
        Some(asked) if !asked.is_empty() => {
            if let Some(wider) = asked.iter().find(|s| !both.contains(s.as_str())) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {:?} is beyond the subject token's or this client's",
                    wider.as_str()
                )));
            }
            asked.clone()
        }
        _ => both,
    };
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the subject token and this client share no scope",
        ));
    }
    Ok(granted)
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2).
pub async fn token_exchange(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    exchange: Exchange<'_>,
    auth: &AuthenticatedClient,
    jkt: Option<&str>,
    addr: Option<&str>,
) -> OAuthResult<TokenResponse> {
    if !auth.confidential {
        return Err(refused(
            OAuthErrorCode::UnauthorizedClient,
            "token exchange needs a confidential client",
        )
        .into());
    }
    let client = &auth.client;
    let audience = target(params, &client.resources)?;
    let now = now();
    let tokens = &config.tokens;
    let Some(subject) = tokens.inspect(store, exchange.subject_token, now).await? else {
        return Err(OAuthError::invalid_grant("the subject token is not active").into());
    };
    if subject.jkt.is_some() {
        return Err(
            OAuthError::invalid_grant("a DPoP-bound subject token cannot be exchanged").into(),
        );
    }
    let acting = match exchange.actor_token {
        None => json!({ "sub": client.client_id.as_str(), "client_id": client.client_id.as_str() }),
        Some(actor_token) => {
            let Some(actor_active) = tokens.inspect(store, actor_token, now).await? else {
                return Err(OAuthError::invalid_grant("the actor token is not active").into());
            };
            let sub = actor_active
                .user_id
                .as_deref()
                .unwrap_or(&actor_active.client_id);
            json!({ "sub": sub, "client_id": actor_active.client_id })
        }
    };
    let act = actor(acting, &subject);
    let granted = scope(exchange.scope.as_ref(), &subject.scope, &client.scopes)?;
    let scope = granted.to_string();
    // It ends with the token first exchanged from, however many exchanges lie between.
    let subject_key = subject
        .subject_key
        .as_deref()
        .and_then(TokenKey::from_stored)
        .unwrap_or_else(|| TokenKey::of(exchange.subject_token));
    let (access_token, record) = mint(
        store,
        config,
        client,
        &Grant {
            client_id: client.client_id.as_str(),
            user_id: subject.user_id.as_deref(),
            scope: &scope,
            family_id: None,
            audience: &audience,
            jkt,
            exchanged: Some(Exchanged {
                subject_key,
                act: &act,
                not_after: subject.expires_at,
            }),
            // It ends with its subject token, whatever ends that.
            sid: None,
        },
        now,
    )
    .await?;
    let expires_in = record.expires_at - now;
    let event = issued(
        client.client_id.as_str(),
        GrantType::TokenExchange,
        subject.username.as_deref(),
        &scope,
        false,
        addr,
    );
    store.issue_tokens(record, None, Some(event)).await?;
    Ok(TokenResponse {
        grant_type: GrantType::TokenExchange,
        access_token,
        token_type: token_type(jkt),
        expires_in,
        scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap_or_default()
    }

    #[test]
    fn rfc_8693_the_scope_is_never_wider_than_the_subject_and_the_client() {
        let (subject, client) = (set("read write"), set("read execute"));
        assert_eq!(scope(None, &subject, &client), Ok(set("read")));
        assert_eq!(
            scope(Some(&set("read")), &subject, &client),
            Ok(set("read"))
        );
        for wider in ["write", "execute", "read admin"] {
            let answer = scope(Some(&set(wider)), &subject, &client);
            assert_eq!(
                answer.map_err(|e| e.code),
                Err(OAuthErrorCode::InvalidScope),
                "{wider}"
            );
        }
        let none = scope(None, &set("write"), &client);
        assert_eq!(none.map_err(|e| e.code), Err(OAuthErrorCode::InvalidScope));
    }
}
