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
        let pairs = text.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        });
        Self(pairs.collect())
    }

    /// Parses a form body. Bytes that are not UTF-8 read as U+FFFD, as the form decoder reads
    /// them, which `has_invalid_text` refuses.
    pub fn parse_bytes(body: &[u8]) -> Self {
        match std::str::from_utf8(body) {
            Ok(text) => Self::parse(text),
            Err(_) => Self::parse(&String::from_utf8_lossy(body)),
        }
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

/// One name or value of `application/x-www-form-urlencoded` text, without its `&` and `=`
/// separators, decoded: `+` a space, `%XX` a byte, what is not UTF-8 U+FFFD. A part with
/// nothing to decode, as a token or a client id nearly always is, is copied as it stands.
pub fn form_decode(part: &str) -> String {
    if memchr::memchr2(b'%', b'+', part.as_bytes()).is_none() {
        return part.to_owned();
    }
    // The form decoder reads pairs: this part is the value of one.
    url::form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// Text without U+FFFD (undecodable input) and without control characters.
pub fn is_protocol_text(s: &str) -> bool {
    // Printable ASCII, as nearly every parameter is, holds neither. Every byte is looked at
    // (no early exit), so that the compiler checks many at a time.
    if s.bytes()
        .fold(true, |printable, b| printable & (b' '..=b'~').contains(&b))
    {
        return true;
    }
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
        // DEL is a control character too; letters past ASCII are text.
        assert!(Params::parse("state=a%7Fb").has_invalid_text());
        assert_eq!(
            Params::parse("state=%C3%A9t%C3%A9").pairs()[0].1,
            "\u{e9}t\u{e9}"
        );
        assert!(!Params::parse("state=%C3%A9t%C3%A9").has_invalid_text());
    }

    proptest::proptest! {
        /// Parsing reads every pair as the form decoder does, whether it takes the shortcut
        /// for a pair with nothing to decode or not.
        #[test]
        fn parsing_agrees_with_the_form_decoder(text in "[a-c=&%+2-4A-F\\x{e9}]{0,24}") {
            let decoded: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let params = Params::parse(&text);
            proptest::prop_assert_eq!(params.pairs(), decoded.as_slice());
        }

        /// A body is read as its text, and bytes that are no UTF-8 as the replacement
        /// character, which no parameter may hold.
        #[test]
        fn bodies_read_as_their_lossy_text(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24)) {
            let params = Params::parse_bytes(&body);
            let lossy = Params::parse(&String::from_utf8_lossy(&body));
            proptest::prop_assert_eq!(params.pairs(), lossy.pairs());
            if std::str::from_utf8(&body).is_err() {
                proptest::prop_assert!(params.has_invalid_text());
            }
        }

        /// The printable-ASCII shortcut answers as the whole rule does.
        #[test]
        fn protocol_text_shortcut_agrees_with_the_rule(s in "\\PC*|[\\x00-\\x7f]{0,12}") {
            let rule = !s.chars().any(|c| c == '\u{FFFD}' || c.is_control());
            proptest::prop_assert_eq!(is_protocol_text(&s), rule);
        }
    }
}
