//! Authorization server metadata (RFC 8414) and OpenID Provider metadata (Discovery 1.0 §3):
//! one document, served at both addresses, listing what heliogate offers and nothing it does
//! not.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::scopes::known_scopes;
use heliogate_core::oauth::authorize::Prompt;
use heliogate_core::oidc::{ACR_MFA, ACR_PASSWORD};
use heliogate_core::{GrantType, SigningAlg};
use serde_json::json;

use crate::AppState;
use crate::HttpError;

/// The claims heliogate can release (`heliogate_core::oidc`).
const CLAIMS: [&str; 18] = [
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "at_hash",
    "sid",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "roles",
];

pub(crate) async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = &state.config.issuer;
    let scopes = match known_scopes(&*state.store).await {
        Ok(scopes) => scopes.to_vec(),
        Err(e) => return HttpError(e).into_response(),
    };
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        // OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry `sid`, and so do
        // ID tokens issued in a session.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        // heliogate's own: the revocation feed for resource servers (`oauth::revocations`).
        "revocation_feed_endpoint": format!("{issuer}/oauth/revocations"),
        "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
        "pushed_authorization_request_endpoint": format!("{issuer}/oauth/par"),
        // Per client (`--require-par`); RFC 9126 §5.
        "require_pushed_authorization_requests": false,
        "dpop_signing_alg_values_supported": heliogate_dpop::ALGORITHMS,
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::ALL.map(GrantType::wire_name),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": SigningAlg::ALL.map(SigningAlg::as_str),
        "claims_supported": CLAIMS,
        "claims_parameter_supported": false,
        "prompt_values_supported": Prompt::VALUES,
        "acr_values_supported": [ACR_PASSWORD, ACR_MFA],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}
