//! The device's poll of the token endpoint (RFC 8628 §3.4–§3.5): pending, slow down, denied,
//! expired, or — once — its tokens.

use heliogate_core::oauth::device::{poll, PollAnswer, PolledDevice};
use heliogate_core::oauth::{grant_scopes, OAuthError, OAuthErrorCode};
use heliogate_core::{GrantType, SecretHash, UnixTime};
use heliogate_store::{OneTimeGrant, Store};

use crate::oauth::access_tokens::{AccessTokens, Grant};
use crate::oauth::client_auth::AuthenticatedClient;
use crate::oauth::token::{first_refresh, issued, known_scopes, mint, token_type, TokenResponse};
use crate::oauth::{OAuthFailure, OAuthResult, OAuthState};
use crate::oidc::id_token::{id_token, Authentication, Issued};
use crate::{event, new_family_id, now};

fn refused(code: OAuthErrorCode, description: &str) -> OAuthError {
    OAuthError::new(code, description)
}

/// A device code used again (like a replayed code, RFC 6749 §4.1.2): what was issued from it,
/// the tokens of `family`, goes.
async fn replayed(
    store: &dyn Store,
    tokens: &AccessTokens,
    auth: &AuthenticatedClient,
    addr: Option<&str>,
    family: Option<&str>,
    now: UnixTime,
) -> OAuthFailure {
    if let Some(family) = family {
        let replayed = event(
            "device_code.replayed",
            auth.client.client_id.as_str(),
            None,
            addr,
            serde_json::json!({}),
        );
        if let Err(e) = store.revoke_family(family, now, &replayed).await {
            return e.into();
        }
        tokens.forget_all();
    }
    OAuthError::invalid_grant("the device code was already used").into()
}

/// Answers a poll with `device_code` by `auth`'s client; the tokens are bound to `jkt` when
/// the request carried a DPoP proof.
pub async fn device_code(
    store: &dyn Store,
    config: &OAuthState,
    presented: &str,
    auth: &AuthenticatedClient,
    jkt: Option<&str>,
    addr: Option<&str>,
) -> OAuthResult<TokenResponse> {
    let tokens = &*config.tokens;
    let hash = SecretHash::of(presented);
    let invalid = || OAuthError::invalid_grant("the device code is not valid");
    let Some((device, holder)) = store.device_poll(&hash).await? else {
        return Err(invalid().into());
    };
    // Another client's code is no code of this one's (§3.5 `invalid_grant`).
    if device.client_id != auth.client.client_id.as_str() {
        return Err(invalid().into());
    }
    let now = now();
    let polled = PolledDevice {
        status: device.status,
        expires_at: device.expires_at,
        interval: device.poll_interval,
        last_poll: device.last_poll,
    };
    match poll(&polled, now) {
        PollAnswer::ExpiredToken => {
            return Err(refused(OAuthErrorCode::ExpiredToken, "the device code expired").into())
        }
        PollAnswer::AccessDenied => {
            return Err(refused(OAuthErrorCode::AccessDenied, "the user denied the request").into())
        }
        PollAnswer::Replayed => {
            return Err(
                replayed(store, tokens, auth, addr, device.family_id.as_deref(), now).await,
            );
        }
        PollAnswer::SlowDown { interval } => {
            store.record_device_poll(&hash, now, interval).await?;
            return Err(refused(
                OAuthErrorCode::SlowDown,
                &format!("poll at most every {interval} seconds"),
            )
            .into());
        }
        PollAnswer::Pending => {
            store
                .record_device_poll(&hash, now, device.poll_interval)
                .await?;
            return Err(refused(
                OAuthErrorCode::AuthorizationPending,
                "the user has not answered yet",
            )
            .into());
        }
        PollAnswer::Issue => {}
    }
    let Some((user, holds)) = holder.filter(|(u, _)| !u.disabled) else {
        return Err(OAuthError::invalid_grant("the user of this grant is no longer active").into());
    };
    // What was approved, as far as the user's roles and the client still allow it now.
    let known = known_scopes(store, config).await?;
    let granted = grant_scopes(
        Some(&device.scope),
        &auth.client.scopes,
        Some(&holds),
        &known,
    )
    .map_err(|_| OAuthError::invalid_grant("nothing approved may be granted any more"))?;
    let family_id = new_family_id();
    let scope = granted.to_string();
    let authentication = Authentication {
        auth_time: device.auth_time,
        nonce: None,
        sid: device.sid,
        amr: device.amr,
    };
    let grant = Grant {
        client_id: auth.client.client_id.as_str(),
        user_id: Some(&user.id),
        scope: &scope,
        family_id: Some(&family_id),
        audience: &device.resources.0,
        jkt,
        exchanged: None,
        sid: authentication.sid.as_deref(),
    };
    let (access_token, record) = mint(store, config, &auth.client, &grant, now).await?;
    let (refresh_token, refresh) =
        first_refresh(config, &auth.client, &grant, &authentication, now);
    let event = issued(
        auth.client.client_id.as_str(),
        GrantType::DeviceCode,
        Some(&user.name),
        &scope,
        refresh.is_some(),
        addr,
    );
    // The device code is spent with the tokens' rows, in one transaction: a poll that lost to
    // another finds it spent and, as a replay, revokes what the winner was given.
    if !store
        .issue_from(OneTimeGrant::DeviceCode(hash), record, refresh, Some(event))
        .await?
    {
        let family = store
            .device_authorization(&hash)
            .await?
            .and_then(|d| d.family_id);
        return Err(replayed(store, tokens, auth, addr, family.as_deref(), now).await);
    }
    let issued = Issued {
        client: &auth.client,
        user: &user,
        scope: &granted,
        access_token: &access_token,
        now,
    };
    let id_token = id_token(store, config, issued, authentication).await?;
    Ok(TokenResponse {
        grant_type: GrantType::DeviceCode,
        access_token,
        token_type: token_type(jkt),
        expires_in: tokens.ttl,
        scope,
        refresh_token,
        id_token,
        issued_token_type: None,
    })
}
