//! What signed-in users do for themselves beyond signing in: register their own
//! applications, make personal access tokens and look after their sign-in sessions. The rules
//! are the administrators' (the same use cases underneath), bounded by what the user holds.

pub mod clients;
mod overview;
pub mod sessions;
pub mod tokens;

pub use overview::{overview, Overview};
