//! Names of users and roles, and e-mail addresses.

use std::fmt;

/// Why a name or address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} must be at most {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} may only contain letters, digits and . _ - @ (got {found:?})")]
    BadCharacter { what: &'static str, found: char },
    #[error("{what} must start with a letter or digit")]
    BadStart { what: &'static str },
    #[error("not a valid e-mail address: {0:?}")]
    BadEmail(String),
}

/// The rule of `check_name` for a name of at most 64 characters, as a regular expression
/// (for documents that describe the API).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$";

fn check_name(what: &'static str, s: &str, max: usize) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { what });
    }
    if s.chars().count() > max {
        return Err(NameError::TooLong { what, max });
    }
    if let Some(found) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(NameError::BadCharacter { what, found });
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(NameError::BadStart { what });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The longest a valid one is, in characters.
            pub const MAX_LEN: usize = $max;

            pub fn parse(s: &str) -> Result<Self, NameError> {
                check_name($what, s, $max)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A user's login name: 1 to 64 ASCII letters, digits and `. _ - @`, starting with a letter
    /// or digit. Case is kept and significant, as in the original design.
    UserName,
    "user name",
    64
);
name_type!(
    /// A role's name, with the same alphabet as a user name.
    RoleName,
    "role name",
    64
);

/// An e-mail address, checked only for shape (one `@`, something on both sides, no spaces):
/// deliverability is not ours to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// A "valid e-mail address" of the HTML standard (§4.10.5.1.5): a local part of letters,
    /// digits and ``.!#$%&'*+/=?^_`{|}~-``, an `@`, and host-name labels of letters, digits and
    /// inner hyphens, at most 63 characters each; 254 characters in all. Nothing that markup,
    /// a header or a log line could take for its own gets through.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadEmail(s.to_owned());
        if s.len() > 254 {
            return Err(bad());
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(bad());
        };
        let local_ok = !local.is_empty()
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if local_ok && domain.split('.').all(label_ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_address_is_one_the_html_standard_calls_valid() {
        for good in [
            "ada@example.org",
            "a.b+tag@sub.example-host.io",
            "o'brien@x.org",
            "x@localhost",
            "!#$%&'*+/=?^_`{|}~-@a1",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "\"'><svg/onload=alert(1)>@x.org",
            "a@b@c",
            "@x.org",
            "a@",
            "a@-x.org",
            "a@x-.org",
            "a@x..org",
            "a b@x.org",
            "a@x.org\n",
            "é@x.org",
            "a@exämple.org",
            "<a>@x.org",
            "a@x.org>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long_label = format!("a@{}.org", "x".repeat(64));
        assert!(Email::parse(&long_label).is_err());
        assert!(Email::parse(&format!("{}@x.org", "a".repeat(250))).is_err());
    }

    #[test]
    fn the_documented_pattern_says_what_is_accepted() {
        // NAME_PATTERN's boundaries: 64 characters, its alphabet, its first character.
        assert!(UserName::parse(&"a".repeat(64)).is_ok());
        assert!(UserName::parse(&"a".repeat(65)).is_err());
        for name in ["a", "0x", "a.b_c-d@e"] {
            assert!(UserName::parse(name).is_ok(), "{name}");
        }
        for name in ["", "-a", ".a", "@a", "a b", "é"] {
            assert!(UserName::parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn a_plain_name_is_accepted() {
        assert_eq!(
            UserName::parse("alice.b-2@lab").map(|n| n.0),
            Ok("alice.b-2@lab".into())
        );
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "",
            "bob\"e\"i'o;aü",
            " alice",
            "-x",
            "a b",
            "x\u{0}y",
            &"a".repeat(65),
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_email_needs_one_at_sign_with_text_on_both_sides() {
        assert!(Email::parse("a@example.org").is_ok());
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
