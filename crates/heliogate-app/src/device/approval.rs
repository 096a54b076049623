//! `/device`: the signed-in user types (or confirms) a user code and approves or denies the
//! device's request (RFC 8628 §3.3). A wrong code is a guess, throttled like a password guess
//! per user and per address; a code is found by its hash alone, so a guess near a live code
//! learns nothing from the answer.

use heliogate_core::oauth::device::normalize_user_code;
use heliogate_core::oauth::grant_scopes;
use heliogate_core::{ScopeSet, SecretHash};
use heliogate_store::{DeviceAuthorization, DeviceDecision, Store};

use crate::login::throttle::Guess;
use crate::login::LoginPolicy;
use crate::oauth::authorize::SignedInUser;
use crate::scopes::{known_scopes, scopes_of};
use crate::{event, now, Result};

/// What a typed user code found.
#[derive(Debug)]
pub enum Found {
    /// A live request waiting for an answer, and the code as stored.
    Pending {
        authorization: Box<DeviceAuthorization>,
        code: String,
    },
    /// No live request has this code (or it cannot be a code at all).
    Unknown,
    /// Too many wrong codes: try again in this many seconds.
    Throttled(i64),
    /// Answered: approved (with the scopes granted) or denied.
    Approved(ScopeSet),
    Denied,
    /// The user holds none of the scopes the device asked for.
    NothingToGrant,
}

/// Finds the pending request a user typed the code of, counting a miss as a wrong guess.
pub async fn find_pending(
    store: &dyn Store,
    policy: &LoginPolicy,
    typed: &str,
    user_id: &str,
    addr: Option<&str>,
) -> Result<Found> {
    let Some(code) = normalize_user_code(typed) else {
        return Ok(Found::Unknown);
    };
    let mut keys = vec![(format!("device:user:{user_id}"), true)];
    if let Some(addr) = addr {
        keys.push((format!("device:addr:{addr}"), false));
    }
    let now = now();
    let guess = match Guess::count(store, policy, now, &keys).await? {
        Ok(guess) => guess,
        Err(seconds) => return Ok(Found::Throttled(seconds)),
    };
    match store
        .pending_device_authorization(&SecretHash::of(&code), now)
        .await?
    {
        Some(authorization) => {
            guess.succeeded(store).await?;
            Ok(Found::Pending {
                authorization: Box::new(authorization),
                code,
            })
        }
        None => {
            let locked = guess.failed(store, policy, now).await?;
            if !locked.is_empty() {
                crate::audit(
                    store,
                    "device.code_locked",
                    user_id,
                    None,
                    addr,
                    serde_json::Value::Object(locked),
                )
                .await?;
            }
            Ok(Found::Unknown)
        }
    }
}

/// The user's answer to the request with the code they typed: approved, the device gets the
/// scopes asked for that the user holds (and the consent is remembered, so the application is
/// listed among the user's authorized ones); denied, it gets `access_denied`.
pub async fn approve(
    store: &dyn Store,
    policy: &LoginPolicy,
    typed: &str,
    signed_in: SignedInUser<'_>,
    approved: bool,
    addr: Option<&str>,
) -> Result<Found> {
    let user = signed_in.user;
    let (authorization, code) = match find_pending(store, policy, typed, &user.id, addr).await? {
        Found::Pending {
            authorization,
            code,
        } => (authorization, code),
        other => return Ok(other),
    };
    let client_id = authorization.client_id.as_str();
    let hash = SecretHash::of(&code);
    let now = now();
    if !approved {
        let denied = event(
            "device.denied",
            &user.name,
            Some(client_id),
            addr,
            serde_json::json!({}),
        );
        return Ok(
            if store
                .decide_device_authorization(&hash, &DeviceDecision::Deny, now, &denied)
                .await?
            {
                Found::Denied
            } else {
                Found::Unknown
            },
        );
    }
    let known = known_scopes(store).await?;
    let holds = scopes_of(store, user).await?;
    let Ok(granted) = grant_scopes(
        Some(&authorization.scope),
        &authorization.scope,
        Some(&holds),
        &known,
    ) else {
        return Ok(Found::NothingToGrant);
    };
    let approved_event = event(
        "device.approved",
        &user.name,
        Some(client_id),
        addr,
        serde_json::json!({ "scope": granted.to_string() }),
    );
    let decision = DeviceDecision::Approve {
        user_id: &user.id,
        scope: &granted,
        auth_time: signed_in.auth_time,
        sid: signed_in.sid,
        amr: signed_in.amr,
    };
    if !store
        .decide_device_authorization(&hash, &decision, now, &approved_event)
        .await?
    {
        return Ok(Found::Unknown);
    }
    let client_id = heliogate_core::ClientId::parse(client_id)
        .map_err(|e| crate::AppError::Invalid(e.to_string()))?;
    let remembered = store
        .consent(&user.id, &client_id)
        .await?
        .unwrap_or_default()
        .union(&granted);
    let consented = event(
        "consent.granted",
        &user.name,
        Some(client_id.as_str()),
        addr,
        serde_json::json!({ "scope": remembered.to_string() }),
    );
    store
        .save_consent(&user.id, &client_id, &remembered, now, &consented)
        .await?;
    Ok(Found::Approved(granted))
}
