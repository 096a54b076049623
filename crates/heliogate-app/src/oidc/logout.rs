//! OpenID Connect RP-Initiated Logout 1.0: an application signs the user out of heliogate and
//! gets the browser back at a URI registered for it.

use heliogate_core::oauth::Params;
use heliogate_core::ClientId;
use heliogate_store::{Store, User};

use super::keys::key_ring;
use crate::oauth::OAuthState;
use crate::Result;

/// What to do with a sign-out request.
#[derive(Debug, PartialEq, Eq)]
pub enum Logout {
    /// The request is not acceptable (a hint heliogate did not sign, an unknown client, a URI
    /// not registered): say so, redirect nowhere.
    Refused(String),
    /// Someone is signed in and the request does not prove it comes from their application:
    /// ask them first; then as `SignOut`.
    Confirm {
        client_name: Option<String>,
        then: Option<String>,
    },
    /// End the session (if any), then go to `then` (or show that the user is signed out).
    SignOut { then: Option<String> },
}

fn refused(message: &str) -> Result<Logout> {
    Ok(Logout::Refused(message.to_owned()))
}

/// Decides a sign-out request (`id_token_hint`, `client_id`, `post_logout_redirect_uri`,
/// `state`) for the user signed in now, if any.
pub async fn decide_logout(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    current: Option<&User>,
) -> Result<Logout> {
    let get = |name: &str| params.get(name).ok().flatten().filter(|v| !v.is_empty());
    if params.check_text().is_err() {
        return refused("The sign-out request has characters that are not allowed.");
    }
    let hint = match get("id_token_hint") {
        Some(token) => match key_ring(store, config)
            .await?
            .verify_hint(&config.issuer, token)
        {
            Some(claims) => Some(claims),
            None => {
                return refused("The sign-out request names an ID token this server did not issue.")
            }
        },
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c["aud"].as_str().map(str::to_owned));
    let client_id = match (hinted_client, get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return refused("The sign-out request names two different applications.")
        }
        (Some(a), _) => Some(a),
        (None, b) => b.map(str::to_owned),
    };
    let client = match client_id.as_deref() {
        Some(id) => match ClientId::parse(id) {
            Ok(id) => match store.client(&id).await? {
                Some(client) => Some(client),
                None => return refused("The application that sent you here is not registered."),
            },
            Err(_) => return refused("The application that sent you here is not registered."),
        },
        None => None,
    };
    let then = match get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered = client.as_ref().is_some_and(|c| {
                c.post_logout_redirect_uris
                    .iter()
                    .any(|r| r.as_str() == uri)
            });
            if !registered {
                return refused(
                    "The address to return to after signing out is not registered for the application.",
                );
            }
            let mut url = match url::Url::parse(uri) {
                Ok(url) => url,
                Err(_) => return refused("The address to return to is not valid."),
            };
            if let Some(state) = get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
        None => None,
    };
    let Some(user) = current else {
        return Ok(Logout::SignOut { then });
    };
    let hinted_user = hint.as_ref().and_then(|c| c["sub"].as_str());
    if hinted_user == Some(user.id.as_str()) {
        return Ok(Logout::SignOut { then });
    }
    Ok(Logout::Confirm {
        client_name: client.map(|c| c.name),
        then,
    })
}
