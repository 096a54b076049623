//! Second factors, as a user manages their own and an administrator requires or resets them:
//! an authenticator app (TOTP) and single-use recovery codes. Signing in with them is in
//! `login`.

use crate::App;
use heliogate_core::mfa::{RecoveryCode, TotpSecret, RECOVERY_CODES};
use heliogate_core::RoleName;
use heliogate_store::{Store, User};
use rand::RngCore;

use crate::admin::find_user;
use crate::oidc::sealing::{self, KeyEncryptionKey};
use crate::{event, invalid, now, Actor, AppError, Result};

/// A user's second factors, as their account page and `user show` tell them: never a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FactorStatus {
    /// An authenticator app is set up and confirmed.
    pub totp: bool,
    /// How many passkeys or security keys are registered.
    pub passkeys: u32,
    pub recovery_codes_left: u32,
    /// A role of theirs requires a second factor.
    pub required: bool,
}

impl FactorStatus {
    /// The user has a second factor to give.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub async fn status(store: &dyn Store, user_id: &str) -> Result<FactorStatus> {
    let totp = store
        .totp_factor(user_id)
        .await?
        .is_some_and(|f| f.confirmed);
    let passkeys = u32::try_from(store.passkeys(user_id).await?.len()).unwrap_or(u32::MAX);
    Ok(FactorStatus {
        totp,
        passkeys,
        recovery_codes_left: store.recovery_codes_left(user_id).await?,
        required: store.mfa_required(user_id).await?,
    })
}

/// An authenticator app being set up: what the user scans or types.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The `otpauth://` URI, for a QR code.
    pub uri: String,
    /// The secret in base32, for typing.
    pub text: String,
}

/// Where a TOTP secret is sealed: bound to its user.
fn aad(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// Starts setting up an authenticator app, or goes on with the one being set up (so that a
/// page shown again shows the secret already scanned); it counts once a first code confirms
/// it. `Conflict` when one is set up already.
pub async fn begin_totp(
    store: &dyn Store,
    kek: Option<&KeyEncryptionKey>,
    issuer: &str,
    user: &User,
) -> Result<Enrolment> {
    match totp_secret(store, kek, &user.id).await? {
        Some((_, true, _)) => {
            return Err(AppError::Conflict(
                "an authenticator app is set up already: remove it first".into(),
            ))
        }
        Some((secret, false, _)) => {
            return Ok(Enrolment {
                uri: secret.uri(issuer, &user.name),
                text: secret.to_text(),
            })
        }
        None => {}
    }
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = TotpSecret::from_bytes(bytes);
    let sealed = sealing::seal(kek, &aad(&user.id), secret.as_bytes().to_vec())?;
    store.begin_totp(&user.id, &sealed, now()).await?;
    Ok(Enrolment {
        uri: secret.uri(issuer, &user.name),
        text: secret.to_text(),
    })
}

/// A user's authenticator secret and whether it is confirmed, opened.
async fn totp_secret(
    store: &dyn Store,
    kek: Option<&KeyEncryptionKey>,
    user_id: &str,
) -> Result<Option<(TotpSecret, bool, i64)>> {
    let Some(factor) = store.totp_factor(user_id).await? else {
        return Ok(None);
    };
    let opened = sealing::open(kek, &aad(user_id), &factor.secret)?;
    let secret = TotpSecret::from_slice(&opened)
        .ok_or_else(|| AppError::Invalid("a stored authenticator secret is damaged".into()))?;
    Ok(Some((secret, factor.confirmed, factor.last_step)))
}

/// What a code given for a second factor was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The current code of a confirmed authenticator app, not used before.
    Totp,
    /// The first code of an authenticator app being set up, which is confirmed now.
    Enrolled,
    /// One of the user's unused recovery codes, used up now.
    Recovery,
    /// One of the user's passkeys answered.
    Passkey,
    Wrong,
}

/// Checks a code for `user`'s second factor: their authenticator's (confirming it when it is
/// being set up) or a recovery code. Each is accepted once, also across nodes.
pub async fn check_code(
    store: &dyn Store,
    kek: Option<&KeyEncryptionKey>,
    user: &User,
    code: &str,
    addr: Option<&str>,
) -> Result<CodeCheck> {
    let now = now();
    if let Some((secret, confirmed, last_step)) = totp_secret(store, kek, &user.id).await? {
        if let Some(step) = secret.verify(code, now, last_step) {
            if confirmed {
                if store.use_totp_step(&user.id, step).await? {
                    return Ok(CodeCheck::Totp);
                }
            } else {
                let enrolled = event(
                    "mfa.totp_enrolled",
                    &user.name,
                    Some(&user.name),
                    addr,
                    serde_json::json!({}),
                );
                if store.confirm_totp(&user.id, step, &enrolled).await? {
                    return Ok(CodeCheck::Enrolled);
                }
            }
        }
    }
    if let Some(hash) = RecoveryCode::hash_of_typed(code) {
        let used = event(
            "mfa.recovery_code_used",
            &user.name,
            Some(&user.name),
            addr,
            serde_json::json!({ "left": store.recovery_codes_left(&user.id).await?.saturating_sub(1) }),
        );
        if store.use_recovery_code(&user.id, &hash, now, &used).await? {
            return Ok(CodeCheck::Recovery);
        }
    }
    Ok(CodeCheck::Wrong)
}

/// Gives a user ten new recovery codes, shown this once; the old ones stop working.
pub async fn new_recovery_codes(
    store: &dyn Store,
    user: &User,
    addr: Option<&str>,
) -> Result<Vec<RecoveryCode>> {
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut random = [0u8; 10];
            rand::thread_rng().fill_bytes(&mut random);
            RecoveryCode::from_random(random)
        })
        .collect();
    let hashes: Vec<_> = codes.iter().filter_map(RecoveryCode::hash).collect();
    let made = event(
        "mfa.recovery_codes_created",
        &user.name,
        Some(&user.name),
        addr,
        serde_json::json!({}),
    );
    store.set_recovery_codes(&user.id, &hashes, &made).await?;
    Ok(codes)
}

/// A user removes their own authenticator app and recovery codes.
pub async fn remove_own(store: &dyn Store, user: &User, addr: Option<&str>) -> Result<bool> {
    let removed = event(
        "mfa.reset",
        &user.name,
        Some(&user.name),
        addr,
        serde_json::json!({ "by": "self" }),
    );
    Ok(store.reset_factors(&user.id, &removed).await?)
}

/// An administrator removes a user's second factors after they lost them.
pub async fn reset(store: &dyn Store, actor: &Actor, name: &str) -> Result<bool> {
    let user = find_user(store, name).await?;
    let removed = actor.event("mfa.reset", &user.name, serde_json::json!({}));
    Ok(store.reset_factors(&user.id, &removed).await?)
}

/// Requires a second factor of a role's users, or stops requiring it.
pub async fn set_role_mfa(app: &App, actor: &Actor, role: &str, required: bool) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let role = RoleName::parse(role).map_err(invalid)?;
    let changed = actor.event(
        "role.mfa_changed",
        role.as_str(),
        serde_json::json!({ "required": required }),
    );
    Ok(store.set_role_mfa(&role, required, &changed).await?)
}
