//! ID tokens (OpenID Connect Core §2, §3.1.3.3, §12.2): issued with the tokens of a grant whose
//! scope has `openid`, at the code exchange and again at each refresh.

use heliogate_core::oidc::{acr_of, at_hash, IdTokenClaims, UserClaims, UserFacts};
use heliogate_core::{ScopeSet, UnixTime};
use heliogate_store::{Client, Store, User};

use super::keys::key_ring;
use crate::oauth::OAuthState;
use crate::Result;

/// What an ID token says of the sign-in behind a grant.
#[derive(Debug, Clone, Default)]
pub struct Authentication {
    pub auth_time: Option<UnixTime>,
    /// Echoed from the authorization request; never on a refreshed token.
    pub nonce: Option<String>,
    pub sid: Option<String>,
    /// How the user signed in (`amr` values separated by spaces); a password when unknown
    /// (grants from before it was recorded).
    pub amr: Option<String>,
}

/// The user's claims as the scope releases them.
pub fn user_claims(user: &User, scope: &ScopeSet) -> UserClaims {
    UserClaims::released(
        UserFacts {
            id: &user.id,
            name: &user.name,
            email: user.email.as_deref(),
            roles: &user.roles,
            updated_at: user.updated_at,
        },
        scope,
    )
}

/// The tokens an ID token goes with.
#[derive(Debug, Clone, Copy)]
pub struct Issued<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a ScopeSet,
    pub access_token: &'a str,
    pub now: UnixTime,
}

/// The ID token for a grant, when its scope has `openid`.
pub async fn id_token(
    store: &dyn Store,
    config: &OAuthState,
    issued: Issued<'_>,
    authentication: Authentication,
) -> Result<Option<String>> {
    let Issued {
        client,
        user,
        scope,
        access_token,
        now,
    } = issued;
    let client_id = client.client_id.as_str();
    if !scope.contains("openid") {
        return Ok(None);
    }
    let amr: Vec<String> = authentication
        .amr
        .as_deref()
        .unwrap_or("pwd")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let claims = IdTokenClaims {
        iss: config.issuer.clone(),
        aud: client_id.to_owned(),
        azp: client_id.to_owned(),
        exp: now + config.id_token_ttl,
        iat: now,
        auth_time: authentication.auth_time,
        nonce: authentication.nonce,
        acr: acr_of(&amr),
        amr,
        at_hash: Some(at_hash(access_token)),
        sid: authentication.sid,
        user: user_claims(user, scope),
    };
    let keys = key_ring(store, config).await?;
    keys.sign(client.signing_alg, "JWT", &claims).map(Some)
}
