//! Administration: users, roles, clients and tokens, as the CLI and the administration API
//! offer them. Every change is checked, made in one store call, and audited.

mod archive;
mod audit;
mod clients;
mod consents;
mod instance;
mod roles;
mod scopes;
mod tokens;
pub(crate) mod users;

pub(crate) use users::find_user;

use heliogate_core::{Scope, UserName};

use crate::{invalid, Result};

pub use archive::{backup, restore};
pub use audit::{list_audit, AuditEntry, AuditPage, AuditQuery};
pub use clients::{
    add_client, change_client, delete_client, enable_client, list_clients, page_clients,
    rotate_client_secret, show_client, AddClient, ClientChange, ClientPage, ClientQuery,
    ClientView, IssuedClient,
};
pub(crate) use clients::{checked_settings, settings_within};
pub use consents::{list_consents, revoke_consent, ConsentView};
pub use instance::{bootstrap_admin, check_issuer, record_issuer, server_key};
pub use roles::{
    add_role, change_role, delete_role, list_roles, set_role_scopes, show_role, RoleView,
};
pub(crate) use scopes::checked_description;
pub use scopes::{describe_scope, scope_descriptions, ScopeDescription};
pub use tokens::{
    list_client_tokens, list_user_tokens, purge_expired, revoke_client_token, revoke_client_tokens,
    revoke_user_token, revoke_user_tokens, Purged, TokenPage, TokenQuery, TokenView,
};
pub use users::{
    add_user, add_user_with_one_time_password, change_user, delete_user, has_legacy_password,
    list_users, page_users, set_disabled, set_email, set_password, set_user_roles, show_user,
    AddUser, UserChange, UserPage, UserQuery, UserView,
};

/// What a change made on a version read came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed<T> {
    /// Made: the thing as it is now.
    Done(Box<T>),
    /// Someone changed it after it was read: nothing was written.
    Stale,
}

fn parse_scopes(scopes: &[String]) -> Result<Vec<Scope>> {
    scopes
        .iter()
        .map(|s| Scope::parse(s).map_err(invalid))
        .collect()
}

pub(crate) fn user_name(name: &str) -> Result<UserName> {
    UserName::parse(name).map_err(invalid)
}
