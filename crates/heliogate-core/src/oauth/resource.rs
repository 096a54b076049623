//! Resource indicators (RFC 8707): a client names the resource servers an access token is for,
//! and the token carries them as its audience.
//!
//! A client may ask only for resource servers an administrator registered for it
//! (`client add --resource URI`): the audience is then something the resource server can rely
//! on. A code remembers the resources of its authorization request; the token request may
//! narrow them, never widen them (§2.2).

use crate::client::{absolute_uri, ClientSpecError};
use crate::oauth::{OAuthError, OAuthErrorCode, Params};

/// A resource server's identifier (§2): an absolute URI without a fragment, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource(String);

impl Resource {
    pub fn parse(s: &str) -> Result<Self, ClientSpecError> {
        absolute_uri(s).map_err(|reason| ClientSpecError::BadResource {
            uri: s.to_owned(),
            reason,
        })?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Resources as one column: separated by spaces, which no resource holds.
pub fn join(resources: &[Resource]) -> String {
    let parts: Vec<&str> = resources.iter().map(Resource::as_str).collect();
    parts.join(" ")
}

/// The resources of a stored column; `None` when one is no longer valid.
pub fn split(column: &str) -> Option<Vec<Resource>> {
    column
        .split_whitespace()
        .map(|r| Resource::parse(r).ok())
        .collect()
}

/// The resources of a stored column (`None`: no column, as none were named), read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredResources(pub Vec<Resource>);

impl TryFrom<Option<String>> for StoredResources {
    type Error = ClientSpecError;

    fn try_from(column: Option<String>) -> Result<Self, ClientSpecError> {
        column
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(Resource::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

fn invalid_target(description: String) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidTarget, description)
}

/// The `resource` values of a request (§2: the parameter may be repeated), each one the
/// client registered; `invalid_target` for a malformed or unregistered one. Empty when the
/// request names none.
pub fn requested_resources(
    params: &Params,
    registered: &[Resource],
) -> Result<Vec<Resource>, OAuthError> {
    let mut resources = Vec::new();
    for value in params.all("resource") {
        let resource = Resource::parse(value).map_err(|e| invalid_target(e.to_string()))?;
        if !registered.contains(&resource) {
            return Err(invalid_target(format!(
                "resource {value:?} is not registered for this client"
            )));
        }
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    Ok(resources)
}

/// The audience of a token from a grant that was authorized for `granted` (§2.2): what the
/// token request names, each among the granted ones, or else all of the granted ones.
pub fn narrow(requested: Vec<Resource>, granted: &[Resource]) -> Result<Vec<Resource>, OAuthError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    if granted.is_empty() {
        return Ok(requested);
    }
    match requested.iter().find(|r| !granted.contains(r)) {
        Some(r) => Err(invalid_target(format!(
            "resource {:?} was not part of the authorization",
            r.as_str()
        ))),
        None => Ok(requested),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(list: &[&str]) -> Vec<Resource> {
        list.iter()
            .map(|r| Resource::parse(r).unwrap_or_else(|e| unreachable!("{e}")))
            .collect()
    }

    fn target_error<T: std::fmt::Debug>(result: Result<T, OAuthError>) -> bool {
        matches!(result, Err(e) if e.code == OAuthErrorCode::InvalidTarget)
    }

    #[test]
    fn a_resource_is_an_absolute_uri_without_fragment_rfc_8707_section_2() {
        assert!(Resource::parse("https://api.example.org/").is_ok());
        assert!(Resource::parse("urn:example:inventory").is_ok());
        for bad in [
            "/relative",
            "https://api.example.org/#frag",
            "https://a b",
            "",
        ] {
            assert!(Resource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_registered_resources_may_be_requested() {
        let registered = resources(&["https://a.example/", "https://b.example/"]);
        let twice = "resource=https%3A%2F%2Fb.example%2F&resource=https%3A%2F%2Fb.example%2F";
        assert_eq!(
            requested_resources(&Params::parse(twice), &registered),
            Ok(resources(&["https://b.example/"]))
        );
        for bad in ["resource=https%3A%2F%2Fc.example%2F", "resource=relative"] {
            assert!(
                target_error(requested_resources(&Params::parse(bad), &registered)),
                "{bad}"
            );
        }
        assert_eq!(
            requested_resources(&Params::parse(""), &registered),
            Ok(vec![])
        );
    }

    #[test]
    fn a_token_request_narrows_the_authorized_resources_never_widens_them() {
        let granted = resources(&["https://a.example/", "https://b.example/"]);
        assert_eq!(narrow(vec![], &granted), Ok(granted.clone()));
        let b = resources(&["https://b.example/"]);
        assert_eq!(narrow(b.clone(), &granted), Ok(b.clone()));
        assert!(target_error(narrow(resources(&["https://c.example/"]), &b)));
        assert_eq!(narrow(b.clone(), &[]), Ok(b));
    }

    #[test]
    fn resources_round_trip_through_their_column() {
        let list = resources(&["https://a.example/", "urn:x"]);
        assert_eq!(split(&join(&list)), Some(list));
        assert_eq!(split(""), Some(vec![]));
    }
}
