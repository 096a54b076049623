//! A user's sign-in sessions: listed with where and what they were used from, and ended one by
//! one — by the user, or by an administrator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use heliogate_core::{describe_user_agent, SecretHash};
use heliogate_store::{Store, User};

use crate::admin::find_user;
use crate::{now, Actor, App, AppError, Result};

/// A live session as a list shows it. `handle` names it in a form: the stored hash of its id
/// (`handle_of`), which cannot be turned back into the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub handle: String,
    /// The session this list is shown in.
    pub current: bool,
    /// The browser and system, in words.
    pub device: String,
    pub client_addr: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// The handle of a session: its stored hash, base64url (as a token's `token_id`).
fn handle_of(id_hash: &SecretHash) -> String {
    URL_SAFE_NO_PAD.encode(id_hash.as_bytes())
}

/// The stored hash a handle names, if it can name one.
fn hash_of(handle: &str) -> Option<SecretHash> {
    SecretHash::from_slice(&URL_SAFE_NO_PAD.decode(handle).ok()?)
}

/// `user`'s live sessions, most recently used first; `current` is the raw id of the session
/// asking, when it is theirs.
pub async fn list_sessions(
    store: &dyn Store,
    user: &User,
    current: Option<&str>,
) -> Result<Vec<SessionView>> {
    let current = current.map(SecretHash::of);
    Ok(store
        .user_sessions(&user.id, now())
        .await?
        .into_iter()
        .map(|s| SessionView {
            handle: handle_of(&s.id_hash),
            current: current.as_ref() == Some(&s.id_hash),
            device: describe_user_agent(s.user_agent.as_deref()),
            client_addr: s.client_addr,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        })
        .collect())
}

/// Ends `user`'s session named by `handle`, and with it the tokens issued through it (see
/// `login::sign_out`); a handle that is none of theirs is `NotFound`.
pub async fn end_session(app: &App, actor: &Actor, user: &User, handle: &str) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let not_found = || AppError::NotFound("no such session: it may have ended already".into());
    let id_hash = hash_of(handle).ok_or_else(not_found)?;
    let ended = actor.event("session.ended", &user.name, serde_json::json!({}));
    if store.end_session(&user.id, &id_hash, &ended).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// The live sessions of the user named `name`, for an administrator.
pub async fn sessions_of(store: &dyn Store, name: &str) -> Result<Vec<SessionView>> {
    let user = find_user(store, name).await?;
    list_sessions(store, &user, None).await
}

/// Ends a session of the user named `name`, for an administrator.
pub async fn end_session_of(app: &App, actor: &Actor, name: &str, handle: &str) -> Result<()> {
    let user = find_user(app.store(), name).await?;
    end_session(app, actor, &user, handle).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_reads_back_as_the_hash_it_shows() {
        let hash = SecretHash::of("a session id");
        let handle = handle_of(&hash);
        assert_eq!(hash_of(&handle), Some(hash));
        assert_eq!(hash_of("abc"), None);
        assert_eq!(hash_of("zz"), None);
        assert_eq!(hash_of("é1"), None);
    }
}
