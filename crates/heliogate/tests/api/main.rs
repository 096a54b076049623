//! Integration tests: heliogate driven as a user drives it, on SQLite and on PostgreSQL, each test
//! on a fresh database. The server and the commands run inside the test's process (the same
//! code the binary runs: `TestApp::serve`, `TestApp::run`); the real binary is started where a
//! process is what is tested — the command line itself, settings, signals, kill -9, memory,
//! several nodes, browsers (`TestApp::serve_process`, `TestApp::run_process`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod constants;
mod helpers;

mod admin_api;
mod apply;
mod archive;
mod backchannel_logout;
mod book;
mod browser;
mod cli_audit;
mod cli_clients;
mod cli_roles;
mod cli_tokens;
mod cli_users;
mod cluster;
mod connexion;
mod console;
mod console_browser;
mod device_par_dpop;
mod doctor;
mod durability;
mod flood;
mod guard;
mod import;
mod login;
mod metrics;
mod mfa;
mod oauth_authorize;
mod oauth_checks;
mod oauth_helpers;
mod oauth_token;
mod oidc;
mod openid_client;
mod resource_indicators;
mod server;
mod session_tokens;
mod settings;
mod token_exchange;
mod upstream;
mod upstream_idp;
mod upstream_provider;
mod webdriver;
