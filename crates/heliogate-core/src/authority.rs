//! The rule that keeps every credential within the authority behind it.
//!
//! A credential — a browser session, an access or refresh token, a personal access token, a
//! token held by an application a user registered, that application itself — was given on the
//! strength of what someone held at the time. When that changes (a role loses a scope, a user
//! loses a role, is disabled, deleted or given a new password, a role starts to require a
//! second factor, a client is narrowed or deleted), `fate` says what becomes of each
//! credential. The store asks it for every credential the change touches, in the transaction
//! of the change, so that no path (command line, API, console) can end less than another.

use crate::ScopeSet;

/// A change of the authority behind credentials, as it reaches one holder: a user, or a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The holder no longer holds these scopes: a role's scopes were edited, or the user's
    /// roles changed (`Change::scopes`). For a client, its registered scopes were narrowed.
    ScopesLost(ScopeSet),
    /// The user was disabled.
    Disabled,
    /// The user (or the client) was deleted.
    Deleted,
    /// The user's password was replaced: by themselves (their current session stays) or by
    /// an administrator.
    NewPassword,
    /// A role of the user now requires a second factor.
    SecondFactorRequired,
}

impl Change {
    /// The holder held `before` and holds `after`: what that takes away.
    pub fn scopes(before: &ScopeSet, after: &ScopeSet) -> Self {
        Change::ScopesLost(before.difference(after))
    }

    /// The scopes the change takes away, for a scope-bound credential.
    pub fn lost(&self) -> Option<&ScopeSet> {
        match self {
            Change::ScopesLost(lost) => Some(lost),
            _ => None,
        }
    }

    /// Whether the change touches nothing at all, so that nothing need be read.
    pub fn is_empty(&self) -> bool {
        self.lost().is_some_and(ScopeSet::is_empty)
    }

    /// A short name of the change for the audit log.
    pub fn label(&self) -> &'static str {
        match self {
            Change::ScopesLost(_) => "scopes lost",
            Change::Disabled => "disabled",
            Change::Deleted => "deleted",
            Change::NewPassword => "new password",
            Change::SecondFactorRequired => "second factor required",
        }
    }
}

/// A credential, as far as the rule needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A browser session; `second_factor` when it was opened with one, `current` when it is the
    /// session that made the change (a user changing their own password).
    Session { second_factor: bool, current: bool },
    /// An access token issued to a client for the user.
    AccessToken { scope: &'a ScopeSet },
    /// A refresh token of the user; `second_factor` when its grant was signed in with one.
    RefreshToken {
        scope: &'a ScopeSet,
        second_factor: bool,
    },
    /// A personal access token of the user.
    PersonalToken { scope: &'a ScopeSet },
    /// A token held by an application the user registered (for whoever it acts).
    ApplicationToken { scope: &'a ScopeSet },
    /// An application the user registered.
    Application,
}

/// What becomes of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Keeps,
    /// Ends now: a session is deleted, a token revoked (and published on the revocation feed).
    Ends,
    /// An application is deleted with everything it holds.
    Deleted,
}

/// What `change` does to `credential`.
pub fn fate(change: &Change, credential: Credential<'_>) -> Fate {
    use Credential as C;
    let ends = |yes: bool| if yes { Fate::Ends } else { Fate::Keeps };
    match (change, credential) {
        // A session holds no scope: each request reads the user's roles as they are now.
        (Change::ScopesLost(_), C::Session { .. }) => Fate::Keeps,
        // An application keeps its registration: it is narrowed to its owner's scopes at
        // every lookup, so it can no longer be given what its owner lost.
        (Change::ScopesLost(_), C::Application) => Fate::Keeps,
        (
            Change::ScopesLost(lost),
            C::AccessToken { scope }
            | C::RefreshToken { scope, .. }
            | C::PersonalToken { scope }
            | C::ApplicationToken { scope },
        ) => ends(!scope.intersection(lost).is_empty()),

        // A disabled user's application stays registered (it acts again when they are
        // enabled) but is unusable meanwhile, and what it holds ends.
        (Change::Disabled, C::Application) => Fate::Keeps,
        (Change::Disabled, _) => Fate::Ends,

        (Change::Deleted, C::Application) => Fate::Deleted,
        (Change::Deleted, _) => Fate::Ends,

        // A new password ends what the old one opened, but the session of the user who chose
        // it; an application's own tokens were got with its secret, not the password.
        (Change::NewPassword, C::Session { current, .. }) => ends(!current),
        (Change::NewPassword, C::ApplicationToken { .. } | C::Application) => Fate::Keeps,
        (Change::NewPassword, _) => Fate::Ends,

        // What was signed in with a password alone no longer passes: its sessions, and the
        // refresh tokens of its grants. Access tokens expire within the hour.
        (Change::SecondFactorRequired, C::Session { second_factor, .. })
        | (Change::SecondFactorRequired, C::RefreshToken { second_factor, .. }) => {
            ends(!second_factor)
        }
        (Change::SecondFactorRequired, _) => Fate::Keeps,
    }
}

/// Whether a sign-in made at `signed_in_at` is, at `now`, at most `max_age` seconds old: what
/// the administrators' console needs.
pub fn fresh(signed_in_at: crate::UnixTime, now: crate::UnixTime, max_age: i64) -> bool {
    now - signed_in_at <= max_age
}

/// Whether such a sign-in may make a credential that holds `scopes`: one that reaches `admin`
/// needs it `fresh`, as the administrators' console does.
pub fn fresh_enough<'s>(
    mut scopes: impl Iterator<Item = &'s str>,
    signed_in_at: crate::UnixTime,
    now: crate::UnixTime,
    max_age: i64,
) -> bool {
    !scopes.any(|s| s == crate::ADMIN_SCOPE) || fresh(signed_in_at, now, max_age)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap_or_default()
    }

    /// Every kind of change against every kind of credential.
    #[test]
    fn what_each_change_ends() {
        let admin = set("admin read");
        let read = set("read");
        let lost_admin = Change::scopes(&set("admin read"), &set("read"));
        let sessions = [
            Credential::Session {
                second_factor: false,
                current: false,
            },
            Credential::Session {
                second_factor: true,
                current: false,
            },
            Credential::Session {
                second_factor: false,
                current: true,
            },
        ];
        let tokens = |scope| {
            [
                Credential::AccessToken { scope },
                Credential::RefreshToken {
                    scope,
                    second_factor: false,
                },
                Credential::RefreshToken {
                    scope,
                    second_factor: true,
                },
                Credential::PersonalToken { scope },
                Credential::ApplicationToken { scope },
            ]
        };
        use Fate::{Deleted as D, Ends as E, Keeps as K};
        /// A change; its fate for three sessions, five tokens with `admin`, five without,
        /// and an application.
        type Row = (Change, [Fate; 3], [Fate; 5], [Fate; 5], Fate);
        let table: [Row; 5] = [
            (lost_admin, [K, K, K], [E, E, E, E, E], [K, K, K, K, K], K),
            (Change::Disabled, [E, E, E], [E; 5], [E; 5], K),
            (Change::Deleted, [E, E, E], [E; 5], [E; 5], D),
            (
                Change::NewPassword,
                [E, E, K],
                [E, E, E, E, K],
                [E, E, E, E, K],
                K,
            ),
            (
                Change::SecondFactorRequired,
                [E, K, E],
                [K, E, K, K, K],
                [K, E, K, K, K],
                K,
            ),
        ];
        for (change, on_sessions, with_admin, without, application) in table {
            for (credential, want) in sessions.into_iter().zip(on_sessions) {
                assert_eq!(fate(&change, credential), want, "{change:?} {credential:?}");
            }
            for (credential, want) in tokens(&admin).into_iter().zip(with_admin) {
                assert_eq!(fate(&change, credential), want, "{change:?} {credential:?}");
            }
            for (credential, want) in tokens(&read).into_iter().zip(without) {
                assert_eq!(fate(&change, credential), want, "{change:?} {credential:?}");
            }
            assert_eq!(
                fate(&change, Credential::Application),
                application,
                "{change:?}"
            );
        }
    }

    #[test]
    fn a_scope_held_through_another_role_is_not_lost() {
        // The role lost `admin`, but another role of the user still gives it.
        let change = Change::scopes(&set("admin read"), &set("admin read"));
        assert!(change.is_empty());
        let scope = set("admin");
        assert_eq!(
            fate(&change, Credential::PersonalToken { scope: &scope }),
            Fate::Keeps
        );
        let gained = Change::scopes(&set("read"), &set("admin read"));
        assert!(gained.is_empty());
        assert!(!Change::Disabled.is_empty());
    }

    #[test]
    fn only_a_fresh_sign_in_makes_what_reaches_admin() {
        let fresh =
            |scopes: &[&str], age: i64| fresh_enough(scopes.iter().copied(), 1000, 1000 + age, 900);
        assert!(fresh(&["read"], 10_000));
        assert!(fresh(&["admin", "read"], 900));
        assert!(!fresh(&["read", "admin"], 901));
        assert!(fresh(&[], 10_000));
    }
}
