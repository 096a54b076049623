//! Passkeys and security keys (WebAuthn Level 2, through webauthn-rs): registered on the
//! account page, used as the second factor after a password, or alone — a discoverable passkey
//! with user verification signs in without a password and counts as two factors. A signed-in
//! user's ceremony state is kept server-side, under a random id, for five minutes, and used
//! once. A sign-in with a passkey alone is started by strangers, so its state writes nothing:
//! the browser carries it, signed with the installation's key, for five minutes; only a
//! sign-in that succeeded records its ceremony as spent, so that it is used once.

use heliogate_store::{Store, StoredPasskey, User};
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use heliogate_core::{SecretHash, ServerKey};

use crate::{event, new_secret, now, AppError, Result};

/// How long a ceremony waits for the browser.
const CEREMONY_SECONDS: i64 = 300;

/// What the signature of a passkey sign-in's state is for.
const SIGN_IN_PURPOSE: &str = "passkey-sign-in";

/// The relying party: heliogate, as its issuer names it.
pub struct Passkeys {
    webauthn: Webauthn,
    /// Signs the state of sign-ins that strangers start.
    key: ServerKey,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys").finish_non_exhaustive()
    }
}

impl Passkeys {
    /// The relying party for `issuer`: its host is the RP id, its origin the only one taken.
    /// `None` when the host cannot be an RP id (an IP address): passkeys need a domain name.
    pub fn for_issuer(issuer: &str, name: &str, key: ServerKey) -> Option<Self> {
        let origin = Url::parse(issuer).ok()?;
        let rp_id = origin.domain()?.to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .ok()?
            .rp_name(name)
            .build()
            .ok()?;
        Some(Self { webauthn, key })
    }

    /// A sign-in's state as the browser carries it: `payload.tag`, the payload its expiry, a
    /// random id and the state.
    fn seal_sign_in(&self, state: &DiscoverableAuthentication) -> String {
        let payload = serde_json::json!({
            "exp": now() + CEREMONY_SECONDS,
            "id": new_secret(),
            "state": state,
        });
        let text = URL_SAFE_NO_PAD.encode(payload.to_string());
        let tag = self.key.tag(SIGN_IN_PURPOSE, &text);
        format!("{text}.{tag}")
    }

    /// The id and state of a sign-in the browser carried back, if this installation signed it
    /// and it has not expired.
    fn open_sign_in(&self, ceremony: &str) -> Option<(String, DiscoverableAuthentication)> {
        let (text, tag) = ceremony.rsplit_once('.')?;
        if !self.key.verify(SIGN_IN_PURPOSE, text, tag) {
            return None;
        }
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        if payload["exp"].as_i64()? <= now() {
            return None;
        }
        let id = payload["id"].as_str()?.to_owned();
        let state = serde_json::from_value(payload["state"].clone()).ok()?;
        Some((id, state))
    }
}

/// A credential id as stored: base64url, as browsers give `PublicKeyCredential.id`.
fn credential_id(id: &webauthn_rs::prelude::CredentialID) -> String {
    URL_SAFE_NO_PAD.encode(id.as_ref())
}

fn refused(message: &str) -> AppError {
    AppError::Invalid(message.to_owned())
}

fn user_handle(user: &User) -> Result<Uuid> {
    Uuid::parse_str(&user.id).map_err(|_| refused("this account cannot hold passkeys"))
}

fn stored_key(stored: &StoredPasskey) -> Result<Passkey> {
    serde_json::from_str(&stored.passkey).map_err(|_| refused("a stored passkey is damaged"))
}

/// Keeps a ceremony's state; returns the id the browser sends back with its answer.
async fn keep<T: serde::Serialize>(
    store: &dyn Store,
    user_id: Option<&str>,
    state: &T,
) -> Result<String> {
    let id = new_secret();
    let state = serde_json::to_string(state).map_err(|_| refused("the ceremony failed"))?;
    store
        .put_challenge(
            &SecretHash::of(&id),
            user_id,
            &state,
            now() + CEREMONY_SECONDS,
        )
        .await?;
    Ok(id)
}

/// Takes a ceremony's state back, once; `None` when it expired, was used, or is another user's.
async fn take<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    id: &str,
    user_id: Option<&str>,
) -> Result<Option<T>> {
    let Some((owner, state)) = store.take_challenge(&SecretHash::of(id), now()).await? else {
        return Ok(None);
    };
    if owner.as_deref() != user_id {
        return Ok(None);
    }
    Ok(serde_json::from_str(&state).ok())
}

/// Starts registering a passkey for `user`: the options for `navigator.credentials.create`.
pub async fn begin_registration(
    store: &dyn Store,
    rp: &Passkeys,
    user: &User,
) -> Result<(String, serde_json::Value)> {
    let existing = store.passkeys(&user.id).await?;
    let exclude = existing
        .iter()
        .filter_map(|k| stored_key(k).ok())
        .map(|k| k.cred_id().clone())
        .collect::<Vec<_>>();
    let (options, state): (CreationChallengeResponse, _) = rp
        .webauthn
        .start_passkey_registration(user_handle(user)?, &user.name, &user.name, Some(exclude))
        .map_err(|_| refused("a passkey cannot be registered now"))?;
    // Ask for a discoverable credential where the authenticator can keep one, so that the
    // passkey also signs in without a user name.
    let mut options = serde_json::to_value(options).map_err(|_| refused("the ceremony failed"))?;
    options["publicKey"]["authenticatorSelection"]["residentKey"] = "preferred".into();
    let id = keep::<PasskeyRegistration>(store, Some(&user.id), &state).await?;
    Ok((id, options))
}

/// Completes a registration: the authenticator's answer, checked, kept under `name`.
pub async fn finish_registration(
    store: &dyn Store,
    rp: &Passkeys,
    user: &User,
    ceremony: &str,
    name: &str,
    credential: &RegisterPublicKeyCredential,
    addr: Option<&str>,
) -> Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(refused("name the passkey: 1 to 64 characters"));
    }
    let state: PasskeyRegistration = take(store, ceremony, Some(&user.id))
        .await?
        .ok_or_else(|| refused("the registration expired: start again"))?;
    let key = rp
        .webauthn
        .finish_passkey_registration(credential, &state)
        .map_err(|_| refused("the authenticator's answer was not accepted"))?;
    let stored = StoredPasskey {
        credential_id: credential_id(key.cred_id()),
        user_id: user.id.clone(),
        name: name.to_owned(),
        passkey: serde_json::to_string(&key).map_err(|_| refused("the passkey failed"))?,
        created_at: now(),
        last_used_at: None,
    };
    let added = event(
        "mfa.passkey_added",
        &user.name,
        Some(&user.name),
        addr,
        serde_json::json!({ "name": name }),
    );
    Ok(store.add_passkey(&stored, &added).await?)
}

/// Starts checking `user`'s passkeys as their second factor: the options for
/// `navigator.credentials.get`. `None` when they have none.
pub async fn begin_authentication(
    store: &dyn Store,
    rp: &Passkeys,
    user: &User,
) -> Result<Option<(String, RequestChallengeResponse)>> {
    let keys: Vec<Passkey> = store
        .passkeys(&user.id)
        .await?
        .iter()
        .filter_map(|k| stored_key(k).ok())
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let (options, state) = rp
        .webauthn
        .start_passkey_authentication(&keys)
        .map_err(|_| refused("passkeys cannot be checked now"))?;
    let id = keep::<PasskeyAuthentication>(store, Some(&user.id), &state).await?;
    Ok(Some((id, options)))
}

/// Records a use of the passkey that answered: its sign counter moves on.
async fn used(
    store: &dyn Store,
    stored: &StoredPasskey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<()> {
    let mut key = stored_key(stored)?;
    key.update_credential(result);
    let passkey = serde_json::to_string(&key).map_err(|_| refused("the passkey failed"))?;
    Ok(store
        .passkey_used(&stored.credential_id, &passkey, now())
        .await?)
}

/// Whether a passkey of `user` answered the ceremony `ceremony`.
pub async fn finish_authentication(
    store: &dyn Store,
    rp: &Passkeys,
    user: &User,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<bool> {
    let Some(state) = take::<PasskeyAuthentication>(store, ceremony, Some(&user.id)).await? else {
        return Ok(false);
    };
    let Ok(result) = rp
        .webauthn
        .finish_passkey_authentication(credential, &state)
    else {
        return Ok(false);
    };
    let Some(stored) = store.passkey(&credential_id(result.cred_id())).await? else {
        return Ok(false);
    };
    if stored.user_id != user.id {
        return Ok(false);
    }
    used(store, &stored, &result).await?;
    Ok(true)
}

/// Starts a sign-in with a discoverable passkey alone: the options for
/// `navigator.credentials.get`, for any account.
pub fn begin_sign_in(rp: &Passkeys) -> Result<(String, RequestChallengeResponse)> {
    let (mut options, state) = rp
        .webauthn
        .start_discoverable_authentication()
        .map_err(|_| refused("passkeys cannot be checked now"))?;
    // A button asks for the passkey: a modal request, not the autofill of conditional UI.
    options.mediation = None;
    Ok((rp.seal_sign_in(&state), options))
}

/// The user whose discoverable passkey answered the ceremony, if one did and they may sign in.
pub async fn finish_sign_in(
    store: &dyn Store,
    rp: &Passkeys,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<Option<User>> {
    let Some((id, state)) = rp.open_sign_in(ceremony) else {
        return Ok(None);
    };
    let Ok((handle, _)) = rp.webauthn.identify_discoverable_authentication(credential) else {
        return Ok(None);
    };
    let Some(stored) = store.passkey(&credential.id).await? else {
        return Ok(None);
    };
    if Uuid::parse_str(&stored.user_id).ok() != Some(handle) {
        return Ok(None);
    }
    let key = DiscoverableKey::from(stored_key(&stored)?);
    let Ok(result) = rp
        .webauthn
        .finish_discoverable_authentication(credential, state, &[key])
    else {
        return Ok(None);
    };
    // Used once: the first sign-in to record it as spent wins; a replay finds it recorded.
    let spent = store
        .put_challenge(
            &SecretHash::of(&id),
            None,
            "spent",
            now() + CEREMONY_SECONDS,
        )
        .await;
    match spent {
        Ok(()) => {}
        Err(heliogate_store::StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    used(store, &stored, &result).await?;
    Ok(store
        .user_by_id(&stored.user_id)
        .await?
        .filter(|u| !u.disabled))
}

/// Removes one of a user's passkeys.
pub async fn remove(
    store: &dyn Store,
    user: &User,
    credential_id: &str,
    addr: Option<&str>,
) -> Result<bool> {
    let removed = event(
        "mfa.passkey_removed",
        &user.name,
        Some(&user.name),
        addr,
        serde_json::json!({}),
    );
    Ok(store
        .delete_passkey(&user.id, credential_id, &removed)
        .await?)
}
