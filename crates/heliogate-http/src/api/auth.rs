//! Who calls the API: the holder of a live access token with the `admin` scope (RFC 6750).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use heliogate_app::{now, Actor};

use super::problem::Problem;
use crate::oauth::tokeninfo::bearer;
use crate::proxy::ClientAddr;
use crate::AppState;

/// The scope the API needs.
const ADMIN: &str = "admin";

/// An administrator, acting as the user the token acts for or, for a client's own token,
/// as that client: the actor of the audit records the call writes.
pub(crate) struct Admin(pub Actor);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let realm = "Bearer realm=\"heliogate\"";
        let Some(token) = bearer(&parts.headers) else {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Not signed in",
                "send an access token with the admin scope as Authorization: Bearer",
            )
            .challenge(realm.to_owned()));
        };
        let tokens = &state.config.oauth.tokens;
        let active = tokens
            .inspect(&*state.store, &token, now())
            .await
            .map_err(|e| Problem::of(&e.into()))?;
        let Some(active) = active else {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "Not signed in",
                "the access token is unknown, expired or revoked",
            )
            .challenge(format!("{realm}, error=\"invalid_token\"")));
        };
        if !active.scope.contains(ADMIN) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "Not allowed",
                "the access token does not have the admin scope",
            )
            .challenge(format!(
                "{realm}, error=\"insufficient_scope\", scope=\"{ADMIN}\""
            )));
        }
        let ClientAddr(addr) = ClientAddr::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientAddr(None));
        let name = active
            .username
            .clone()
            .unwrap_or_else(|| active.client_id.clone());
        Ok(Admin(Actor {
            name,
            client_addr: addr,
        }))
    }
}
