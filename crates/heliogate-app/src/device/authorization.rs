//! `POST /oauth/device_authorization` (RFC 8628 §3.1–§3.2).

use heliogate_core::oauth::device::{
    display_user_code, user_code, DEVICE_CODE_TTL, POLL_INTERVAL, USER_CODE_LEN,
};
use heliogate_core::oauth::resource;
use heliogate_core::oauth::{
    grant_scopes, requested_resources, OAuthError, OAuthErrorCode, Params,
};
use heliogate_core::{GrantType, ScopeSet, SecretHash};
use heliogate_store::{NewDeviceAuthorization, Store, StoreError};
use rand::RngCore;
use serde::Serialize;

use crate::oauth::client_auth::authenticate;
use crate::oauth::token::known_scopes;
use crate::oauth::{ClientCredentials, OAuthResult, OAuthState};
use crate::{new_secret, now};

/// How many device authorizations one client may have waiting at once: a device asks once per
/// sign-in, so a client past this is a loop or a flood, and is told to slow down.
pub const MAX_PENDING_PER_CLIENT: u32 = 50;

/// RFC 8628 §3.2.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A device asks for a code: the client is authenticated (a public one names itself), may use
/// the grant, and asks for scopes it may have (RFC 8628 §3.1; errors as RFC 6749 §5.2).
pub async fn device_authorization(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    credentials: &ClientCredentials,
    addr: Option<&str>,
) -> OAuthResult<DeviceAuthorizationResponse> {
    params.check_text()?;
    let auth = authenticate(store, config, credentials, addr).await?;
    let client = &auth.client;
    if !client.has_grant(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the device authorization grant",
        )
        .into());
    }
    let requested = params
        .get("scope")
        .map_err(|_| OAuthError::invalid_request("parameter scope is repeated"))?
        .map(|s| ScopeSet::parse(s).map_err(|e| OAuthError::invalid_scope(e.to_string())))
        .transpose()?;
    let resources = requested_resources(params, &client.resources)?;
    let known = known_scopes(store, config).await?;
    // What the client may ask for; what the user holds is applied at approval. The OpenID
    // Connect scopes are kept (they need no role).
    let asked = grant_scopes(requested.as_ref(), &client.scopes, Some(&known), &known)?;
    let now = now();
    let device_code = new_secret();
    // A drawn user code that is taken (one in 2.6 × 10¹⁰ per live code) is drawn again.
    for _ in 0..3 {
        let mut random = [0u8; USER_CODE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let code = user_code(random);
        let new = NewDeviceAuthorization {
            device_code_hash: SecretHash::of(&device_code),
            user_code_hash: SecretHash::of(&code),
            client_id: client.client_id.to_string(),
            scope: asked.to_string(),
            resources: (!resources.is_empty()).then(|| resource::join(&resources)),
            interval: POLL_INTERVAL,
            created_at: now,
            expires_at: now + DEVICE_CODE_TTL,
        };
        match store
            .create_device_authorization(&new, MAX_PENDING_PER_CLIENT)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::SlowDown,
                    "this client has too many device authorizations waiting",
                )
                .into())
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        let shown = display_user_code(&code);
        let verification_uri = format!("{}/device", config.issuer);
        return Ok(DeviceAuthorizationResponse {
            device_code,
            verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
            verification_uri,
            user_code: shown,
            expires_in: DEVICE_CODE_TTL,
            interval: POLL_INTERVAL,
        });
    }
    Err(OAuthError::new(
        OAuthErrorCode::TemporarilyUnavailable,
        "no free user code was found; try again",
    )
    .into())
}
