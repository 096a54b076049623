//! Time and randomness: the only impure inputs to the rules.

use std::time::{SystemTime, UNIX_EPOCH};

use heliogate_core::{encode_secret, encode_token, encode_token_id, UnixTime};
use rand::rngs::OsRng;
use rand::RngCore;

/// The current time in Unix seconds.
pub fn now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A new 256-bit secret, URL-safe. It comes from the thread-local CSPRNG (ChaCha, seeded and
/// periodically reseeded from the operating system): as unpredictable as a `getrandom` call
/// per token, without a system call on every token issued.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    encode_secret(bytes)
}

/// A new access or refresh token: an id that sorts by issue time, then a 256-bit secret
/// (see `TokenKey`), from the same generator as `new_secret`.
pub fn new_token() -> String {
    let mut random = [0u8; 42];
    rand::thread_rng().fill_bytes(&mut random);
    encode_token(millis_now(), random)
}

/// Milliseconds since the epoch, the time part of a token id.
fn millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A new token id alone (see `encode_token_id`): a JWT access token's `jti`.
pub fn new_token_id() -> String {
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    encode_token_id(millis_now(), random)
}

/// A new grant family's id (the tokens of one sign-in's grant, rotated refresh tokens
/// included): 128 bits that, like a token id, grow with time, so that the families begun
/// together sit side by side in the family indexes of both token tables rather than each on a
/// random page of them.
pub fn new_family_id() -> String {
    new_token_id()
}

/// A new user id: a random (version 4) UUID, the stable `sub` of the user's tokens.
pub fn new_user_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A new client id: 128 random bits in lowercase hex, easy to paste into a shell.
pub fn new_client_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_have_their_shapes() {
        let id = new_user_id();
        assert_eq!((id.len(), &id[14..15]), (36, "4"));
        assert_eq!(new_client_id().len(), 32);
        assert_eq!(new_secret().len(), 43);
        assert_ne!(new_secret(), new_secret());
        assert_eq!(new_token().len(), 64);
        assert_ne!(new_token(), new_token());
    }
}
