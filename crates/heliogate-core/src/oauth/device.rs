//! The device authorization grant's rules (RFC 8628): the user code a person types, and what a
//! poll of the token endpoint is answered with.

use crate::UnixTime;

/// RFC 8628 §6.1: letters only, no vowels (no words), none that look alike (no I, O, U, Y).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters in a user code: 20⁸ ≈ 2.6 × 10¹⁰ codes, of which a guesser, throttled like a
/// password guesser, can try a few thousand a day against a handful live at once.
pub const USER_CODE_LEN: usize = 8;

/// How long a device code lasts (`expires_in`): ten minutes to find a browser and sign in.
pub const DEVICE_CODE_TTL: i64 = 600;

/// The first polling interval (§3.2 `interval`, the RFC's default).
pub const POLL_INTERVAL: i64 = 5;

/// §3.5: what `slow_down` adds to the interval.
pub const SLOW_DOWN_STEP: i64 = 5;

/// The longest interval `slow_down` grows to.
const MAX_POLL_INTERVAL: i64 = 60;

/// A user code from `USER_CODE_LEN` random bytes, each taken modulo the alphabet's length
/// (256 = 12 × 20 + 16: the bias is below one part in ten and costs a fraction of a bit).
pub fn user_code(random: [u8; USER_CODE_LEN]) -> String {
    random
        .iter()
        .map(|b| char::from(USER_CODE_ALPHABET[usize::from(*b) % USER_CODE_ALPHABET.len()]))
        .collect()
}

/// How a user code is shown: two groups of four, `WDJB-MJHT`.
pub fn display_user_code(code: &str) -> String {
    match code.char_indices().nth(USER_CODE_LEN / 2) {
        Some((middle, _)) => format!("{}-{}", &code[..middle], &code[middle..]),
        None => code.to_owned(),
    }
}

/// A typed user code as it is looked up: case, spaces and dashes do not matter (§6.1); `None`
/// when what remains cannot be any code (and nothing is looked up).
pub fn normalize_user_code(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let fits = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    fits.then_some(code)
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    /// Its tokens were issued: a further poll is a replay.
    Redeemed,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Redeemed => "redeemed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DeviceStatus::Pending,
            DeviceStatus::Approved,
            DeviceStatus::Denied,
            DeviceStatus::Redeemed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// A stored status, read back.
impl TryFrom<String> for DeviceStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown device authorization status {s:?}"))
    }
}

/// A device authorization as a poll finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolledDevice {
    pub status: DeviceStatus,
    pub expires_at: UnixTime,
    pub interval: i64,
    pub last_poll: Option<UnixTime>,
}

/// What a poll is answered with (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollAnswer {
    /// Issue the tokens (once).
    Issue,
    /// `authorization_pending`; the poll is recorded.
    Pending,
    /// `slow_down`; the interval becomes this.
    SlowDown {
        interval: i64,
    },
    AccessDenied,
    ExpiredToken,
    /// A second poll after the tokens were issued.
    Replayed,
}

/// §3.5: a poll sooner than `interval` after the last is told to slow down, and the interval
/// grows by five seconds; an expired code is `expired_token` whatever else it is.
pub fn poll(device: &PolledDevice, now: UnixTime) -> PollAnswer {
    if now >= device.expires_at {
        return PollAnswer::ExpiredToken;
    }
    match device.status {
        DeviceStatus::Redeemed => PollAnswer::Replayed,
        DeviceStatus::Denied => PollAnswer::AccessDenied,
        _ if device
            .last_poll
            .is_some_and(|last| now - last < device.interval) =>
        {
            PollAnswer::SlowDown {
                interval: (device.interval + SLOW_DOWN_STEP).min(MAX_POLL_INTERVAL),
            }
        }
        DeviceStatus::Approved => PollAnswer::Issue,
        DeviceStatus::Pending => PollAnswer::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_easy_to_type_and_forgiving_to_read() {
        let code = user_code([0, 1, 19, 20, 255, 128, 7, 99]);
        assert_eq!(code, "BCZBTLKZ");
        assert_eq!(display_user_code(&code), "BCZB-TLKZ");
        assert_eq!(normalize_user_code("bczb-tlkz"), Some(code.clone()));
        assert_eq!(normalize_user_code(" BCZB TLKZ "), Some(code));
        for bad in ["", "BCZB-QRK", "BCZB-QRKZZ", "BCZB-QRKA", "BCZB-QRK0", "ß"] {
            assert_eq!(normalize_user_code(bad), None, "{bad:?}");
        }
        assert!(!USER_CODE_ALPHABET.iter().any(|c| b"AEIOUY01".contains(c)));
    }

    fn device(status: DeviceStatus, last_poll: Option<UnixTime>) -> PolledDevice {
        PolledDevice {
            status,
            expires_at: 1600,
            interval: 5,
            last_poll,
        }
    }

    #[test]
    fn rfc_8628_3_5_answers() {
        use DeviceStatus::*;
        assert_eq!(poll(&device(Pending, None), 1000), PollAnswer::Pending);
        assert_eq!(
            poll(&device(Pending, Some(998)), 1000),
            PollAnswer::SlowDown { interval: 10 }
        );
        assert_eq!(poll(&device(Pending, Some(995)), 1000), PollAnswer::Pending);
        assert_eq!(poll(&device(Approved, Some(995)), 1000), PollAnswer::Issue);
        assert_eq!(
            poll(&device(Approved, Some(999)), 1000),
            PollAnswer::SlowDown { interval: 10 }
        );
        assert_eq!(
            poll(&device(Denied, Some(999)), 1000),
            PollAnswer::AccessDenied
        );
        assert_eq!(poll(&device(Redeemed, None), 1000), PollAnswer::Replayed);
        assert_eq!(
            poll(&device(Approved, None), 1600),
            PollAnswer::ExpiredToken
        );
        let slow = PolledDevice {
            interval: 60,
            ..device(Pending, Some(999))
        };
        assert_eq!(poll(&slow, 1000), PollAnswer::SlowDown { interval: 60 });
    }
}
