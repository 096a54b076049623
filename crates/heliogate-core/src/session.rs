//! Sign-in sessions and the defences around them: lifetimes, brute-force lockout, and where a
//! user may be sent after signing in.

use crate::UnixTime;

/// How long a session lives: it ends after `idle` seconds without a request, and `max` seconds
/// after sign-in whatever happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: i64,
    pub max: i64,
}

impl SessionPolicy {
    /// When a session created at `created_at` and last used at `last_seen` ends.
    pub fn expires_at(&self, created_at: UnixTime, last_seen: UnixTime) -> UnixTime {
        (created_at + self.max).min(last_seen + self.idle)
    }
}

/// Brute-force defence: failed sign-ins are counted per account and per client address; past
/// a threshold, each further failure locks the key for twice as long as the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures per account name allowed before a lock.
    pub account_threshold: i64,
    /// Failures per client address allowed before a lock: higher, as many people may share one.
    pub address_threshold: i64,
    /// The first lock, in seconds.
    pub base_delay: i64,
    /// The longest lock, in seconds.
    pub max_delay: i64,
    /// Failures further apart than this start the count again.
    pub window: i64,
}

impl ThrottlePolicy {
    /// How long to lock a key that has failed `failures` times against `threshold`: nothing up
    /// to the threshold, then `base_delay`, doubling with each failure, at most `max_delay`.
    pub fn lockout(&self, failures: i64, threshold: i64) -> i64 {
        if failures < threshold {
            return 0;
        }
        let doublings = (failures - threshold).clamp(0, 30) as u32;
        self.base_delay
            .saturating_mul(1i64 << doublings)
            .min(self.max_delay)
    }
}

/// A key's attempt counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttemptCounter {
    pub failures: i64,
    pub last_failure: UnixTime,
    pub locked_until: UnixTime,
}

/// What counting an attempt decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The key is locked until then: refuse without checking, and count nothing.
    Locked { until: UnixTime },
    /// Check the password. `counter` is what to store; `held` says that this attempt took the
    /// key's last check of the lock period, and holds the key until it is decided.
    Counted {
        count: i64,
        held: bool,
        counter: AttemptCounter,
    },
}

/// How long an attempt that took a key's last check holds the key: longer than a check can
/// wait and take, short enough that a crash in between locks nobody out for long.
pub const CHECK_HOLD: i64 = 10;

impl ThrottlePolicy {
    /// Counts an attempt against a key with `counter` at `now`, before its password is checked.
    /// Up to `threshold` attempts are checked freely; from there on, one at a time: the attempt
    /// that reaches the threshold holds the key while it is checked, so of any number of
    /// parallel guesses at most `threshold` are checked before the key locks, and one more
    /// each time a lock ends.
    pub fn count_attempt(&self, counter: AttemptCounter, now: UnixTime, threshold: i64) -> Attempt {
        if counter.locked_until > now {
            return Attempt::Locked {
                until: counter.locked_until,
            };
        }
        let count = if counter.last_failure < now - self.window {
            1
        } else {
            counter.failures + 1
        };
        let held = count >= threshold;
        Attempt::Counted {
            count,
            held,
            counter: AttemptCounter {
                failures: count,
                last_failure: now,
                locked_until: if held {
                    now + CHECK_HOLD
                } else {
                    counter.locked_until
                },
            },
        }
    }
}

/// The longest place a sign-in returns to: more than any authorization request the server
/// accepts (which refuses longer ones), so that every pending request survives the sign-in.
pub const MAX_NEXT_LEN: usize = 32 * 1024;

/// Where to go after signing in: only a path on this server. Anything that a browser could
/// read as another origin (`//host`, `/\host`, `https://…`, control characters) becomes `/`
/// (RFC 9700 §4.11: no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else { return "/".into() };
    // A backslash only matters where a browser could read it as a slash: in the path.
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !path.contains('\\')
        && next.len() <= MAX_NEXT_LEN
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    if plain {
        next.to_owned()
    } else {
        "/".into()
    }
}

/// A `User-Agent` header in words for a list of sessions ("Firefox on Linux"): the browser
/// and system it names, or "Unknown device". Only a handful of well-known names are looked
/// for; the header is the browser's say-so, never proof of anything.
pub fn describe_user_agent(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "Unknown device".into();
    };
    // Order matters: Edge and Chrome say "Safari" too, Chrome-based browsers say "Chrome".
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests/", "Python requests"),
        ("HeadlessChrome/", "Chrome"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |names: &[(&str, &'static str)]| {
        names
            .iter()
            .find(|(needle, _)| ua.contains(needle))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown device".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)] // a test that meets another outcome stops there
    use super::*;

    const THROTTLE: ThrottlePolicy = ThrottlePolicy {
        account_threshold: 5,
        address_threshold: 20,
        base_delay: 2,
        max_delay: 900,
        window: 900,
    };

    #[test]
    fn a_session_ends_idle_or_at_its_maximum() {
        let policy = SessionPolicy {
            idle: 1800,
            max: 36000,
        };
        assert_eq!(policy.expires_at(0, 0), 1800);
        assert_eq!(policy.expires_at(0, 35000), 36000);
    }

    #[test]
    fn the_lock_doubles_past_the_threshold_up_to_the_maximum() {
        let delays: Vec<i64> = (3..=9).map(|f| THROTTLE.lockout(f, 5)).collect();
        assert_eq!(delays, [0, 0, 2, 4, 8, 16, 32]);
        assert_eq!(THROTTLE.lockout(100, 5), 900);
    }

    #[test]
    fn attempts_are_free_below_the_threshold_then_one_at_a_time() {
        let fresh = AttemptCounter::default();
        let first = THROTTLE.count_attempt(fresh, 1000, 3);
        let Attempt::Counted {
            count: 1,
            held: false,
            counter,
        } = first
        else {
            panic!("{first:?}")
        };
        let second = THROTTLE.count_attempt(counter, 1001, 3);
        let Attempt::Counted {
            count: 2,
            held: false,
            counter,
        } = second
        else {
            panic!("{second:?}")
        };
        // The third takes the last check and holds the key: a parallel fourth is refused.
        let third = THROTTLE.count_attempt(counter, 1002, 3);
        let Attempt::Counted {
            count: 3,
            held: true,
            counter,
        } = third
        else {
            panic!("{third:?}")
        };
        assert_eq!(
            THROTTLE.count_attempt(counter, 1002, 3),
            Attempt::Locked {
                until: 1002 + CHECK_HOLD
            }
        );
        // Once the lock (here the hold) is over, one more attempt is checked, alone again.
        let after = THROTTLE.count_attempt(counter, 1002 + CHECK_HOLD, 3);
        assert!(
            matches!(
                after,
                Attempt::Counted {
                    count: 4,
                    held: true,
                    ..
                }
            ),
            "{after:?}"
        );
    }

    #[test]
    fn attempts_further_apart_than_the_window_start_the_count_again() {
        let old = AttemptCounter {
            failures: 4,
            last_failure: 1000,
            locked_until: 0,
        };
        let again = THROTTLE.count_attempt(old, 1000 + 901, 5);
        assert!(
            matches!(
                again,
                Attempt::Counted {
                    count: 1,
                    held: false,
                    ..
                }
            ),
            "{again:?}"
        );
    }

    #[test]
    fn next_is_only_ever_a_local_path() {
        assert_eq!(safe_next(Some("/account?tab=1")), "/account?tab=1");
        assert_eq!(
            safe_next(Some("/oauth/authorize?client_id=x&scope=read%20write")),
            "/oauth/authorize?client_id=x&scope=read%20write"
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/\t/evil",
            "/a b",
            "\\\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?} was kept");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn any_authorization_request_the_server_accepts_comes_back_after_sign_in() {
        let state = format!("{}\\{}", "s".repeat(2047), "");
        let long = format!("/oauth/authorize?client_id=x&state={state}");
        assert!(long.len() > 2000);
        assert_eq!(safe_next(Some(&long)), long);
        let too_long = format!("/oauth/authorize?state={}", "s".repeat(MAX_NEXT_LEN));
        assert_eq!(safe_next(Some(&too_long)), "/");
    }

    #[test]
    fn a_user_agent_reads_as_browser_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_user_agent(Some(chrome)), "Chrome on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(describe_user_agent(Some(edge)), "Edge on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_user_agent(Some(safari)), "Safari on iOS");
        assert_eq!(describe_user_agent(Some("curl/8.5.0")), "curl");
        assert_eq!(describe_user_agent(Some("")), "Unknown device");
        assert_eq!(describe_user_agent(None), "Unknown device");
        assert_eq!(describe_user_agent(Some("something")), "Unknown device");
    }
}
