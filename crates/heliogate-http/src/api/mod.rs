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
        .route("/api/v1/users/{name}/tokens", delete(users::revoke_tokens))
        .route("/api/v1/users/{name}/consents", get(users::consents))
        .route(
            "/api/v1/users/{name}/consents/{client_id}",
            delete(users::revoke_consent),
        )
        .route("/api/v1/clients", get(clients::list).post(clients::create))
        .route(
            "/api/v1/clients/{id}",
            get(clients::get).delete(clients::delete),
        )
        .route("/api/v1/clients/{id}/secret", post(clients::rotate_secret))
        .route(
            "/api/v1/clients/{id}/tokens",
            delete(clients::revoke_tokens),
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
        users::delete,
        users::revoke_tokens,
        users::consents,
        users::revoke_consent,
        clients::list,
        clients::create,
        clients::get,
        clients::rotate_secret,
        clients::delete,
        clients::revoke_tokens,
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
