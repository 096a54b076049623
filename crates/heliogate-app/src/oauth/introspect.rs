//! Introspection (RFC 7662): what an authenticated resource server may learn of a token.

use crate::oauth::OAuthState;
use heliogate_core::oauth::OAuthError;
use heliogate_core::oauth::Params;
use heliogate_core::TokenKey;
use heliogate_store::Store;
use serde::Serialize;

use super::access_tokens::Audience;
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<IntrospectionDetails>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IntrospectionDetails {
    pub scope: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub token_type: &'static str,
    pub exp: i64,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The resource servers named when it was issued (RFC 8707).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience<String>>,
    pub iss: String,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<BoundKey>,
    /// RFC 8693 §4.1: who acts, for a token issued by exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BoundKey {
    pub jkt: String,
}

/// RFC 7662 §2 with §4's authorization: an authenticated confidential client learns about the
/// tokens issued to itself, and about other clients' access tokens only when an administrator
/// allowed it (`client add --introspect`: a resource server). A refresh token is only ever
/// reported to its own client. Anything else is `{"active": false}`, as for an unknown token,
/// so that the answer tells nothing about tokens the client may not see.
pub async fn introspect(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    credentials: &ClientCredentials,
    addr: Option<&str>,
) -> OAuthResult<Introspection> {
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
        return Ok(Introspection {
            active: true,
            details: Some(IntrospectionDetails {
                scope: active.scope.to_string(),
                client_id: active.client_id.clone(),
                username: active.username.clone(),
                token_type: crate::oauth::token::token_type(active.jkt.as_deref()),
                exp: active.expires_at,
                iat: active.issued_at,
                sub: active.user_id.clone(),
                aud: Audience::of(active.audience.iter().map(|r| r.as_str().to_owned())),
                iss: config.issuer.clone(),
                cnf: active.jkt.clone().map(|jkt| BoundKey { jkt }),
                act: active
                    .act
                    .as_deref()
                    .and_then(|a| serde_json::from_str(a).ok()),
            }),
        });
    }
    let refresh = store.refresh_token(&TokenKey::of(token)).await?;
    if let Some(r) = refresh.filter(|r| {
        own(&r.client_id) && r.revoked_at.is_none() && r.rotated_at.is_none() && now < r.expires_at
    }) {
        let username = store.user_by_id(&r.user_id).await?.map(|u| u.name);
        return Ok(Introspection {
            active: true,
            details: Some(IntrospectionDetails {
                scope: r.scope.to_string(),
                client_id: r.client_id,
                username,
                token_type: "refresh_token",
                exp: r.expires_at,
                iat: r.created_at,
                sub: Some(r.user_id),
                aud: None,
                iss: config.issuer.clone(),
                cnf: r.jkt.clone().map(|jkt| BoundKey { jkt }),
                act: None,
            }),
        });
    }
    Ok(Introspection {
        active: false,
        details: None,
    })
}
