//! The password step of a sign-in.

use super::second_factor::await_second_factor;
use super::session::start_session;
use super::session::Started;
use super::throttle::recorded_name;
use super::throttle::throttle_keys;
use super::throttle::Guess;
use super::LoginPolicy;
use super::SignIn;
use crate::audit;
use crate::event;
use crate::mfa;
use crate::now;
use crate::password_hashing;
use crate::Result;
use heliogate_core::legacy;
use heliogate_core::upstream;
use heliogate_core::UserName;
use heliogate_store::Store;

#[derive(Debug, Clone)]
pub struct LoginAttempt {
    pub name: String,
    pub password: String,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The session the browser held before, ended at a successful sign-in: the new session's
    /// id is never one the browser knew.
    pub replaces: Option<String>,
    /// A second factor is asked for (or set up) whatever the user's roles require: an
    /// application asked for it (`acr_values=mfa`).
    pub require_mfa: bool,
}

pub async fn sign_in(
    store: &dyn Store,
    policy: &LoginPolicy,
    attempt: LoginAttempt,
) -> Result<SignIn> {
    let now = now();
    let addr = attempt.client_addr.as_deref();
    let shown = recorded_name(&attempt.name);
    let keys = throttle_keys(&shown, addr);
    let guess = match Guess::count(store, policy, now, &keys).await? {
        Ok(guess) => guess,
        Err(retry_after) => return Ok(SignIn::Throttled { retry_after }),
    };
    let name = UserName::parse(&attempt.name).ok();
    let credentials = match &name {
        Some(name) => store.credentials(name).await?,
        None => None,
    };
    let (hash, user) = match credentials {
        Some(c) => (
            Some(c.password_hash).filter(|h| h != upstream::NO_PASSWORD),
            Some(c.user),
        ),
        None => (None, None),
    };
    // A hash carried over from the original design (`heliogate import`) is checked here once;
    // the Argon2 check runs all the same (on no hash), so that the time an answer takes does
    // not tell such an account from any other.
    let legacy = hash.clone().filter(|h| legacy::is_legacy_hash(h));
    let verified = match (&legacy, &name) {
        (Some(stored), Some(name)) => {
            guess.check(store, None, attempt.password.clone()).await?;
            legacy::legacy_md5_matches(stored, name.as_str(), &attempt.password)
        }
        _ => guess.check(store, hash, attempt.password.clone()).await?,
    };
    let user = user.filter(|u| verified && !u.disabled);
    let Some(user) = user else {
        let locked = guess.failed(store, policy, now).await?;
        let detail = if locked.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "locked_seconds": locked })
        };
        audit(store, "login.failed", &shown, Some(&shown), addr, detail).await?;
        return Ok(SignIn::Refused {
            locked: !locked.is_empty(),
        });
    };
    if let Some(stored) = legacy {
        let upgraded = password_hashing::hash_async(attempt.password).await?;
        let event = event(
            "user.password_upgraded",
            user.name.as_str(),
            Some(user.name.as_str()),
            addr,
            serde_json::json!({"from": "legacy-md5"}),
        );
        store
            .upgrade_password_hash(&user.id, &stored, &upgraded, &event)
            .await?;
    }
    let factors = mfa::status(store, &user.id).await?;
    let has_factor = factors.any();
    if has_factor || attempt.require_mfa || factors.required {
        // Not a failure, but no success yet: the account's failures stand until the second
        // factor is given, so that a known password does not reset the count of wrong codes.
        guess.give_back(store, 0).await?;
        let pending_id = await_second_factor(store, &user.id, "pwd").await?;
        return Ok(SignIn::SecondFactor {
            pending_id,
            enrol: !has_factor,
        });
    }
    guess.succeeded(store).await?;
    let started = Started {
        client_addr: attempt.client_addr,
        user_agent: attempt.user_agent,
        replaces: attempt.replaces,
    };
    start_session(store, policy, user, started, "pwd").await
}
