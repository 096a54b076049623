//! The `[upstreams.NAME]` of a settings file: identity providers, as `upstream add` takes
//! them, with the client secret read from the environment variable the file names.

use std::collections::BTreeMap;

use heliogate_core::RoleName;
use heliogate_store::{ConfigChange, Upstream};

use super::{file, Plan, Planned};
use crate::oidc::sealing::{self, KeyEncryptionKey};
use crate::upstream::{secret_aad, upstream_row};

/// What of an upstream differs from what a file wants, by name; its secret compared opened.
fn differences(
    kek: Option<&KeyEncryptionKey>,
    stored: &Upstream,
    wanted: &Upstream,
    secret: Option<&str>,
) -> Vec<String> {
    let mut changes = Vec::new();
    let fields = [
        ("preset", stored.preset == wanted.preset),
        ("issuer", stored.issuer == wanted.issuer),
        ("client_id", stored.client_id == wanted.client_id),
        ("scopes", stored.scopes == wanted.scopes),
        ("display_name", stored.display_name == wanted.display_name),
        ("provision", stored.provision == wanted.provision),
        (
            "default_roles",
            stored.default_roles == wanted.default_roles,
        ),
        ("role_claim", stored.role_claim == wanted.role_claim),
        ("role_map", stored.role_map == wanted.role_map),
        ("trust_mfa", stored.trust_mfa == wanted.trust_mfa),
    ];
    for (name, same) in fields {
        if !same {
            changes.push(name.to_owned());
        }
    }
    let opened = stored
        .client_secret
        .as_ref()
        .map(|s| sealing::open(kek, &secret_aad(&stored.name), s));
    let same_secret = match (opened, secret) {
        (None, None) => true,
        (Some(Ok(bytes)), Some(secret)) => bytes == secret.as_bytes(),
        _ => false,
    };
    if !same_secret {
        changes.push("client secret".into());
    }
    changes
}

impl Plan<'_> {
    /// The upstreams; `roles`: those that will stand once the file is applied.
    pub(super) fn upstreams(
        &mut self,
        declared: &BTreeMap<String, toml::Table>,
        stored: &[Upstream],
        roles: &[RoleName],
        kek: Option<&KeyEncryptionKey>,
        env: &dyn Fn(&str) -> Option<String>,
        prune: bool,
    ) {
        for (name, table) in declared {
            let place = format!("upstreams.{name}");
            let (secret_env, mut add) = match file::upstream_entry(name, table.clone()) {
                Ok(entry) => entry,
                Err(e) => {
                    self.problem(&place, e);
                    continue;
                }
            };
            if let Some(var) = &secret_env {
                match env(var) {
                    Some(secret) if !secret.is_empty() => add.client_secret = Some(secret),
                    _ => {
                        self.problem(
                            &format!("{place}.client_secret_env"),
                            format!("{var} is not set"),
                        );
                        continue;
                    }
                }
            }
            add.managed_by = Some(self.source.to_owned());
            let mut wanted = match upstream_row(kek, &add, crate::now(), roles) {
                Ok(row) => row,
                Err(e) => {
                    self.problem(&place, e);
                    continue;
                }
            };
            let before = stored.iter().find(|u| &u.name == name);
            let (action, changes) = match before {
                None => ("create", Vec::new()),
                Some(before) => {
                    let mut changes =
                        differences(kek, before, &wanted, add.client_secret.as_deref());
                    if !self.ours(before.managed_by.as_ref()) {
                        changes.push("declared by this file".into());
                    }
                    if changes.is_empty() {
                        continue;
                    }
                    wanted.created_at = before.created_at;
                    ("change", changes)
                }
            };
            let event = if action == "create" {
                "upstream.created"
            } else {
                "upstream.changed"
            };
            let line = Planned {
                action,
                kind: "upstream",
                name: name.clone(),
                changes,
            };
            self.step(line, event, ConfigChange::PutUpstream(wanted));
        }
        if prune {
            for upstream in stored {
                if declared.contains_key(&upstream.name) {
                    continue;
                }
                let line = Planned {
                    action: "delete",
                    kind: "upstream",
                    name: upstream.name.clone(),
                    changes: Vec::new(),
                };
                let delete = ConfigChange::DeleteUpstream(upstream.name.clone());
                self.step(line, "upstream.deleted", delete);
            }
        }
    }
}
