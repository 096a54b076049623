//! Server nonces (RFC 9449 §8): a window's number and its tag under the installation's key,
//! so that any node can make one and check any other's without a shared store. A nonce is
//! good for the window it was made in and the next: five to ten minutes.

use heliogate_core::{ServerKey, UnixTime};

/// The length of a window, in seconds.
const WINDOW: i64 = 300;
const PURPOSE: &str = "dpop-nonce";

/// The nonce to hand out at `now`.
pub fn current(key: &ServerKey, now: UnixTime) -> String {
    let window = (now / WINDOW).to_string();
    let tag = key.tag(PURPOSE, &window);
    format!("{window}.{tag}")
}

/// Whether `nonce` is one of ours, of this window or the one before.
pub fn valid(key: &ServerKey, nonce: &str, now: UnixTime) -> bool {
    let Some((window, tag)) = nonce.split_once('.') else {
        return false;
    };
    let Ok(number) = window.parse::<i64>() else {
        return false;
    };
    let this = now / WINDOW;
    (number == this || number == this - 1) && key.verify(PURPOSE, window, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lasts_its_window_and_the_next() {
        let Some(key) = ServerKey::decode(&heliogate_core::encode_secret([7; 32])) else {
            unreachable!("a 32-byte key decodes")
        };
        let nonce = current(&key, 3000);
        assert!(valid(&key, &nonce, 3000));
        assert!(valid(&key, &nonce, 3000 + WINDOW));
        assert!(!valid(&key, &nonce, 3000 + 2 * WINDOW));
        assert!(!valid(&key, &nonce, 3000 - WINDOW));
        let Some(other) = ServerKey::decode(&heliogate_core::encode_secret([8; 32])) else {
            unreachable!("a 32-byte key decodes")
        };
        assert!(!valid(&other, &nonce, 3000));
        for bad in ["", "10", "10.", "x.y", "10.AAAA"] {
            assert!(!valid(&key, bad, 3000), "{bad:?}");
        }
    }
}
