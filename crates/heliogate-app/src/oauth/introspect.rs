//! Introspection (RFC 7662): what an authenticated resource server may learn of a token.

use std::sync::Arc;

use crate::oauth::OAuthState;
use heliogate_core::oauth::OAuthError;
use heliogate_core::oauth::Params;
use heliogate_core::{ScopeSet, TokenKey};
use heliogate_store::{RefreshToken, Store};
use serde::{Serialize, Serializer};

use super::access_tokens::{ActiveToken, Audience};
use super::client_auth::{authenticate, ClientCredentials};
use super::OAuthResult;
use crate::now;

/// The `token` parameter of a revocation or introspection request.
pub(super) fn token_param(params: &Params) -> OAuthResult<&str> {
    params.check_text()?;
    params
        .get("token")
        .map_err(|_| OAuthError::invalid_request("parameter token is repeated"))?
        .ok_or_else(|| OAuthError::invalid_request("parameter token is missing").into())
}

/// An introspection answer (RFC 7662 §2.2): for anything not live, exactly `{"active": false}`.
/// A live token's answer is written from the token as it was found, copying nothing.
#[derive(Debug)]
pub enum Introspection<'a> {
    /// Unknown, expired, revoked, or not the asking client's to learn about.
    Inactive,
    /// A live access token, as the token checks hold it.
    Access {
        token: Arc<ActiveToken>,
        issuer: &'a str,
    },
    /// A live refresh token of the asking client, with its user's name.
    Refresh {
        token: Box<RefreshToken>,
        username: Option<String>,
        issuer: &'a str,
    },
}

impl Introspection<'_> {
    pub fn is_active(&self) -> bool {
        !matches!(self, Self::Inactive)
    }
}

/// The members of `{"active": false}`.
#[derive(Serialize)]
struct Inactive {
    active: bool,
}

/// The members of a live token's answer, in the order they are written.
#[derive(Serialize)]
struct Live<'a> {
    active: bool,
    #[serde(serialize_with = "as_text")]
    scope: &'a ScopeSet,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    token_type: &'static str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    /// The resource servers named when it was issued (RFC 8707).
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Audience<&'a str>>,
    iss: &'a str,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<BoundKey<'a>>,
    /// RFC 8693 §4.1: who acts, for a token issued by exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<serde_json::Value>,
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`.
#[derive(Serialize)]
struct BoundKey<'a> {
    jkt: &'a str,
}

/// A scope as its space-separated text (RFC 6749 §3.3).
fn as_text<S: Serializer>(scope: &&ScopeSet, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(scope)
}

impl Serialize for Introspection<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Inactive => Inactive { active: false }.serialize(serializer),
            Self::Access { token, issuer } => Live {
                active: true,
                scope: &token.scope,
                client_id: &token.client_id,
                username: token.username.as_deref(),
                token_type: crate::oauth::token::token_type(token.jkt.as_deref()),
                exp: token.expires_at,
                iat: token.issued_at,
                sub: token.user_id.as_deref(),
                aud: Audience::of(token.audience.iter().map(|r| r.as_str())),
                iss: issuer,
                cnf: token.jkt.as_deref().map(|jkt| BoundKey { jkt }),
                act: token
                    .act
                    .as_deref()
                    .and_then(|a| serde_json::from_str(a).ok()),
            }
            .serialize(serializer),
            Self::Refresh {
                token,
                username,
                issuer,
            } => Live {
                active: true,
                scope: &token.scope,
                client_id: &token.client_id,
                username: username.as_deref(),
                token_type: "refresh_token",
                exp: token.expires_at,
                iat: token.created_at,
                sub: Some(&token.user_id),
                aud: None,
                iss: issuer,
                cnf: token.jkt.as_deref().map(|jkt| BoundKey { jkt }),
                act: None,
            }
            .serialize(serializer),
        }
    }
}

/// RFC 7662 §2 with §4's authorization: an authenticated confidential client learns about the
/// tokens issued to itself, and about other clients' access tokens only when an administrator
/// allowed it (`client add --introspect`: a resource server). A refresh token is only ever
/// reported to its own client. Anything else is `{"active": false}`, as for an unknown token,
/// so that the answer tells nothing about tokens the client may not see.
pub async fn introspect<'a>(
    store: &dyn Store,
    config: &'a OAuthState,
    params: &Params,
    credentials: &ClientCredentials,
    addr: Option<&str>,
) -> OAuthResult<Introspection<'a>> {
    let token = token_param(params)?;
    let auth = authenticate(store, config, credentials, addr).await?;
    if !auth.confidential {
        return Err(OAuthError::invalid_client("introspection needs a confidential client").into());
    }
    let now = now();
    let own = |client_id: &str| client_id == auth.client.client_id.as_str();
    let visible = |client_id: &str| own(client_id) || auth.client.introspect;
    if let Some(active) = config
        .tokens
        .inspect(store, token, now)
        .await?
        .filter(|a| visible(&a.client_id))
    {
        return Ok(Introspection::Access {
            token: active,
            issuer: &config.issuer,
        });
    }
    let refresh = store.refresh_token(&TokenKey::of(token)).await?;
    if let Some(r) = refresh.filter(|r| {
        own(&r.client_id) && r.revoked_at.is_none() && r.rotated_at.is_none() && now < r.expires_at
    }) {
        let username = store.user_by_id(&r.user_id).await?.map(|u| u.name);
        return Ok(Introspection::Refresh {
            token: Box::new(r),
            username,
            issuer: &config.issuer,
        });
    }
    Ok(Introspection::Inactive)
}
