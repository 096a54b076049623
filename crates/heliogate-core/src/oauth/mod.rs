//! The OAuth 2 protocol rules: errors, PKCE, scopes, and authorization-request validation.

pub mod authorize;
pub mod error;
pub mod pkce;
pub mod scopes;

pub use authorize::{validate_authorize, AuthorizeError, AuthorizeRequest, Params};
pub use error::{OAuthError, OAuthErrorCode};
pub use scopes::grant_scopes;
