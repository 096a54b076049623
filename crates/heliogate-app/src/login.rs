//! Signing in and out, and a signed-in user changing their password.
//!
//! A sign-in costs the same and answers the same whether the account is unknown, disabled or
//! given a wrong password, so neither the answer nor its timing tells which. Failures are
//! counted in the store per account name and per client address, so that a lock holds on
//! every node. A locked address refuses only accounts that have failures themselves.

use crate::App;
use heliogate_core::{
    check_new_password, Attempt, SecretHash, SessionPolicy, ThrottlePolicy, UnixTime, UserName,
};
use heliogate_store::{NewSession, Session, Store, User};

use crate::mfa::{self, CodeCheck};
use crate::oidc::sealing::KeyEncryptionKey;
use crate::passkeys::{self, Passkeys};
use crate::{audit, event, invalid, new_secret, now, password_hashing, AppError, Result};
use heliogate_core::legacy;
use webauthn_rs::prelude::PublicKeyCredential;

/// The rules of signing in, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    pub session: SessionPolicy,
    pub throttle: ThrottlePolicy,
}

/// Sessions are touched at most this often, so that browsing is not a write per request.
const TOUCH_INTERVAL: i64 = 60;

/// How long a sign-in waits for its second factor.
pub const MFA_PENDING_SECONDS: i64 = 300;

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

#[derive(Debug)]
pub enum SignIn {
    /// A new session; `session_id` goes to the browser and is stored only hashed.
    SignedIn { session_id: String, user: User },
    /// The password was right; the second factor is asked next (or set up, when a role
    /// requires one and the user has none). `pending_id` goes to the browser, grants nothing,
    /// and lasts `MFA_PENDING_SECONDS`.
    SecondFactor { pending_id: String, enrol: bool },
    /// The pending sign-in expired or was never there: start again.
    PendingExpired,
    /// Wrong name or password, or a disabled account: the same answer for all three.
    /// `locked`: this failure locked the name or the address (for metrics, never shown).
    Refused { locked: bool },
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

/// A password guess — a sign-in or the password form's current password — counted against its
/// throttle keys before it is checked, atomically with the check of each key's lock
/// (`ThrottlePolicy::count_attempt`): of any number of parallel guesses, on any number of
/// nodes, at most the threshold are checked before a key locks.
struct Guess<'k> {
    /// Each key with its threshold, this guess's count and whether it holds the key.
    counted: Vec<(&'k str, i64, i64, bool)>,
}

impl<'k> Guess<'k> {
    /// Counts a guess against `keys` (from `throttle_keys`); `Err` with the seconds until the
    /// latest lock ends when any key is locked, and then nothing stays counted.
    async fn count(
        store: &dyn Store,
        policy: &LoginPolicy,
        now: UnixTime,
        keys: &'k [(String, bool)],
    ) -> Result<Result<Guess<'k>, i64>> {
        let mut guess = Guess {
            counted: Vec::with_capacity(keys.len()),
        };
        let mut locked_until = None;
        // Whether the account (the first key) has no failures of its own, counted or in flight.
        let mut account_clean = false;
        for (key, is_account) in keys {
            let threshold = if *is_account {
                policy.throttle.account_threshold
            } else {
                policy.throttle.address_threshold
            };
            match store
                .reserve_login_attempt(key, now, &policy.throttle, threshold)
                .await?
            {
                Attempt::Counted { count, held, .. } => {
                    account_clean = *is_account && count == 1;
                    guess.counted.push((key, threshold, count, held))
                }
                // An address lock cannot keep out an account that has no failures: others at
                // the same address (a NAT, a proxy nobody declared) cannot lock its user out.
                // What it leaves a guesser is one try per clean account, which makes it not
                // clean for the address from then on.
                Attempt::Locked { .. } if !*is_account && account_clean => {}
                Attempt::Locked { until } => locked_until = locked_until.max(Some(until)),
            }
        }
        match locked_until {
            // Not checked: what it counted is given back. Nothing goes to the audit log: the
            // lock was recorded with the failure that set it, so a flood costs no disk.
            Some(until) => {
                guess.give_back(store, 0).await?;
                Ok(Err((until - now).max(1)))
            }
            None => Ok(Ok(guess)),
        }
    }

    /// Checks the password against `hash` (`None`: nobody's, at the same cost); a busy server
    /// gives the counts back.
    async fn check(
        &self,
        store: &dyn Store,
        hash: Option<String>,
        password: String,
    ) -> Result<bool> {
        match password_hashing::verify_async(hash, password).await {
            Ok(verified) => Ok(verified),
            Err(busy) => {
                self.give_back(store, 0).await?;
                Err(busy)
            }
        }
    }

    /// A wrong password: its counts stand, and each key past its threshold locks (replacing
    /// any hold). Returns the locks, in seconds by key, for the audit record.
    async fn failed(
        &self,
        store: &dyn Store,
        policy: &LoginPolicy,
        now: UnixTime,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        let mut locked = serde_json::Map::new();
        for (key, threshold, count, _) in &self.counted {
            let lock = policy.throttle.lockout(*count, *threshold);
            if lock > 0 {
                store.lock_login(key, now + lock).await?;
                locked.insert((*key).to_owned(), lock.into());
            }
        }
        Ok(locked)
    }

    /// A right password: the account's count is cleared, and it was no failure of the others.
    async fn succeeded(&self, store: &dyn Store) -> Result<()> {
        if let Some((account, ..)) = self.counted.first() {
            store.clear_login_failures(account).await?;
        }
        self.give_back(store, 1).await
    }

    /// Takes back the counts (and holds) of the keys from `skip` on.
    async fn give_back(&self, store: &dyn Store, skip: usize) -> Result<()> {
        for (key, _, _, held) in self.counted.iter().skip(skip) {
            store.release_login_attempt(key, *held).await?;
        }
        Ok(())
    }
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
    let (hash, enabled) = match credentials {
        Some(c) => (Some(c.password_hash), !c.disabled),
        None => (None, false),
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
    if !(verified && enabled) {
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
    }
    let user = match &name {
        Some(name) => store.user_by_name(name).await?,
        None => None,
    }
    .ok_or_else(|| AppError::NotFound("the user vanished while signing in".into()))?;
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
        let pending_id = new_secret();
        store
            .create_mfa_pending(
                &SecretHash::of(&pending_id),
                &user.id,
                now,
                now + MFA_PENDING_SECONDS,
            )
            .await?;
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

/// Where a sign-in comes from: what the new session records and replaces.
struct Started {
    client_addr: Option<String>,
    user_agent: Option<String>,
    replaces: Option<String>,
}

/// Starts a session for a user who has signed in as `amr` says.
async fn start_session(
    store: &dyn Store,
    policy: &LoginPolicy,
    user: User,
    started: Started,
    amr: &str,
) -> Result<SignIn> {
    let now = now();
    let addr = started.client_addr.as_deref();
    let session_id = new_secret();
    store
        .create_session(
            &NewSession {
                id_hash: SecretHash::of(&session_id),
                user_id: user.id.clone(),
                csrf_token: new_secret(),
                created_at: now,
                expires_at: policy.session.expires_at(now, now),
                client_addr: started.client_addr.clone(),
                user_agent: started.user_agent.map(|ua| ua.chars().take(256).collect()),
                amr: amr.to_owned(),
            },
            &event(
                "login.succeeded",
                &user.name,
                Some(&user.name),
                addr,
                serde_json::json!({ "amr": amr }),
            ),
        )
        .await?;
    if let Some(old) = &started.replaces {
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

/// What the second step of a sign-in gives.
#[derive(Debug, Clone)]
pub enum Proof {
    /// A code from the authenticator app (the first one confirms an app being set up) or a
    /// recovery code.
    Code(String),
    /// A passkey's answer to the ceremony `ceremony`.
    Passkey {
        ceremony: String,
        credential: Box<PublicKeyCredential>,
    },
}

/// The second step of a sign-in.
#[derive(Debug, Clone)]
pub struct FactorStep {
    pub pending_id: String,
    pub proof: Proof,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub replaces: Option<String>,
}

/// The user a pending sign-in is for, while it lasts and the user is enabled.
pub async fn pending_user(store: &dyn Store, pending_id: &str) -> Result<Option<User>> {
    let Some(user_id) = store
        .mfa_pending(&SecretHash::of(pending_id), now())
        .await?
    else {
        return Ok(None);
    };
    Ok(store.user_by_id(&user_id).await?.filter(|u| !u.disabled))
}

/// Completes a sign-in with its second factor. A wrong code counts against the account and
/// the address like a wrong password, and locks them the same way.
pub async fn complete_sign_in(
    store: &dyn Store,
    policy: &LoginPolicy,
    kek: Option<&KeyEncryptionKey>,
    rp: Option<&Passkeys>,
    step: FactorStep,
) -> Result<SignIn> {
    let now = now();
    let addr = step.client_addr.as_deref();
    let Some(user) = pending_user(store, &step.pending_id).await? else {
        return Ok(SignIn::PendingExpired);
    };
    let keys = throttle_keys(&user.name, addr);
    let guess = match Guess::count(store, policy, now, &keys).await? {
        Ok(guess) => guess,
        Err(retry_after) => return Ok(SignIn::Throttled { retry_after }),
    };
    let checked = match &step.proof {
        Proof::Code(code) => mfa::check_code(store, kek, &user, code, addr).await,
        Proof::Passkey {
            ceremony,
            credential,
        } => match rp {
            Some(rp) => passkeys::finish_authentication(store, rp, &user, ceremony, credential)
                .await
                .map(|ok| {
                    if ok {
                        CodeCheck::Passkey
                    } else {
                        CodeCheck::Wrong
                    }
                }),
            None => Ok(CodeCheck::Wrong),
        },
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) => {
            guess.give_back(store, 0).await?;
            return Err(e);
        }
    };
    if checked == CodeCheck::Wrong {
        let locked = guess.failed(store, policy, now).await?;
        let detail = if locked.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "locked_seconds": locked })
        };
        audit(
            store,
            "login.second_factor_failed",
            &user.name,
            Some(&user.name),
            addr,
            detail,
        )
        .await?;
        return Ok(SignIn::Refused {
            locked: !locked.is_empty(),
        });
    }
    guess.succeeded(store).await?;
    store
        .delete_mfa_pending(&SecretHash::of(&step.pending_id))
        .await?;
    let started = Started {
        client_addr: step.client_addr,
        user_agent: step.user_agent,
        replaces: step.replaces,
    };
    let amr = if checked == CodeCheck::Passkey {
        "pwd hwk mfa"
    } else {
        "pwd otp mfa"
    };
    start_session(store, policy, user, started, amr).await
}

/// A sign-in with a discoverable passkey alone: with user verification it is two factors.
#[derive(Debug, Clone)]
pub struct PasskeySignIn {
    pub ceremony: String,
    pub credential: Box<PublicKeyCredential>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub replaces: Option<String>,
}

pub async fn sign_in_with_passkey(
    store: &dyn Store,
    policy: &LoginPolicy,
    rp: &Passkeys,
    attempt: PasskeySignIn,
) -> Result<SignIn> {
    let addr = attempt.client_addr.as_deref();
    let Some(user) =
        passkeys::finish_sign_in(store, rp, &attempt.ceremony, &attempt.credential).await?
    else {
        audit(
            store,
            "login.passkey_failed",
            "passkey",
            None,
            addr,
            serde_json::json!({}),
        )
        .await?;
        return Ok(SignIn::Refused { locked: false });
    };
    let started = Started {
        client_addr: attempt.client_addr,
        user_agent: attempt.user_agent,
        replaces: attempt.replaces,
    };
    start_session(store, policy, user, started, "hwk mfa").await
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
    app: &App,
    policy: &LoginPolicy,
    session_id: &str,
    user: &User,
    change: PasswordChange,
    addr: Option<&str>,
) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let name = UserName::parse(&user.name).map_err(invalid)?;
    // The current password is a guess like any sign-in's: counted against the account first.
    let now = app.now();
    let keys = throttle_keys(&user.name, None);
    let guess = match Guess::count(store, policy, now, &keys).await? {
        Ok(guess) => guess,
        Err(retry_after) => return Err(AppError::TooManyAttempts(retry_after)),
    };
    let hash = store.credentials(&name).await?.map(|c| c.password_hash);
    if !guess.check(store, hash, change.current).await? {
        guess.failed(store, policy, now).await?;
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
    guess.succeeded(store).await?;
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

/// The public id of a sign-in session (OpenID Connect `sid`): a hash of the hash that the
/// store keeps, so it names the session without revealing or unlocking it.
pub fn session_sid(session_id: &str) -> String {
    let stored = SecretHash::of(session_id);
    let mut input = b"heliogate sid ".to_vec();
    input.extend_from_slice(stored.as_bytes());
    let derived = SecretHash::of_bytes(&input);
    heliogate_core::encode_secret(derived.0)[..22].to_owned()
}
