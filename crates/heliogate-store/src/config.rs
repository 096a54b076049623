//! The changes a settings file makes (`heliogate apply`), carried out in one transaction.

use heliogate_core::{ClientId, RoleName, Scope, SecretHash, UnixTime};

use crate::{AuditEvent, ClientSettings, NewClient, Upstream};

/// One change of an `apply`, with its audit record.
#[derive(Debug, Clone)]
pub enum ConfigChange {
    CreateRole {
        name: RoleName,
        scopes: Vec<Scope>,
        mfa_required: bool,
    },
    /// What is `Some` changes.
    ChangeRole {
        name: RoleName,
        scopes: Option<Vec<Scope>>,
        mfa_required: Option<bool>,
    },
    DeleteRole(RoleName),
    /// `None` removes the description.
    DescribeScope {
        scope: Scope,
        description: Option<String>,
    },
    CreateClient(NewClient),
    /// The client's settings as they were read at `read_at` (a change made since is a
    /// conflict), and a new secret if it changes.
    ChangeClient {
        client_id: ClientId,
        settings: Option<ClientSettings>,
        secret_hash: Option<SecretHash>,
        read_at: UnixTime,
    },
    DeleteClient(ClientId),
    /// Marks a role as declared by the settings file `by` (`None`: by none any more).
    ManageRole {
        name: RoleName,
        by: Option<String>,
    },
    /// Creates an upstream provider, or replaces the one of its name (its links stay).
    PutUpstream(Upstream),
    DeleteUpstream(String),
    /// Marks a client as declared by the settings file `by` (`None`: by none any more).
    ManageClient {
        client_id: ClientId,
        by: Option<String>,
    },
}

/// A change and what the audit log says of it.
#[derive(Debug, Clone)]
pub struct ConfigStep {
    pub change: ConfigChange,
    pub event: AuditEvent,
}
