//! The settings file `heliogate apply` reads: roles, scope descriptions and clients, as TOML.
//! Its shape is checked by serde (an unknown key or a wrong type names its line); what the
//! values must be is checked in `mod.rs`, every problem named with its place.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::admin::AddClient;

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
    /// Upstream identity providers, each read by `upstreams::UpstreamEntry`.
    #[serde(default)]
    pub upstreams: BTreeMap<String, toml::Value>,
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
pub(super) fn client_entry(mut table: toml::Table) -> Result<(Option<String>, AddClient), String> {
    let secret_env = match table.remove("secret_env") {
        None => None,
        Some(toml::Value::String(name)) => Some(name),
        Some(_) => return Err("secret_env: the name of an environment variable".into()),
    };
    if table.contains_key("owner") {
        return Err("owner: a file declares an installation's clients, not users' own".into());
    }
    let client: AddClient = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().trim().to_owned())?;
    Ok((secret_env, client))
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
