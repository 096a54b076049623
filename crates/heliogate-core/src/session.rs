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

/// Where to go after signing in: only a path on this server. Anything that a browser could
/// read as another origin (`//host`, `/\host`, `https://…`, control characters) becomes `/`
/// (RFC 9700 §4.11: no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else { return "/".into() };
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 2000
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    if plain {
        next.to_owned()
    } else {
        "/".into()
    }
}

#[cfg(test)]
mod tests {
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
}
