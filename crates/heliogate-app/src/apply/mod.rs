//! `heliogate apply FILE`: the database holds what a settings file declares — roles (their
//! scopes, whether they require a second factor), scope descriptions and the clients an
//! administrator registers (keyed by client_id; a confidential client's secret read from the
//! environment variable the file names, stored hashed). The plan is a line per object (`+`
//! created, `~` changed and what changes, `-` deleted with `--prune`); it is carried out in one
//! transaction, each change audited as made by the file, or not at all (`--dry-run`). Applying
//! the same file again changes nothing. Objects the file does not name are left alone unless
//! `prune`; users' own applications and the personal tokens' client are never the file's.
//! Upstream identity providers (`[upstreams.NAME]`, `upstreams.rs`) are declared the same way,
//! their client secrets read from the environment and sealed like `upstream add`'s.
//! An invalid file changes nothing and names every problem with its place.

mod file;
mod upstreams;

use std::collections::BTreeMap;

use heliogate_core::{ClientId, RoleName, Scope, ScopeSet, SecretHash};
use heliogate_store::{
    Client, ClientSettings, ConfigChange, ConfigStep, NewClient, Role, Store,
    PERSONAL_TOKENS_CLIENT,
};
use serde::Serialize;
use serde_json::json;

use crate::admin::{checked_description, settings_within};
use crate::oidc::sealing::KeyEncryptionKey;
use crate::scopes::oidc_scopes;
use crate::{now, Actor, AppError, Result};

/// The shortest secret a file may give a client (heliogate's own are 43 characters).
pub const MIN_SECRET_CHARS: usize = 32;

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// `create`, `change` or `delete`.
    pub action: &'static str,
    /// `role`, `scope` or `client`.
    pub kind: &'static str,
    pub name: String,
    /// For a change: what changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

impl Planned {
    /// As the plan prints it: `+ role analyst`, `~ client web: scopes, secret`.
    pub fn line(&self) -> String {
        let sign = match self.action {
            "create" => '+',
            "delete" => '-',
            _ => '~',
        };
        if self.changes.is_empty() {
            format!("{sign} {} {}", self.kind, self.name)
        } else {
            format!(
                "{sign} {} {}: {}",
                self.kind,
                self.name,
                self.changes.join("; ")
            )
        }
    }
}

/// What `apply` does with the plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    pub dry_run: bool,
    pub prune: bool,
}

/// Makes the database hold what `text` (the file at `source`) declares; the plan. `env` reads
/// an environment variable (the clients' secrets).
pub async fn apply(
    store: &dyn Store,
    source: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    kek: Option<&KeyEncryptionKey>,
    options: ApplyOptions,
) -> Result<Vec<Planned>> {
    let declared = file::parse(text).map_err(|e| AppError::Invalid(format!("{source}: {e}")))?;
    let roles = store.list_roles().await?;
    let described = store.scope_descriptions().await?;
    let clients = store.list_clients().await?;
    let upstreams = store.list_upstreams().await?;
    let mut plan = Plan {
        actor: Actor {
            name: format!("file {source}"),
            client_addr: None,
        },
        source,
        problems: Vec::new(),
        lines: Vec::new(),
        steps: Vec::new(),
    };
    let known = plan.roles(&declared.roles, &roles, options.prune);
    let standing: Vec<RoleName> = declared
        .roles
        .keys()
        .filter_map(|r| RoleName::parse(r).ok())
        .chain(
            roles
                .iter()
                .filter(|r| !options.prune || declared.roles.contains_key(r.name.as_str()))
                .map(|r| r.name.clone()),
        )
        .collect();
    plan.scopes(&declared.scopes, &described, &known, options.prune);
    plan.clients(&declared.clients, &clients, &known, env, options.prune);
    plan.upstreams(
        &declared.upstreams,
        &upstreams,
        &standing,
        kek,
        env,
        options.prune,
    );
    if !plan.problems.is_empty() {
        return Err(AppError::Invalid(format!(
            "{source}: {} problem{}: {}",
            plan.problems.len(),
            if plan.problems.len() == 1 { "" } else { "s" },
            plan.problems.join("; ")
        )));
    }
    if !options.dry_run && !plan.steps.is_empty() {
        store.apply_config(&plan.steps, now()).await?;
    }
    Ok(plan.lines)
}

struct Plan<'a> {
    actor: Actor,
    source: &'a str,
    problems: Vec<String>,
    lines: Vec<Planned>,
    steps: Vec<ConfigStep>,
}

fn sorted(list: impl IntoIterator<Item = impl ToString>) -> Vec<String> {
    let mut list: Vec<String> = list.into_iter().map(|s| s.to_string()).collect();
    list.sort();
    list
}

impl Plan<'_> {
    fn problem(&mut self, place: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("{place}: {what}"));
    }

    /// Adds a step and its line; the audit record names the file and what changed.
    fn step(&mut self, line: Planned, event_name: &str, change: ConfigChange) {
        let event = self.actor.event(
            event_name,
            &line.name,
            json!({ "file": self.source, "changes": line.changes }),
        );
        self.steps.push(ConfigStep { change, event });
        self.lines.push(line);
    }

    /// Adds a step that goes with the line before it (a new object marked as the file's).
    fn also(&mut self, event_name: &str, name: &str, change: ConfigChange) {
        let event = self
            .actor
            .event(event_name, name, json!({ "file": self.source }));
        self.steps.push(ConfigStep { change, event });
    }

    /// Whether an object marked `managed_by` is marked as this file's.
    fn ours(&self, managed_by: Option<&String>) -> bool {
        managed_by.map(String::as_str) == Some(self.source)
    }

    /// The roles; the scopes the roles will give once applied.
    fn roles(
        &mut self,
        declared: &BTreeMap<String, file::RoleEntry>,
        stored: &[Role],
        prune: bool,
    ) -> ScopeSet {
        let mut known = oidc_scopes();
        for (key, entry) in declared {
            let place = format!("roles.{key}");
            let name = match RoleName::parse(key) {
                Ok(name) => name,
                Err(e) => {
                    self.problem(&place, e);
                    continue;
                }
            };
            let mut scopes = Vec::new();
            for scope in &entry.scopes {
                match Scope::parse(scope) {
                    Ok(scope) => scopes.push(scope),
                    Err(e) => self.problem(&format!("{place}.scopes"), e),
                }
            }
            let wanted: ScopeSet = scopes.iter().cloned().collect();
            known = known.union(&wanted);
            let mark = ConfigChange::ManageRole {
                name: name.clone(),
                by: Some(self.source.to_owned()),
            };
            match stored.iter().find(|r| r.name == name) {
                None => {
                    self.step(
                        Planned {
                            action: "create",
                            kind: "role",
                            name: key.clone(),
                            changes: Vec::new(),
                        },
                        "role.created",
                        ConfigChange::CreateRole {
                            name,
                            scopes,
                            mfa_required: entry.mfa_required,
                        },
                    );
                    self.also("role.managed", key, mark);
                }
                Some(role) => {
                    let mut changes = Vec::new();
                    let new_scopes = (role.scopes != wanted).then(|| {
                        changes.push(format!("scopes {} → {}", role.scopes, wanted));
                        scopes
                    });
                    let new_mfa = (role.mfa_required != entry.mfa_required).then(|| {
                        changes.push(format!(
                            "mfa_required {} → {}",
                            role.mfa_required, entry.mfa_required
                        ));
                        entry.mfa_required
                    });
                    let marked = self.ours(role.managed_by.as_ref());
                    let line = |mut changes: Vec<String>| {
                        if !marked {
                            changes.push("declared by this file".into());
                        }
                        Planned {
                            action: "change",
                            kind: "role",
                            name: key.clone(),
                            changes,
                        }
                    };
                    if !changes.is_empty() {
                        self.step(
                            line(changes),
                            "role.changed",
                            ConfigChange::ChangeRole {
                                name,
                                scopes: new_scopes,
                                mfa_required: new_mfa,
                            },
                        );
                        if !marked {
                            self.also("role.managed", key, mark);
                        }
                    } else if !marked {
                        self.step(line(changes), "role.managed", mark);
                    }
                }
            }
        }
        for role in stored {
            if declared.contains_key(role.name.as_str()) {
                continue;
            }
            if !prune && self.ours(role.managed_by.as_ref()) {
                self.step(
                    Planned {
                        action: "change",
                        kind: "role",
                        name: role.name.as_str().to_owned(),
                        changes: vec!["no longer declared by this file".into()],
                    },
                    "role.managed",
                    ConfigChange::ManageRole {
                        name: role.name.clone(),
                        by: None,
                    },
                );
            }
            if prune {
                self.step(
                    Planned {
                        action: "delete",
                        kind: "role",
                        name: role.name.as_str().to_owned(),
                        changes: Vec::new(),
                    },
                    "role.deleted",
                    ConfigChange::DeleteRole(role.name.clone()),
                );
            } else {
                known = known.union(&role.scopes);
            }
        }
        known
    }

    fn scopes(
        &mut self,
        declared: &BTreeMap<String, file::ScopeEntry>,
        stored: &[(String, String)],
        known: &ScopeSet,
        prune: bool,
    ) {
        for (key, entry) in declared {
            let place = format!("scopes.{key}");
            let scope = match Scope::parse(key) {
                Ok(scope) if known.contains(scope.as_str()) => scope,
                Ok(_) => {
                    self.problem(&place, "no role in the file or the database gives it");
                    continue;
                }
                Err(e) => {
                    self.problem(&place, e);
                    continue;
                }
            };
            let description = match checked_description(&entry.description) {
                Ok(Some(words)) => words,
                Ok(None) => {
                    self.problem(&format!("{place}.description"), "empty");
                    continue;
                }
                Err(e) => {
                    self.problem(&format!("{place}.description"), e);
                    continue;
                }
            };
            let before = stored.iter().find(|(s, _)| s == key).map(|(_, d)| d);
            if before == Some(&description) {
                continue;
            }
            self.step(
                Planned {
                    action: if before.is_some() { "change" } else { "create" },
                    kind: "scope",
                    name: key.clone(),
                    changes: if before.is_some() {
                        vec!["description".into()]
                    } else {
                        Vec::new()
                    },
                },
                "scope.described",
                ConfigChange::DescribeScope {
                    scope,
                    description: Some(description),
                },
            );
        }
        if prune {
            for (scope, _) in stored {
                if declared.contains_key(scope) {
                    continue;
                }
                let Ok(parsed) = Scope::parse(scope) else {
                    continue;
                };
                self.step(
                    Planned {
                        action: "delete",
                        kind: "scope",
                        name: scope.clone(),
                        changes: vec!["description".into()],
                    },
                    "scope.described",
                    ConfigChange::DescribeScope {
                        scope: parsed,
                        description: None,
                    },
                );
            }
        }
    }

    fn clients(
        &mut self,
        declared: &BTreeMap<String, toml::Table>,
        stored: &[Client],
        known: &ScopeSet,
        env: &dyn Fn(&str) -> Option<String>,
        prune: bool,
    ) {
        for (key, entry) in declared {
            let place = format!("clients.{key}");
            let client_id = match ClientId::parse(key) {
                Ok(id) if key != PERSONAL_TOKENS_CLIENT => id,
                Ok(_) => {
                    self.problem(&place, "this id is heliogate's own");
                    continue;
                }
                Err(e) => {
                    self.problem(&place, e);
                    continue;
                }
            };
            let (secret_env, input) = match file::client_entry(entry.clone()) {
                Ok(entry) => entry,
                Err(e) => {
                    self.problem(&place, e);
                    continue;
                }
            };
            let settings = match settings_within(&input, known) {
                Ok(settings) => Some(settings),
                Err(e) => {
                    self.problem(&place, e);
                    None
                }
            };
            let secret = self.secret(&place, secret_env.as_deref(), input.public, env);
            let (Some(settings), Ok(secret_hash)) = (settings, secret) else {
                continue;
            };
            let mark = ConfigChange::ManageClient {
                client_id: client_id.clone(),
                by: Some(self.source.to_owned()),
            };
            match stored.iter().find(|c| c.client_id == client_id) {
                None => {
                    self.step(
                        Planned {
                            action: "create",
                            kind: "client",
                            name: key.clone(),
                            changes: Vec::new(),
                        },
                        "client.created",
                        ConfigChange::CreateClient(NewClient {
                            client_id,
                            secret_hash,
                            settings,
                            owner: None,
                            now: now(),
                        }),
                    );
                    self.also("client.managed", key, mark);
                }
                Some(client) if client.owner.is_some() => self.problem(
                    &place,
                    format!(
                        "the client with this id is {}'s own application",
                        client.owner.as_deref().unwrap_or_default()
                    ),
                ),
                Some(client) if client.kind != settings.spec.kind => self.problem(
                    &format!("{place}.public"),
                    "a client's type cannot change: delete it and register it anew",
                ),
                Some(client) => {
                    let mut changes = differences(client, &settings);
                    let new_secret = secret_hash.filter(|h| Some(*h) != client.secret_hash);
                    if new_secret.is_some() {
                        changes.push("secret".into());
                    }
                    let settings_change = !changes.iter().all(|c| c == "secret");
                    let real = !changes.is_empty();
                    let marked = self.ours(client.managed_by.as_ref());
                    if !marked {
                        changes.push("declared by this file".into());
                    }
                    let line = Planned {
                        action: "change",
                        kind: "client",
                        name: key.clone(),
                        changes,
                    };
                    if real {
                        self.step(
                            line,
                            "client.changed",
                            ConfigChange::ChangeClient {
                                client_id,
                                settings: settings_change.then_some(settings),
                                secret_hash: new_secret,
                                read_at: client.updated_at,
                            },
                        );
                        if !marked {
                            self.also("client.managed", key, mark);
                        }
                    } else if !marked {
                        self.step(line, "client.managed", mark);
                    }
                }
            }
        }
        for client in stored {
            let id = client.client_id.as_str();
            if !prune && !declared.contains_key(id) && self.ours(client.managed_by.as_ref()) {
                self.step(
                    Planned {
                        action: "change",
                        kind: "client",
                        name: id.to_owned(),
                        changes: vec!["no longer declared by this file".into()],
                    },
                    "client.managed",
                    ConfigChange::ManageClient {
                        client_id: client.client_id.clone(),
                        by: None,
                    },
                );
            }
        }
        if prune {
            for client in stored {
                let id = client.client_id.as_str();
                let the_files = client.owner_id.is_none() && id != PERSONAL_TOKENS_CLIENT;
                if the_files && !declared.contains_key(id) {
                    self.step(
                        Planned {
                            action: "delete",
                            kind: "client",
                            name: id.to_owned(),
                            changes: Vec::new(),
                        },
                        "client.deleted",
                        ConfigChange::DeleteClient(client.client_id.clone()),
                    );
                }
            }
        }
    }

    /// A confidential client's secret, from the variable the file names, hashed.
    fn secret(
        &mut self,
        place: &str,
        secret_env: Option<&str>,
        public: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Option<SecretHash>, ()> {
        let place = format!("{place}.secret_env");
        match (secret_env, public) {
            (None, true) => Ok(None),
            (Some(_), true) => {
                self.problem(&place, "a public client has no secret");
                Err(())
            }
            (None, false) => {
                self.problem(
                    &place,
                    "a confidential client needs the environment variable that holds its secret",
                );
                Err(())
            }
            (Some(variable), false) => match env(variable) {
                Some(secret) if secret.chars().count() >= MIN_SECRET_CHARS => {
                    Ok(Some(SecretHash::of(&secret)))
                }
                Some(_) => {
                    self.problem(
                        &place,
                        format!("{variable} holds fewer than {MIN_SECRET_CHARS} characters"),
                    );
                    Err(())
                }
                None => {
                    self.problem(&place, format!("{variable} is not set"));
                    Err(())
                }
            },
        }
    }
}

/// The settings of `client` that `settings` would change, by name.
fn differences(client: &Client, settings: &ClientSettings) -> Vec<String> {
    let spec = &settings.spec;
    let uris = |list: &[heliogate_core::RedirectUri]| sorted(list.iter().map(|u| u.as_str()));
    let mut changes = Vec::new();
    let mut differ = |name: &str, differs: bool| {
        if differs {
            changes.push(name.to_owned());
        }
    };
    differ("name", client.name != spec.name);
    differ(
        "redirect_uris",
        uris(&client.redirect_uris) != uris(&spec.redirect_uris),
    );
    differ(
        "grant_types",
        sorted(client.grant_types.iter().map(|g| g.as_str()))
            != sorted(spec.grant_types.iter().map(|g| g.as_str())),
    );
    differ(
        "scopes",
        client.scopes != spec.scopes.iter().cloned().collect::<ScopeSet>(),
    );
    differ("introspect", client.introspect != settings.introspect);
    differ("trusted", client.trusted != settings.trusted);
    differ(
        "pkce_optional",
        client.pkce_optional != settings.pkce_optional,
    );
    differ(
        "post_logout_redirect_uris",
        uris(&client.post_logout_redirect_uris) != uris(&settings.post_logout_redirect_uris),
    );
    differ("signing_alg", client.signing_alg != settings.signing_alg);
    differ(
        "access_token_format",
        client.access_token_format != settings.access_token_format,
    );
    differ(
        "resources",
        sorted(client.resources.iter().map(|r| r.as_str()))
            != sorted(settings.resources.iter().map(|r| r.as_str())),
    );
    differ("require_par", client.require_par != settings.require_par);
    differ("require_dpop", client.require_dpop != settings.require_dpop);
    differ(
        "backchannel_logout_uri",
        client.backchannel_logout_uri != settings.backchannel_logout_uri,
    );
    changes
}
