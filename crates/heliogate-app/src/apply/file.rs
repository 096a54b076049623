//! The settings file `heliogate apply` reads: roles, scope descriptions and clients, as TOML.
//! Its shape is checked by serde (an unknown key or a wrong type names its line); what the
//! values must be is checked in `mod.rs`, every problem named with its place.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::admin::AddClient;
use crate::upstream::AddUpstream;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsFile {
    #[serde(default)]
    pub roles: BTreeMap<String, RoleEntry>,
    #[serde(default)]
    pub scopes: BTreeMap<String, ScopeEntry>,
    /// Each read by `client_entry`.
    #[serde(default)]
    pub clients: BTreeMap<String, toml::Table>,
    /// Upstream identity providers, each read by `upstream_entry`.
    #[serde(default)]
    pub upstreams: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleEntry {
    pub scopes: Vec<String>,
    #[serde(default)]
    pub mfa_required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopeEntry {
    pub description: String,
}

/// A client, as `client add` takes it (`AddClient`, less its owner), and the environment
/// variable that holds a confidential client's secret; keyed by its client_id in the file.
pub(super) fn client_entry(table: toml::Table) -> Result<(Option<String>, AddClient), String> {
    let users_own = "a file declares an installation's clients, not users' own";
    entry(table, "secret_env", ("owner", users_own))
}

/// An identity provider, as `upstream add` takes it (`AddUpstream`, its name the key), and the
/// environment variable that holds its client secret.
pub(super) fn upstream_entry(
    name: &str,
    mut table: toml::Table,
) -> Result<(Option<String>, AddUpstream), String> {
    if table.contains_key("name") {
        return Err("name: the key names it".into());
    }
    table.insert("name".into(), toml::Value::String(name.to_owned()));
    let inline = "a secret is never in the file: give client_secret_env";
    entry(table, "client_secret_env", ("client_secret", inline))
}

/// What `T` (an input of a use case) takes from `table`, less the key `secret_env` (the name
/// of the environment variable that holds its secret, returned beside it) and refusing the
/// key `refused` with its reason.
fn entry<T: DeserializeOwned>(
    mut table: toml::Table,
    secret_env: &str,
    (refused, why): (&str, &str),
) -> Result<(Option<String>, T), String> {
    let env = match table.remove(secret_env) {
        None => None,
        Some(toml::Value::String(name)) => Some(name),
        Some(_) => return Err(format!("{secret_env}: the name of an environment variable")),
    };
    if table.contains_key(refused) {
        return Err(format!("{refused}: {why}"));
    }
    let input: T = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().trim().to_owned())?;
    Ok((env, input))
}

/// Reads the file's text; a problem names its line.
pub(super) fn parse(text: &str) -> Result<SettingsFile, String> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(line) => format!("line {line}: {}", e.message().trim()),
            None => e.message().trim().to_owned(),
        }
    })
}
