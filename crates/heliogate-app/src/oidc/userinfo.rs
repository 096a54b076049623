//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims an access token's scope
//! releases about its user.

use heliogate_core::oidc::UserClaims;
use heliogate_store::Store;

use super::id_token::user_claims;
use crate::oauth::OAuthState;
use crate::{now, Result};

/// What the endpoint answers.
#[derive(Debug)]
pub enum UserInfo {
    Claims(UserClaims),
    /// Unknown, expired or revoked, a client's own token, or its user is gone or disabled.
    InvalidToken,
    /// A live token without the `openid` scope (RFC 6750 §3.1).
    InsufficientScope,
}

pub async fn userinfo(store: &dyn Store, config: &OAuthState, token: &str) -> Result<UserInfo> {
    let Some(active) = config.tokens.inspect(store, token, now()).await? else {
        return Ok(UserInfo::InvalidToken);
    };
    let Some(user_id) = active.user_id.as_deref() else {
        return Ok(UserInfo::InvalidToken);
    };
    let scope = &active.scope;
    if !scope.contains("openid") {
        return Ok(UserInfo::InsufficientScope);
    }
    match store.user_by_id(user_id).await? {
        Some(user) if !user.disabled => Ok(UserInfo::Claims(user_claims(&user, scope))),
        _ => Ok(UserInfo::InvalidToken),
    }
}
