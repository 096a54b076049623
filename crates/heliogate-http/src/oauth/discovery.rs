//! Authorization server metadata (RFC 8414): what heliogate offers, and nothing it does not.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use heliogate_app::scopes::known_scopes;
use serde_json::json;

use crate::AppState;
use crate::HttpError;

pub(super) async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = &state.config.issuer;
    let scopes = match known_scopes(&*state.store).await {
        Ok(scopes) => scopes.to_vec(),
        Err(e) => return HttpError(e).into_response(),
    };
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}
