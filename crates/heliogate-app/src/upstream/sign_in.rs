//! The round trip of a sign-in through an upstream: the user sent to the provider with a
//! `state` (kept one-shot in the store, and in a cookie of the browser that started it), a
//! `nonce` and a PKCE challenge; the answer checked, the code exchanged, the ID token verified;
//! then the user's session (or their second factor), and the way back to where they were.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use heliogate_core::upstream::{federated_amr, upstream_shows_mfa, Expected, Preset};
use heliogate_core::SecretHash;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::accounts::{user_for, Identity};
use super::{callback_uri, Failure, Settings};
use crate::login::{await_second_factor, start_session, LoginPolicy, SignIn, Started};
use crate::oidc::sealing::KeyEncryptionKey;
use crate::{audit, mfa, new_secret, App, AppError, Result};

/// How long a sign-in may stay at the provider.
pub const STATE_SECONDS: i64 = 600;

/// What a sign-in keeps while the user is at the provider.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    upstream: String,
    nonce: String,
    verifier: String,
    next: String,
}

/// A sign-in sent to its provider: `state` goes in a cookie of the browser, which goes to
/// `location`.
#[derive(Debug)]
pub struct Begun {
    pub state: String,
    pub location: String,
}

async fn settings_of(app: &App, kek: Option<&KeyEncryptionKey>, name: &str) -> Result<Settings> {
    let stored = app
        .store()
        .upstream(name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no upstream named {name:?}")))?;
    Settings::read(&stored, kek)
}

/// Starts a sign-in through `name` that comes back to `next` (a path here).
pub async fn begin_sign_in(
    app: &App,
    kek: Option<&KeyEncryptionKey>,
    issuer: &str,
    name: &str,
    next: &str,
) -> Result<Result<Begun, Failure>> {
    let settings = settings_of(app, kek, name).await?;
    let metadata = match app.providers().metadata(&settings).await {
        Ok(m) => m,
        Err(failure) => return Ok(Err(failure)),
    };
    let state = new_secret();
    let pending = Pending {
        upstream: settings.name.to_string(),
        nonce: new_secret(),
        verifier: new_secret(),
        next: next.to_owned(),
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
    let mut location = url::Url::parse(&metadata.authorization_endpoint).map_err(crate::invalid)?;
    location
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair(
            "redirect_uri",
            &callback_uri(issuer, settings.name.as_str()),
        )
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let kept = serde_json::to_string(&pending).map_err(crate::invalid)?;
    app.store()
        .put_challenge(
            &SecretHash::of(&state),
            None,
            &kept,
            app.now() + STATE_SECONDS,
        )
        .await?;
    Ok(Ok(Begun {
        state,
        location: location.into(),
    }))
}

/// The provider's answer at the callback, and the browser it came to.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    /// RFC 9207's `iss`.
    pub iss: Option<String>,
    pub error: Option<String>,
    /// The `state` the browser kept in its cookie when the sign-in began.
    pub browser_state: Option<String>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub replaces: Option<String>,
}

/// How a sign-in through an upstream ended.
#[derive(Debug)]
pub enum Finished {
    /// Signed in, or waiting for the second factor; then on to `next`.
    SignedIn {
        signed: SignIn,
        next: String,
    },
    Refused(Failure),
}

/// Finishes a sign-in at the callback of the upstream `name`.
pub async fn finish_sign_in(
    app: &App,
    kek: Option<&KeyEncryptionKey>,
    policy: &LoginPolicy,
    issuer: &str,
    name: &str,
    callback: Callback,
) -> Result<Finished> {
    let addr = callback.client_addr.clone();
    let outcome = finish(app, kek, policy, issuer, name, callback).await?;
    if let Err(failure) = &outcome {
        audit(
            app.store(),
            "login.upstream_failed",
            &format!("upstream:{name}"),
            None,
            addr.as_deref(),
            serde_json::json!({ "reason": failure.code() }),
        )
        .await?;
    }
    Ok(match outcome {
        Ok((signed, next)) => Finished::SignedIn { signed, next },
        Err(failure) => Finished::Refused(failure),
    })
}

async fn finish(
    app: &App,
    kek: Option<&KeyEncryptionKey>,
    policy: &LoginPolicy,
    issuer: &str,
    name: &str,
    callback: Callback,
) -> Result<Result<(SignIn, String), Failure>> {
    let store = app.store();
    let Some(state) = callback.state.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(Err(Failure::UnknownState));
    };
    // The state must be the one this browser was given: a code sent to another's browser
    // signs nobody in there (login CSRF).
    let state_hash = SecretHash::of(state);
    let same_browser = callback
        .browser_state
        .as_deref()
        .is_some_and(|kept| state_hash.matches(kept));
    if !same_browser {
        return Ok(Err(Failure::UnknownState));
    }
    let Some((_, kept)) = store
        .take_challenge(&SecretHash::of(state), app.now())
        .await?
    else {
        return Ok(Err(Failure::UnknownState));
    };
    let Ok(pending) = serde_json::from_str::<Pending>(&kept) else {
        return Ok(Err(Failure::UnknownState));
    };
    if pending.upstream != name {
        return Ok(Err(Failure::UnknownState));
    }
    let settings = settings_of(app, kek, name).await?;
    if let Some(error) = &callback.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Ok(Err(Failure::ProviderError(error)));
    }
    let providers = app.providers();
    let metadata = match providers.metadata(&settings).await {
        Ok(m) => m,
        Err(failure) => return Ok(Err(failure)),
    };
    // RFC 9207 §2.4: an `iss` that is not the provider's is a mix-up; a provider that says it
    // sends one must have sent it.
    match &callback.iss {
        Some(iss) if iss != settings.issuer.as_str() => return Ok(Err(Failure::MixUp)),
        None if metadata.authorization_response_iss_parameter_supported => {
            return Ok(Err(Failure::MixUp))
        }
        _ => {}
    }
    let Some(code) = callback.code.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(Err(Failure::Garbled));
    };
    let redirect_uri = callback_uri(issuer, name);
    let tokens = match providers
        .exchange(&settings, &metadata, code, &redirect_uri, &pending.verifier)
        .await
    {
        Ok(t) => t,
        Err(failure) => return Ok(Err(failure)),
    };
    let claims = match settings.preset {
        Preset::Oidc => {
            let Some(id_token) = tokens.id_token.as_deref() else {
                return Ok(Err(Failure::Garbled));
            };
            let expected = Expected {
                issuer: settings.issuer.as_str(),
                client_id: &settings.client_id,
                nonce: &pending.nonce,
                now: app.now(),
            };
            let mut claims = match providers
                .verify_id_token(&metadata, id_token, expected)
                .await
            {
                Ok(c) => c,
                Err(failure) => return Ok(Err(failure)),
            };
            if let (Some(token), Some(Value::String(sub))) =
                (tokens.access_token.as_deref(), claims.get("sub").cloned())
            {
                match providers.userinfo(&metadata, token, &sub).await {
                    Ok(more) => {
                        // The ID token's claims stand; the user info adds what it left out.
                        for (k, v) in more {
                            claims.entry(k).or_insert(v);
                        }
                    }
                    Err(failure) => return Ok(Err(failure)),
                }
            }
            claims
        }
        Preset::Github => {
            let Some(token) = tokens.access_token.as_deref() else {
                return Ok(Err(Failure::Garbled));
            };
            match providers.github_user(&metadata, token).await {
                Ok(c) => c,
                Err(failure) => return Ok(Err(failure)),
            }
        }
    };
    let identity = Identity::from_claims(&claims, settings.role_claim.as_deref());
    let addr = callback.client_addr.as_deref();
    let user = match user_for(app, &settings, &identity, addr).await? {
        Ok(user) => user,
        Err(failure) => return Ok(Err(failure)),
    };
    let upstream_amr: Vec<String> = match claims.get("amr") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let acr = claims.get("acr").and_then(Value::as_str);
    let mut amr = federated_amr(&upstream_amr);
    let vouched = settings.trust_mfa && upstream_shows_mfa(&upstream_amr, acr);
    if vouched && !amr.split(' ').any(|m| m == "mfa") {
        amr.push_str(" mfa");
    }
    let factors = mfa::status(store, &user.id).await?;
    let signed = if (factors.any() || factors.required) && !vouched {
        let pending_id = await_second_factor(store, &user.id, &amr).await?;
        SignIn::SecondFactor {
            pending_id,
            enrol: !factors.any(),
        }
    } else {
        let started = Started {
            client_addr: callback.client_addr,
            user_agent: callback.user_agent,
            replaces: callback.replaces,
        };
        start_session(store, policy, user, started, &amr).await?
    };
    Ok(Ok((signed, pending.next)))
}
