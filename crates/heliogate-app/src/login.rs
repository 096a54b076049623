//! Signing in and out, and a signed-in user changing their password.
//!
//! A sign-in costs the same and answers the same whether the account is unknown, disabled or
//! given a wrong password, so neither the answer nor its timing tells which. Failures are
//! counted in the store per account name and per client address, so that a lock holds on
//! every node.

use heliogate_core::{
    check_new_password, Attempt, SecretHash, SessionPolicy, ThrottlePolicy, UserName,
};
use heliogate_store::{NewSession, Session, Store, User};

use crate::{audit, event, invalid, new_secret, now, password_hashing, AppError, Result};

/// The rules of signing in, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    pub session: SessionPolicy,
    pub throttle: ThrottlePolicy,
}

/// Sessions are touched at most this often, so that browsing is not a write per request.
const TOUCH_INTERVAL: i64 = 60;

#[derive(Debug, Clone)]
pub struct LoginAttempt {
    pub name: String,
    pub password: String,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The session the browser held before, ended at a successful sign-in: the new session's
    /// id is never one the browser knew.
    pub replaces: Option<String>,
}

#[derive(Debug)]
pub enum SignIn {
    /// A new session; `session_id` goes to the browser and is stored only hashed.
    SignedIn { session_id: String, user: User },
    /// Wrong name or password, or a disabled account: the same answer for all three.
    Refused,
    /// Too many failures: try again in `retry_after` seconds.
    Throttled { retry_after: i64 },
}

/// The attempted name as the throttle and the audit log keep it: no longer than any user name
/// can be (what is beyond cannot tell accounts apart), so that whatever is sent, an attempt
/// writes a bounded record.
fn recorded_name(name: &str) -> String {
    let max = UserName::MAX_LEN;
    match name.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

fn throttle_keys(name: &str, addr: Option<&str>) -> Vec<(String, bool)> {
    let mut keys = vec![(format!("user:{name}"), true)];
    if let Some(addr) = addr {
        keys.push((format!("addr:{addr}"), false));
    }
    keys
}

/// Gives back attempts that were counted but are no wrong password, with their holds.
async fn release(store: &dyn Store, counts: &[(&String, i64, i64, bool)]) -> Result<()> {
    for (key, _, _, held) in counts {
        store.release_login_attempt(key, *held).await?;
    }
    Ok(())
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
    let threshold = |is_account: bool| {
        if is_account {
            policy.throttle.account_threshold
        } else {
            policy.throttle.address_threshold
        }
    };
    // Every attempt is counted before its password is checked, atomically with the check of
    // the lock (`ThrottlePolicy::count_attempt`): of any number of parallel guesses, on any
    // number of nodes, at most the threshold are checked before the key locks.
    let mut counts = Vec::with_capacity(keys.len());
    let mut locked_until = None;
    for (key, is_account) in &keys {
        let threshold = threshold(*is_account);
        match store
            .reserve_login_attempt(key, now, &policy.throttle, threshold)
            .await?
        {
            Attempt::Counted { count, held, .. } => counts.push((key, threshold, count, held)),
            Attempt::Locked { until } => locked_until = locked_until.max(Some(until)),
        }
    }
    if let Some(until) = locked_until {
        // Not checked: the counts it took are given back. Nothing is written to the audit log
        // for an attempt refused while locked: the lock itself was recorded with the failure
        // that set it, so a flood against a locked key costs no disk.
        release(store, &counts).await?;
        return Ok(SignIn::Throttled {
            retry_after: (until - now).max(1),
        });
    }
    let name = UserName::parse(&attempt.name).ok();
    let credentials = match &name {
        Some(name) => store.credentials(name).await?,
        None => None,
    };
    let (hash, enabled) = match credentials {
        Some(c) => (Some(c.password_hash), !c.disabled),
        None => (None, false),
    };
    let verified = match password_hashing::verify_async(hash, attempt.password).await {
        Ok(verified) => verified,
        Err(busy) => {
            release(store, &counts).await?;
            return Err(busy);
        }
    };
    if !(verified && enabled) {
        // A wrong password: its count stands, and a lock replaces any hold.
        let mut locked = serde_json::Map::new();
        for (key, threshold, count, _) in &counts {
            let lock = policy.throttle.lockout(*count, *threshold);
            if lock > 0 {
                store.lock_login(key, now + lock).await?;
                locked.insert((*key).clone(), lock.into());
            }
        }
        let detail = if locked.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "locked_seconds": locked })
        };
        audit(store, "login.failed", &shown, Some(&shown), addr, detail).await?;
        return Ok(SignIn::Refused);
    }
    // A right password clears its account's count, and was no failure of its address.
    store.clear_login_failures(&keys[0].0).await?;
    release(store, counts.get(1..).unwrap_or_default()).await?;
    let user = match &name {
        Some(name) => store.user_by_name(name).await?,
        None => None,
    }
    .ok_or_else(|| AppError::NotFound("the user vanished while signing in".into()))?;
    let session_id = new_secret();
    store
        .create_session(
            &NewSession {
                id_hash: SecretHash::of(&session_id),
                user_id: user.id.clone(),
                csrf_token: new_secret(),
                created_at: now,
                expires_at: policy.session.expires_at(now, now),
                client_addr: attempt.client_addr.clone(),
                user_agent: attempt.user_agent.map(|ua| ua.chars().take(256).collect()),
            },
            &event(
                "login.succeeded",
                &user.name,
                Some(&user.name),
                addr,
                serde_json::json!({}),
            ),
        )
        .await?;
    if let Some(old) = &attempt.replaces {
        let ended = event(
            "session.replaced",
            &user.name,
            Some(&user.name),
            addr,
            serde_json::json!({}),
        );
        store.delete_session(&SecretHash::of(old), &ended).await?;
    }
    Ok(SignIn::SignedIn { session_id, user })
}

/// The live session a browser's session id names, if any; keeps it alive while in use.
pub async fn current_session(
    store: &dyn Store,
    policy: &LoginPolicy,
    session_id: &str,
) -> Result<Option<Session>> {
    let now = now();
    let hash = SecretHash::of(session_id);
    let Some(mut session) = store.session(&hash, now).await? else {
        return Ok(None);
    };
    if now - session.last_seen_at >= TOUCH_INTERVAL {
        session.expires_at = policy.session.expires_at(session.created_at, now);
        session.last_seen_at = now;
        store.touch_session(&hash, now, session.expires_at).await?;
    }
    Ok(Some(session))
}

pub async fn sign_out(
    store: &dyn Store,
    session_id: &str,
    user: &str,
    addr: Option<&str>,
) -> Result<()> {
    let signed_out = event("logout", user, Some(user), addr, serde_json::json!({}));
    store
        .delete_session(&SecretHash::of(session_id), &signed_out)
        .await?;
    Ok(())
}

/// What the account page's password form sends.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
    pub confirm: String,
}

/// A signed-in user changes their own password: the current one is required, and every other
/// session of theirs ends.
pub async fn change_own_password(
    store: &dyn Store,
    policy: &LoginPolicy,
    session_id: &str,
    user: &User,
    change: PasswordChange,
    addr: Option<&str>,
) -> Result<()> {
    let name = UserName::parse(&user.name).map_err(invalid)?;
    // The current password is a guess like any sign-in: counted against the account first.
    let now = now();
    let key = format!("user:{}", user.name);
    let threshold = policy.throttle.account_threshold;
    let (count, held) = match store
        .reserve_login_attempt(&key, now, &policy.throttle, threshold)
        .await?
    {
        Attempt::Counted { count, held, .. } => (count, held),
        Attempt::Locked { until } => return Err(AppError::TooManyAttempts(until - now)),
    };
    let hash = store.credentials(&name).await?.map(|c| c.password_hash);
    let verified = match password_hashing::verify_async(hash, change.current).await {
        Ok(verified) => verified,
        Err(busy) => {
            store.release_login_attempt(&key, held).await?;
            return Err(busy);
        }
    };
    if !verified {
        let lock = policy.throttle.lockout(count, threshold);
        if lock > 0 {
            store.lock_login(&key, now + lock).await?;
        }
        audit(
            store,
            "password.change_failed",
            &user.name,
            Some(&user.name),
            addr,
            serde_json::json!({}),
        )
        .await?;
        return Err(AppError::Invalid("the current password is wrong".into()));
    }
    store.clear_login_failures(&key).await?;
    if change.new != change.confirm {
        return Err(AppError::Invalid("the new passwords do not match".into()));
    }
    check_new_password(&change.new).map_err(invalid)?;
    let hash = password_hashing::hash_async(change.new).await?;
    let changed = event(
        "user.password_changed",
        &user.name,
        Some(&user.name),
        addr,
        serde_json::json!({ "by": "self" }),
    );
    let keep = SecretHash::of(session_id);
    store
        .set_password_hash(&name, &hash, now, Some(&keep), &changed)
        .await?;
    Ok(())
}
