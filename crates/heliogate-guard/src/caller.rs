//! Who a request's token speaks for, as the handler receives it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The caller of a guarded route: what its token says. A handler takes it as an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who the token acts for: the user's id, or the client's id for a client's own token
    /// (as RFC 9068 defines `sub`).
    pub sub: String,
    /// The user's name, when heliogate's answer gave it (introspection does; a JWT does not).
    pub username: Option<String>,
    /// The client the token was issued to.
    pub client_id: String,
    /// What the token may do.
    pub scopes: Vec<String>,
    /// The resource servers it is for (RFC 8707), when it names any.
    pub audience: Vec<String>,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The thumbprint of the DPoP key it is bound to (RFC 9449 §6): a request must carry a
    /// proof of that key, which the guard checks.
    pub jkt: Option<String>,
}

impl Caller {
    /// Whether the token holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the token acts for a user rather than for its client alone.
    pub fn is_user(&self) -> bool {
        self.sub != self.client_id
    }
}

/// The guard puts the caller in the request's extensions; on a route without a guard, asking
/// for one is a mistake of the service, answered 500 rather than let through.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Arc<Caller>>() {
            Some(caller) => Ok(Caller::clone(caller)),
            None => {
                tracing::error!("heliogate-guard: a handler asked for the Caller on a route without guard.require");
                Err(crate::answer::Refusal::NotGuarded.into_response())
            }
        }
    }
}

/// Lets a handler ask for `Option<Caller>` on a route that may or may not be guarded.
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Arc<Caller>>()
            .map(|c| Caller::clone(c)))
    }
}
