//! Who calls the API: the holder of a live access token with the `admin` scope (RFC 6750).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use heliogate_app::Actor;

use super::problem::Problem;
use crate::oauth::dpop_proof;
use crate::oauth::tokeninfo::{authorization, dpop_challenge};
use crate::proxy::ClientAddr;
use crate::AppState;
use heliogate_app::dpop::{accept, Presentation, Presented};
use heliogate_app::oauth::OAuthFailure;

/// The scope the API needs.
const ADMIN: &str = "admin";

/// An administrator, acting as the user the token acts for or, for a client's own token,
/// as that client: the actor of the audit records the call writes.
pub(crate) struct Admin(pub Actor);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let realm = "Bearer realm=\"heliogate\"";
        let Some((scheme, token)) = authorization(&parts.headers) else {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Not signed in",
                "send an access token with the admin scope as Authorization: Bearer",
            )
            .challenge(realm.to_owned()));
        };
        let proof = dpop_proof(&parts.headers).map_err(|e| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                e.code.as_str(),
                "Not signed in",
                &e.description,
            )
        })?;
        let presented = Presented {
            token,
            scheme,
            proof: proof.as_deref(),
            method: parts.method.as_str(),
            path: parts.uri.path(),
        };
        let active = match accept(&*state.store, &state.config.oauth, &presented).await {
            Ok(Presentation::Accepted(active)) => Some(active),
            Ok(Presentation::Inactive) => None,
            Ok(Presentation::Refused(refused)) => {
                return Err(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    refused.code.as_str(),
                    "Not signed in",
                    &refused.description,
                )
                .challenge(dpop_challenge(refused.code.as_str())))
            }
            Err(OAuthFailure::App(e)) => return Err(Problem::of(&e)),
            Err(OAuthFailure::Protocol(e)) => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    e.code.as_str(),
                    "Not accepted",
                    &e.description,
                ))
            }
        };
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
            client_addr: addr.as_deref().map(String::from),
        }))
    }
}
