//! The administration API, `/api/v1/`: the CLI's use cases over JSON, for a bearer token with
//! the `admin` scope, described by the OpenAPI document at `/openapi.json` that is generated
//! from these handlers. Session cookies are not accepted, so no request can be forged from a
//! browser. Errors are RFC 9457 problem details.

mod audit;
mod auth;
mod body;
mod clients;
mod problem;
mod roles;
mod tokens;
mod upstreams;
mod users;

use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::IntoResponses;
use utoipa::{Modify, OpenApi};

use crate::AppState;

/// How many tokens a revocation ended.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Revoked {
    revoked: u64,
}

/// What an operation answers: its response, or a problem.
type Answer = Result<Response, problem::Problem>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit-events", get(audit::list))
        .route("/api/v1/roles", get(roles::list).post(roles::create))
        .route(
            "/api/v1/roles/{name}",
            get(roles::get).patch(roles::change).delete(roles::delete),
        )
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{name}",
            get(users::get).patch(users::change).delete(users::delete),
        )
        .route("/api/v1/users/{name}/password", put(users::password))
        .route("/api/v1/users/{name}/mfa", delete(users::reset_mfa))
        .route(
            "/api/v1/users/{name}/tokens",
            get(tokens::list_for_user).delete(tokens::revoke_user_tokens),
        )
        .route(
            "/api/v1/users/{name}/tokens/{token_id}",
            delete(tokens::revoke_user_token),
        )
        .route("/api/v1/users/{name}/consents", get(users::consents))
        .route(
            "/api/v1/users/{name}/consents/{client_id}",
            delete(users::revoke_consent),
        )
        .route("/api/v1/clients", get(clients::list).post(clients::create))
        .route(
            "/api/v1/clients/{id}",
            get(clients::get)
                .patch(clients::change)
                .delete(clients::delete),
        )
        .route("/api/v1/clients/{id}/secret", post(clients::rotate_secret))
        .route(
            "/api/v1/clients/{id}/tokens",
            get(tokens::list_for_client).delete(tokens::revoke_client_tokens),
        )
        .route(
            "/api/v1/clients/{id}/tokens/{token_id}",
            delete(tokens::revoke_client_token),
        )
        .route(
            "/api/v1/upstreams",
            get(upstreams::list).post(upstreams::create),
        )
        .route(
            "/api/v1/upstreams/{name}",
            get(upstreams::get).delete(upstreams::delete),
        )
        .route(
            "/api/v1/users/{name}/identities",
            get(upstreams::identities).post(upstreams::link),
        )
        .route(
            "/api/v1/users/{name}/identities/{upstream}/{subject}",
            delete(upstreams::unlink),
        )
        .route("/openapi.json", get(openapi))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "heliogate administration API",
        description = "Users, roles, clients, tokens and the audit log of a heliogate installation. \
            Every operation needs a bearer token with the admin scope.",
    ),
    paths(
        audit::list,
        roles::list,
        roles::create,
        roles::get,
        roles::change,
        roles::delete,
        users::list,
        users::create,
        users::get,
        users::change,
        users::password,
        users::reset_mfa,
        users::delete,
        users::consents,
        users::revoke_consent,
        clients::list,
        clients::create,
        clients::get,
        clients::change,
        clients::rotate_secret,
        clients::delete,
        tokens::list_for_user,
        tokens::revoke_user_token,
        tokens::revoke_user_tokens,
        tokens::list_for_client,
        tokens::revoke_client_token,
        tokens::revoke_client_tokens,
        upstreams::list,
        upstreams::create,
        upstreams::get,
        upstreams::delete,
        upstreams::identities,
        upstreams::link,
        upstreams::unlink,
    ),
    components(schemas(problem::Problem, problem::FieldError)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// The answers every operation may give: a refused request, no live token, no `admin`.
#[derive(IntoResponses)]
#[allow(dead_code)] // described, not built: `Problem` is the body of each
enum Refusals {
    /// A parameter or the body was refused
    #[response(status = 400, content_type = "application/problem+json")]
    Invalid(problem::Problem),
    /// No live access token
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(problem::Problem),
    /// The token lacks the admin scope
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(problem::Problem),
}

/// The answer of an operation with a body when the body is not JSON.
#[derive(IntoResponses)]
#[allow(dead_code)] // described, not built
enum JsonOnly {
    /// The body is not `application/json`
    #[response(status = 415, content_type = "application/problem+json")]
    Unsupported(problem::Problem),
}

/// The answers of a change that must name what it read (`If-Match`).
#[derive(IntoResponses)]
#[allow(dead_code)] // described, not built
enum Preconditions {
    /// Changed since it was read
    #[response(status = 412, content_type = "application/problem+json")]
    Failed(problem::Problem),
    /// No If-Match
    #[response(status = 428, content_type = "application/problem+json")]
    Required(problem::Problem),
}

/// The one way in: `Authorization: Bearer` with an access token that has the `admin` scope.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of this API.
async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_gives_names_the_pattern_the_core_checks() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        for schema in ["AddUser", "NewRole"] {
            assert_eq!(
                schemas[schema]["properties"]["name"]["pattern"],
                heliogate_core::NAME_PATTERN,
                "{schema}"
            );
        }
    }
}
