//! A user's sign-in sessions: listed with where and what they were used from, and ended one by
//! one — by the user, or by an administrator.

use heliogate_core::{describe_user_agent, SecretHash};
use heliogate_store::{Store, User};

use crate::admin::find_user;
use crate::{now, Actor, AppError, Result};

/// A live session as a list shows it. `handle` names it in a form: the hex of the stored hash
/// of its id, which cannot be turned back into the cookie.
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
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
            handle: hex(s.id_hash.as_bytes()),
            current: current.as_ref() == Some(&s.id_hash),
            device: describe_user_agent(s.user_agent.as_deref()),
            client_addr: s.client_addr,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        })
        .collect())
}

/// Ends `user`'s session named by `handle`; a handle that is none of theirs is `NotFound`.
pub async fn end_session(
    store: &dyn Store,
    actor: &Actor,
    user: &User,
    handle: &str,
) -> Result<()> {
    let not_found = || AppError::NotFound("no such session: it may have ended already".into());
    let id_hash = unhex(handle)
        .and_then(|bytes| SecretHash::from_slice(&bytes))
        .ok_or_else(not_found)?;
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
pub async fn end_session_of(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    handle: &str,
) -> Result<()> {
    let user = find_user(store, name).await?;
    end_session(store, actor, &user, handle).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_reads_back_as_the_hash_it_shows() {
        let hash = SecretHash::of("a session id");
        let handle = hex(hash.as_bytes());
        assert_eq!(SecretHash::from_slice(&unhex(&handle).unwrap()), Some(hash));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
    }
}
