//! Scope descriptions: what each scope allows, in the words the consent page and the console
//! show; administrators write them.

use heliogate_core::Scope;
use heliogate_store::Store;

use crate::scopes::{described_scopes, known_scopes};
use crate::{invalid, now, Actor, AppError, Result};

/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// A known scope and its words, if anyone wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDescription {
    pub scope: String,
    pub description: Option<String>,
}

/// Every scope the server knows (those roles give, and OpenID Connect's), with its words.
pub async fn scope_descriptions(store: &dyn Store) -> Result<Vec<ScopeDescription>> {
    let described = described_scopes(store).await?;
    Ok(known_scopes(store)
        .await?
        .iter()
        .map(|scope| ScopeDescription {
            scope: scope.as_str().to_owned(),
            description: described.get(scope.as_str()).cloned(),
        })
        .collect())
}

/// Words for a scope, under the rules: one line of at most `MAX_DESCRIPTION_CHARS`; `None`
/// when empty.
pub(crate) fn checked_description(description: &str) -> Result<Option<String>> {
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(AppError::Invalid(format!(
            "a description is at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if description.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "a description is one line of text".into(),
        ));
    }
    Ok(Some(description.to_owned()).filter(|d| !d.is_empty()))
}

/// Writes what a known scope allows; empty words forget them (the scope is then described by
/// its name).
pub async fn describe_scope(
    store: &dyn Store,
    actor: &Actor,
    scope: &str,
    description: &str,
) -> Result<()> {
    let scope = Scope::parse(scope).map_err(invalid)?;
    if !known_scopes(store).await?.contains(scope.as_str()) {
        return Err(AppError::NotFound(format!(
            "no role gives the scope {:?}",
            scope.as_str()
        )));
    }
    let words = checked_description(description)?;
    let words = words.as_deref();
    let event = actor.event(
        "scope.described",
        scope.as_str(),
        serde_json::json!({ "description": words }),
    );
    Ok(store
        .set_scope_description(&scope, words, now(), &event)
        .await?)
}
