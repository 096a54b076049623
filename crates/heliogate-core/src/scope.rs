//! Scopes (RFC 6749 §3.3): case-sensitive tokens, sent as one space-delimited string.

use std::collections::BTreeSet;
use std::fmt;

/// The OpenID Connect scopes: a client may list them, and a user holds them without a role.
pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "roles", "offline_access"];

/// The longest scope token we accept; the RFC sets none, a bound keeps storage and logs sane.
const MAX_SCOPE_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("a scope must not be empty")]
    Empty,
    #[error("a scope must be at most {MAX_SCOPE_LEN} characters")]
    TooLong,
    #[error("scope {0:?} has a character RFC 6749 §3.3 does not allow")]
    BadCharacter(String),
}

/// One scope token: `1*( %x21 / %x23-5B / %x5D-7E )`, that is printable ASCII without space,
/// `"` and `\`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(String);

impl Scope {
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        if s.is_empty() {
            return Err(ScopeError::Empty);
        }
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let allowed = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
        if !s.bytes().all(allowed) {
            return Err(ScopeError::BadCharacter(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is one of the OpenID Connect scopes, which no role needs to hold.
    pub fn is_oidc(&self) -> bool {
        OIDC_SCOPES.contains(&self.0.as_str())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scopes, kept sorted so that its wire form is canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses the wire form: scope tokens separated by single spaces. The empty string is the
    /// empty set.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        s.split(' ').map(Scope::parse).collect()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().map(|s| s.0.clone()).collect()
    }

    /// The scopes in either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes in this set and not in `other`.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }
}

/// A stored set, read back: parsed as on the wire.
impl TryFrom<String> for ScopeSet {
    type Error = ScopeError;

    fn try_from(s: String) -> Result<Self, ScopeError> {
        Self::parse(&s)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips_sorted() {
        let set = ScopeSet::parse("write read admin").map(|s| s.to_string());
        assert_eq!(set, Ok("admin read write".to_owned()));
    }

    #[test]
    fn characters_outside_rfc_6749_section_3_3_are_refused() {
        for bad in ["a\"b", "a\\b", "é", "a\tb", "read  write", " read"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn intersection_keeps_only_common_scopes() {
        let a = ScopeSet::parse("read write").unwrap_or_default();
        let b = ScopeSet::parse("write execute").unwrap_or_default();
        assert_eq!(a.intersection(&b).to_string(), "write");
        assert_eq!(a.union(&b).to_string(), "execute read write");
    }
}
