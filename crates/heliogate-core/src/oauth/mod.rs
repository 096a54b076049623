//! The OAuth 2 protocol rules: errors, PKCE, scopes, authorization-request validation,
//! consent, code redemption and refresh.

pub mod authorize;
pub mod code;
pub mod consent;
pub mod device;
pub mod error;
pub mod params;
pub mod pkce;
pub mod refresh;
pub mod resource;
pub mod scopes;
pub mod token_request;

pub use authorize::{validate_authorize, AuthorizeError, AuthorizeRequest};
pub use code::{check_code_exchange, CodeExchange, IssuedCode};
pub use consent::{must_ask, ConsentAsker};
pub use error::{OAuthError, OAuthErrorCode};
pub use params::{form_decode, Params};
pub use refresh::{check_refresh, refresh_scope, RefreshUse, StoredRefresh};
pub use resource::{narrow, requested_resources, Resource};
pub use scopes::grant_scopes;
pub use token_request::{Grant, TokenRequest};
