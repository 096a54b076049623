//! OpenID Connect Back-Channel Logout 1.0: what a logout token says (§2.4), and how often a
//! delivery that failed is tried again.

use serde::Serialize;

use crate::UnixTime;

/// The JWT `typ` of a logout token (§2.4: explicit typing, as RFC 8725 §3.11 recommends).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";

/// How long a logout token may be used after it is made: two minutes, enough for one delivery
/// (a retry is signed afresh).
pub const LOGOUT_TOKEN_TTL: i64 = 120;

/// The claims of a logout token: it names the session (`sid`) and the user (`sub`), and never
/// carries a `nonce` (§2.4), so it cannot pass for an ID token.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub aud: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: LogoutEvents,
}

/// The `events` member (§2.4): the back-channel logout event, with an empty object as its
/// value.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LogoutEvents {
    #[serde(rename = "http://schemas.openid.net/event/backchannel-logout")]
    logout: Empty,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
struct Empty {}

impl LogoutTokenClaims {
    pub fn new(iss: &str, aud: &str, sub: &str, sid: &str, jti: &str, now: UnixTime) -> Self {
        Self {
            iss: iss.to_owned(),
            aud: aud.to_owned(),
            iat: now,
            exp: now + LOGOUT_TOKEN_TTL,
            jti: jti.to_owned(),
            sub: sub.to_owned(),
            sid: sid.to_owned(),
            events: LogoutEvents::default(),
        }
    }
}

/// Seconds to wait after each failed attempt, the first failure first: a second (a relying
/// party restarting), then longer, up to an hour between tries.
const RETRY_DELAYS: [i64; 11] = [1, 5, 30, 120, 600, 1800, 3600, 3600, 3600, 3600, 3600];

/// The most attempts a delivery gets: about six hours of trying.
pub const MAX_ATTEMPTS: i64 = RETRY_DELAYS.len() as i64 + 1;

/// When to try again after attempt `attempt` (from 1) failed at `now`: `None` once it was the
/// last.
pub fn next_attempt(attempt: i64, now: UnixTime) -> Option<UnixTime> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_DELAYS.get(index).map(|delay| now + delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_end() {
        assert_eq!(next_attempt(1, 1000), Some(1001));
        assert_eq!(next_attempt(2, 1000), Some(1005));
        assert_eq!(next_attempt(MAX_ATTEMPTS - 1, 0), Some(3600));
        assert_eq!(next_attempt(MAX_ATTEMPTS, 0), None);
        assert_eq!(next_attempt(0, 0), None);
        let total: i64 = RETRY_DELAYS.iter().sum();
        assert!((5 * 3600..7 * 3600).contains(&total), "{total}");
    }
}
