//! The values the tests share.

/// The password every test user gets: long enough for heliogate's password rules.
pub const PASSWORD: &str = "a good long password";

/// The redirect URI of the test applications: a loopback callback (RFC 8252 §7.3).
pub const CALLBACK: &str = "http://127.0.0.1/callback";
