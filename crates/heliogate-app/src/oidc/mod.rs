//! OpenID Connect on top of the OAuth 2 flows: signing keys, ID tokens, the UserInfo endpoint.

pub mod id_token;
pub mod keys;
pub mod logout;
pub mod sealing;
mod signers;
pub mod userinfo;

pub use keys::{ensure_keys, key_ring, KeyRing};
