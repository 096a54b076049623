//! Revocation (RFC 7009): a client ends a token it holds.

use heliogate_core::oauth::{OAuthError, Params};
use heliogate_core::TokenKey;
use heliogate_store::{Revocation, Store, TokenHolder};

use super::client_auth::{authenticate, ClientCredentials};
use super::introspect::token_param;
use super::{event, OAuthResult, OAuthState};
use crate::now;

/// RFC 7009 §2.1: revokes an access or refresh token the client owns. An unknown token is
/// not an error (§2.2); a token of another client is refused and left alone.
pub async fn revoke(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    credentials: &ClientCredentials,
    addr: Option<&str>,
) -> OAuthResult<()> {
    let token = token_param(params)?;
    let auth = authenticate(store, config, credentials, addr).await?;
    let revoked = event(
        "token.revoked",
        auth.client.client_id.as_str(),
        None,
        addr,
        serde_json::json!({ "by": "client" }),
    );
    match store
        .revoke_token(
            &TokenKey::of(token),
            TokenHolder::Client(&auth.client.client_id),
            now(),
            &revoked,
        )
        .await?
    {
        Revocation::Revoked => {
            config.tokens.forget_all();
            Ok(())
        }
        Revocation::Unknown => Ok(()),
        Revocation::NotOwned => {
            Err(OAuthError::invalid_request("the token was not issued to this client").into())
        }
    }
}
