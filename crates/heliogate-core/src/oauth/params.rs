//! The parameters of a protocol request, as every endpoint reads them.

use crate::oauth::OAuthError;

/// Request parameters, with every value of every name, so that repeats can be refused
/// (RFC 6749 §3.1: parameters MUST NOT be included more than once).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

/// A parameter that was sent more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeated(pub String);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(text: &str) -> Self {
        Self(
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The value of `name`: `None` when absent or empty (RFC 6749 §3.1: parameters sent
    /// without a value are treated as omitted), an error when repeated.
    pub fn get(&self, name: &str) -> Result<Option<&str>, Repeated> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(Repeated(name.to_owned())),
            (Some(""), None) | (None, _) => Ok(None),
            (Some(v), None) => Ok(Some(v)),
        }
    }

    /// Every non-empty value of `name`, for the parameters that may be repeated (RFC 8707's
    /// `resource`).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Whether any name or value is no protocol text: it could not be decoded as UTF-8 (the
    /// decoder put U+FFFD there) or holds a control character (a NUL byte, a line break),
    /// which no OAuth parameter may (RFC 6749 Appendix A).
    pub fn has_invalid_text(&self) -> bool {
        self.0
            .iter()
            .any(|(k, v)| !is_protocol_text(k) || !is_protocol_text(v))
    }

    /// `invalid_request` when `has_invalid_text`: the one wording of that refusal.
    pub fn check_text(&self) -> Result<(), OAuthError> {
        if self.has_invalid_text() {
            return Err(OAuthError::invalid_request(
                "parameters must be UTF-8 text without control characters",
            ));
        }
        Ok(())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Text without U+FFFD (undecodable input) and without control characters.
pub fn is_protocol_text(s: &str) -> bool {
    !s.chars().any(|c| c == '\u{FFFD}' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_undecodable_bytes_are_no_protocol_text() {
        assert!(!Params::parse("client_id=abc&state=xyz").has_invalid_text());
        for bad in ["client_id=a%00b", "state=x%0Ay", "scope=%FF", "na%01me=v"] {
            assert!(Params::parse(bad).has_invalid_text(), "{bad}");
        }
    }
}
