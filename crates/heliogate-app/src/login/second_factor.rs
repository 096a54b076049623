//! The second step of a sign-in: a code from an authenticator app, a recovery code or a
//! passkey, after the password.

use super::session::start_session;
use super::session::Started;
use super::throttle::throttle_keys;
use super::throttle::Guess;
use super::LoginPolicy;
use super::SignIn;
use crate::audit;
use crate::mfa;
use crate::mfa::CodeCheck;
use crate::now;
use crate::oidc::sealing::KeyEncryptionKey;
use crate::passkeys;
use crate::passkeys::Passkeys;
use crate::Result;
use heliogate_core::SecretHash;
use heliogate_store::Store;
use heliogate_store::User;
use webauthn_rs::prelude::PublicKeyCredential;

/// How long a sign-in waits for its second factor.
pub const MFA_PENDING_SECONDS: i64 = 300;

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
    Ok(pending(store, pending_id).await?.map(|(user, _)| user))
}

/// A pending sign-in's user and how its first step went (its `amr`).
async fn pending(store: &dyn Store, pending_id: &str) -> Result<Option<(User, String)>> {
    let Some((user_id, amr)) = store
        .mfa_pending(&SecretHash::of(pending_id), now())
        .await?
    else {
        return Ok(None);
    };
    let user = store.user_by_id(&user_id).await?.filter(|u| !u.disabled);
    Ok(user.map(|u| (u, amr)))
}

/// Starts a sign-in's second step for `user`, whose first step went as `amr` says; the id
/// goes to the browser.
pub(crate) async fn await_second_factor(
    store: &dyn Store,
    user_id: &str,
    amr: &str,
) -> Result<String> {
    let now = now();
    let pending_id = crate::new_secret();
    store
        .create_mfa_pending(
            &SecretHash::of(&pending_id),
            user_id,
            amr,
            now,
            now + MFA_PENDING_SECONDS,
        )
        .await?;
    Ok(pending_id)
}

/// A session's `amr` after a second factor (`otp` or `hwk`) on a first step that went as
/// `first` says: each method once, `mfa` last.
fn with_second_factor(first: &str, second: &str) -> String {
    let mut methods: Vec<&str> = first.split_whitespace().filter(|m| *m != "mfa").collect();
    if !methods.contains(&second) {
        methods.push(second);
    }
    methods.push("mfa");
    methods.join(" ")
}

/// What the second-factor page offers a pending sign-in.
#[derive(Debug)]
pub struct FactorPage {
    /// An authenticator app to set up, when the user has no second factor yet.
    pub enrolment: Option<mfa::Enrolment>,
    /// The user has a passkey to give instead of a code.
    pub has_passkey: bool,
}

/// The second-factor page of the pending sign-in `pending_id` (`issuer` names the account in
/// an app being set up); `None` when the sign-in is gone.
pub async fn factor_page(
    store: &dyn Store,
    kek: Option<&KeyEncryptionKey>,
    issuer: &str,
    pending_id: &str,
) -> Result<Option<FactorPage>> {
    let Some(user) = pending_user(store, pending_id).await? else {
        return Ok(None);
    };
    let factors = mfa::status(store, &user.id).await?;
    let enrolment = if factors.any() {
        None
    } else {
        Some(mfa::begin_totp(store, kek, issuer, &user).await?)
    };
    Ok(Some(FactorPage {
        enrolment,
        has_passkey: factors.passkeys > 0,
    }))
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
    let Some((user, first)) = pending(store, &step.pending_id).await? else {
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
    let second = if checked == CodeCheck::Passkey {
        "hwk"
    } else {
        "otp"
    };
    let amr = with_second_factor(&first, second);
    start_session(store, policy, user, started, &amr).await
}

#[cfg(test)]
mod tests {
    use super::with_second_factor;

    #[test]
    fn the_second_factor_follows_the_first_step_in_the_amr() {
        assert_eq!(with_second_factor("pwd", "otp"), "pwd otp mfa");
        assert_eq!(with_second_factor("pwd", "hwk"), "pwd hwk mfa");
        assert_eq!(with_second_factor("fed pwd", "otp"), "fed pwd otp mfa");
        assert_eq!(with_second_factor("fed otp mfa", "otp"), "fed otp mfa");
    }
}
