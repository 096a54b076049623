//! The OpenID Connect endpoints: discovery, the JWK set, UserInfo, RP-initiated logout.

mod logout;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use heliogate_app::oidc::key_ring;
use heliogate_app::oidc::userinfo::{userinfo, UserInfo};
use heliogate_core::oauth::Params;

use crate::error::error_json;
use crate::metrics::CheckEndpoint;
use crate::oauth::discovery::metadata;
use crate::oauth::tokeninfo::{presented_token, refused, unauthorized};
use crate::oauth::OAuthErrorResponse;
use crate::oauth::{no_store, no_store_json};
use crate::{AppState, HttpError};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/oauth/jwks", get(jwks))
        .route("/oauth/userinfo", get(userinfo_get).post(userinfo_post))
        .route("/oauth/logout", get(logout::get).post(logout::post))
}

/// The published keys (RFC 7517 §5). Relying parties may keep them for ten minutes, so a key
/// must be published that long before it signs.
async fn jwks(State(state): State<AppState>) -> Response {
    match key_ring(&*state.store, &state.config.oauth).await {
        Ok(ring) => {
            let mut response = (
                [(header::CONTENT_TYPE, "application/jwk-set+json")],
                ring.jwks().to_owned(),
            )
                .into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=600"),
            );
            response
        }
        Err(e) => HttpError(e).into_response(),
    }
}

async fn answer(
    state: &AppState,
    method: &str,
    headers: &HeaderMap,
    sources: &[&Params],
) -> Response {
    let presented = match presented_token(headers, sources) {
        Ok(presented) => presented,
        Err(answer) => return answer,
    };
    let request = presented.for_request(method, "/oauth/userinfo");
    let answered = userinfo(&*state.store, &state.config.oauth, &request).await;
    if let Ok(info) = &answered {
        let active = !matches!(info, UserInfo::InvalidToken | UserInfo::Refused(_));
        state.metrics.token_checked(CheckEndpoint::userinfo, active);
    }
    match answered {
        Ok(UserInfo::Claims(claims)) => no_store_json(StatusCode::OK, &claims),
        Ok(UserInfo::Refused(refusal)) => refused(&refusal),
        Ok(UserInfo::InvalidToken) => unauthorized(
            "invalid_token",
            "the access token is unknown, expired or revoked",
        ),
        Ok(UserInfo::InsufficientScope) => {
            let mut response = error_json(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the access token does not have the openid scope",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"heliogate\", error=\"insufficient_scope\", scope=\"openid\"",
                ),
            );
            no_store(response)
        }
        Err(e) => OAuthErrorResponse(e).into_response(),
    }
}

/// Core §5.3.1: GET with the token in the `Authorization` header.
async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, "GET", &headers, &[]).await
}

/// Core §5.3.1: POST, the token in the header or in the form body (RFC 6750 §2.2).
async fn userinfo_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Params::parse_bytes(&body);
    answer(&state, "POST", &headers, &[&form]).await
}
