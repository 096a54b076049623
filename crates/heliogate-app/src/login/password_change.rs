//! A signed-in user changing their own password.

use super::throttle::throttle_keys;
use super::throttle::Guess;
use super::LoginPolicy;
use crate::audit;
use crate::event;
use crate::invalid;
use crate::password_hashing;
use crate::App;
use crate::AppError;
use crate::Result;
use heliogate_core::check_new_password;
use heliogate_core::SecretHash;
use heliogate_core::UserName;
use heliogate_store::User;

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
