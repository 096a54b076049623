//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims an access token's scope
//! releases about its user.

use heliogate_core::oidc::UserClaims;
use heliogate_store::Store;

use super::id_token::user_claims;
use crate::dpop::{accept, Presentation, Presented, Refused};
use crate::oauth::{OAuthResult, OAuthState};

/// What the endpoint answers.
#[derive(Debug)]
pub enum UserInfo {
    Claims(UserClaims),
    /// Unknown, expired or revoked, a client's own token, or its user is gone or disabled.
    InvalidToken,
    /// A live token without the `openid` scope (RFC 6750 §3.1).
    InsufficientScope,
    /// A live token not presented as its DPoP binding asks (RFC 9449 §7).
    Refused(Refused),
}

pub async fn userinfo(
    store: &dyn Store,
    config: &OAuthState,
    presented: &Presented<'_>,
) -> OAuthResult<UserInfo> {
    let active = match accept(store, config, presented).await? {
        Presentation::Accepted(active) => active,
        Presentation::Inactive => return Ok(UserInfo::InvalidToken),
        Presentation::Refused(refused) => return Ok(UserInfo::Refused(refused)),
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
