//! RFC 6238 time-based one-time passwords, as authenticator apps compute them: HMAC-SHA-1,
//! 6 digits, 30-second steps, one step of clock drift either way, each step used once.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::UnixTime;

/// Seconds per step.
pub const TOTP_PERIOD: i64 = 30;
/// Digits per code.
pub const TOTP_DIGITS: u32 = 6;
/// Steps of drift accepted on either side of now.
const DRIFT: i64 = 1;

/// A shared TOTP secret: 160 random bits, as RFC 4226 recommends.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; 20]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// A secret as stored (`as_bytes`); `None` unless 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The secret as a person types it into an app: base32, in groups of four.
    pub fn to_text(&self) -> String {
        let text = base32(&self.0);
        let groups: Vec<&str> = text
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        groups.join(" ")
    }

    /// A secret as `to_text` writes it (or an app exports it): base32, any case, spaces
    /// ignored; `None` unless it is 20 bytes.
    pub fn from_text(text: &str) -> Option<Self> {
        let mut bytes = Vec::with_capacity(20);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            let value = match c.to_ascii_uppercase() {
                c @ 'A'..='Z' => c as u32 - 'A' as u32,
                c @ '2'..='7' => c as u32 - '2' as u32 + 26,
                _ => return None,
            };
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((buffer >> bits) as u8);
            }
        }
        Self::from_slice(&bytes)
    }

    /// The `otpauth://` URI an app reads from a QR code (Google Authenticator's key URI
    /// format, which every app follows): the issuer and account name label the entry.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label: String =
            url::form_urlencoded::byte_serialize(format!("{issuer}:{account}").as_bytes())
                .collect();
        let issuer: String = url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect();
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_PERIOD}",
            label.replace('+', "%20"),
            base32(&self.0),
            issuer.replace('+', "%20"),
        )
    }

    /// The code for the step that holds `time`.
    pub fn code_at(&self, time: UnixTime) -> String {
        let step = u64::try_from(time.div_euclid(TOTP_PERIOD)).unwrap_or(0);
        format!(
            "{:0width$}",
            hotp(&self.0, step, TOTP_DIGITS),
            width = TOTP_DIGITS as usize
        )
    }

    /// The step whose code `code` is, within the drift around `now`, if it is later than
    /// `last_used` (so that no code is accepted twice). Spaces in the code are ignored; the
    /// comparison takes the same time whichever digits differ.
    pub fn verify(&self, code: &str, now: UnixTime, last_used: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.div_euclid(TOTP_PERIOD);
        let mut found = None;
        for step in current - DRIFT..=current + DRIFT {
            let Ok(counter) = u64::try_from(step) else {
                continue;
            };
            let expected = format!(
                "{:0width$}",
                hotp(&self.0, counter, TOTP_DIGITS),
                width = TOTP_DIGITS as usize
            );
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && step > last_used {
                found = Some(step);
            }
        }
        found
    }
}

/// RFC 4226 HOTP: the HMAC-SHA-1 of the counter, dynamically truncated to `digits` digits.
fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0; // HMAC takes a key of any length
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// RFC 4648 base32 without padding, as TOTP secrets are written.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        // Appendix B, SHA-1 rows: 8 digits.
        for (time, code) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(RFC_SECRET, time / 30, 8), code, "T = {time}");
        }
    }

    #[test]
    fn rfc_4226_hotp_test_vectors() {
        // Appendix D: 6 digits, counters 0 to 9.
        let codes = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in codes.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), code);
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_way_and_once() {
        let secret = TotpSecret::from_bytes(*RFC_SECRET);
        let now = 1_111_111_111;
        let step = now / 30;
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.verify(&secret.code_at(now), now, 0), Some(step));
        assert_eq!(
            secret.verify(&secret.code_at(now - 30), now, 0),
            Some(step - 1)
        );
        assert_eq!(
            secret.verify(&secret.code_at(now + 30), now, 0),
            Some(step + 1)
        );
        assert_eq!(secret.verify(&secret.code_at(now - 60), now, 0), None);
        assert_eq!(secret.verify(&secret.code_at(now + 60), now, 0), None);
        // Used once: not again, nor an earlier one.
        assert_eq!(secret.verify(&secret.code_at(now), now, step), None);
        assert_eq!(secret.verify(&secret.code_at(now - 30), now, step), None);
        let spaced = format!(
            "{} {}",
            &secret.code_at(now)[..3],
            &secret.code_at(now)[3..]
        );
        assert_eq!(secret.verify(&spaced, now, 0), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(secret.verify(bad, now, 0), None, "{bad}");
        }
    }

    #[test]
    fn base32_follows_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
        let secret = TotpSecret::from_bytes(*RFC_SECRET);
        assert_eq!(secret.to_text(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        assert_eq!(
            TotpSecret::from_text(&secret.to_text()),
            Some(secret.clone())
        );
        assert_eq!(
            TotpSecret::from_text("gezdgnbvgy3tqojqgezdgnbvgy3tqojq"),
            Some(secret.clone())
        );
        assert_eq!(TotpSecret::from_text("GEZD"), None);
        assert_eq!(
            TotpSecret::from_text("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJ1"),
            None
        );
        assert_eq!(
            secret.uri("heliogate", "ada lovelace"),
            "otpauth://totp/heliogate%3Aada%20lovelace?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=heliogate&algorithm=SHA1&digits=6&period=30"
        );
    }
}
