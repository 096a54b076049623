//! Sign-in sessions: started, kept alive while in use, ended.

use super::LoginPolicy;
use super::SignIn;
use crate::event;
use crate::new_secret;
use crate::now;
use crate::App;
use crate::Result;
use heliogate_core::SecretHash;
use heliogate_store::NewSession;
use heliogate_store::Session;
use heliogate_store::Store;
use heliogate_store::User;

/// Sessions are touched at most this often, so that browsing is not a write per request.
pub(super) const TOUCH_INTERVAL: i64 = 60;

/// Where a sign-in comes from: what the new session records and replaces.
pub(crate) struct Started {
    pub(crate) client_addr: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) replaces: Option<String>,
}

/// Starts a session for a user who has signed in as `amr` says.
pub(crate) async fn start_session(
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

/// Ends a session. The store ends the tokens issued through it with it (but `offline_access`
/// refresh tokens), so this node forgets the checks it trusts for a second.
pub async fn sign_out(app: &App, session_id: &str, user: &str, addr: Option<&str>) -> Result<()> {
    let _changed = app.on_change();
    let signed_out = event("logout", user, Some(user), addr, serde_json::json!({}));
    app.store()
        .delete_session(&SecretHash::of(session_id), &signed_out)
        .await?;
    Ok(())
}

/// The public id of a sign-in session (OpenID Connect `sid`): a hash of the hash that the
/// store keeps, so it names the session without revealing or unlocking it.
pub fn session_sid(session_id: &str) -> String {
    SecretHash::of(session_id).session_sid()
}
