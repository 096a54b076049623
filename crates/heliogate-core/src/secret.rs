//! Client secrets, tokens and session ids are 256-bit random values shown once and stored only
//! as their SHA-256. They carry full entropy, so a fast hash is as safe as a slow KDF here and
//! keeps every token request cheap.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 of a secret: the only form in which a secret is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// The public id of a sign-in session whose id hashes to this (OpenID Connect `sid`): a
    /// hash of the hash the store keeps, so it names the session without revealing or
    /// unlocking it.
    pub fn session_sid(&self) -> String {
        let mut input = b"heliogate sid ".to_vec();
        input.extend_from_slice(&self.0);
        encode_secret(SecretHash::of_bytes(&input).0)[..22].to_owned()
    }

    /// Hashes a secret as presented by a client.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Hashes bytes that are not a presented secret.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Rebuilds a hash read from storage; `None` when it is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Compares in constant time, so a mismatch leaks nothing about where it is.
    pub fn matches(&self, presented: &str) -> bool {
        Self::of(presented).0.ct_eq(&self.0).into()
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

/// A 256-bit key of the installation, shared by every node, that tags values so that only
/// heliogate can make a tag (HMAC-SHA-256), each purpose apart from the others.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl ServerKey {
    /// The key as `encode_secret` wrote it; `None` when it is not such a key.
    pub fn decode(encoded: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        bytes.try_into().ok().map(Self)
    }

    fn mac(&self, purpose: &str, value: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        // The purpose is length-prefixed, so that no (purpose, value) pair reads as another.
        mac.update(&(purpose.len() as u64).to_be_bytes());
        mac.update(purpose.as_bytes());
        mac.update(value.as_bytes());
        mac
    }

    /// The tag of `value` for `purpose`, URL-safe (43 characters).
    pub fn tag(&self, purpose: &str, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, value).finalize().into_bytes())
    }

    /// Whether `tag` is the tag of `value` for `purpose`, compared in constant time.
    pub fn verify(&self, purpose: &str, value: &str, tag: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        self.mac(purpose, value).verify_slice(&bytes).is_ok()
    }
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

/// Encodes 32 random bytes as the URL-safe string handed out (43 characters).
pub fn encode_secret(random: [u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// How long a token's public id is: 6 bytes of milliseconds since the epoch, 10 random bytes.
const TOKEN_ID_LEN: usize = 16;
/// How long a token is before encoding: its id, then a 256-bit secret.
const TOKEN_LEN: usize = TOKEN_ID_LEN + 32;
/// How long a token is as handed out.
const TOKEN_CHARS: usize = 64;

/// Encodes an access or refresh token (64 characters): a public id that sorts by issue time
/// (`millis`, then the first 10 random bytes), followed by a 256-bit secret (the other 32).
pub fn encode_token(millis: u64, random: [u8; 42]) -> String {
    let mut bytes = [0u8; TOKEN_LEN];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Encodes a token id alone (22 characters): 6 bytes of `millis`, then 10 random bytes. A JWT
/// access token carries one as its `jti`, its first claim, so that `TokenKey::of` finds it.
pub fn encode_token_id(millis: u64, random: [u8; 10]) -> String {
    let mut bytes = [0u8; TOKEN_ID_LEN];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How a JWT payload that heliogate signed begins: its `jti` first.
const JTI_FIRST: &[u8] = b"{\"jti\":\"";

/// The token id a JWT carries as the first claim of its payload (`{"jti":"<22 characters>"`),
/// read from the first 44 characters of the payload without parsing the rest.
fn jwt_token_id(token: &str) -> Option<[u8; TOKEN_ID_LEN]> {
    let payload = token.split('.').nth(1)?;
    let mut head = [0u8; 33];
    URL_SAFE_NO_PAD
        .decode_slice(payload.get(..44)?, &mut head)
        .ok()?;
    let id_chars = head.strip_prefix(JTI_FIRST)?;
    if id_chars.get(22) != Some(&b'"') {
        return None;
    }
    let mut id = [0u8; TOKEN_ID_LEN];
    match URL_SAFE_NO_PAD.decode_slice(&id_chars[..22], &mut id) {
        Ok(TOKEN_ID_LEN) => Some(id),
        _ => None,
    }
}

/// The key an access or refresh token is stored and looked up under: the token's public id,
/// then the SHA-256 of the whole token. Only the hash proves the token; the id, which grows
/// with time, puts tokens issued together side by side in the index, so a batch of
/// issuances writes a few index pages instead of one random page per token. A JWT access token
/// has the id of its `jti` (see `encode_token_id`). A token of the earlier 43-character form,
/// and a JWT without such a `jti`, is keyed by its SHA-256 alone, so those stay valid.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenKey {
    bytes: [u8; TOKEN_LEN],
    len: u8,
}

/// A key ends with a SHA-256, whose last eight bytes are as spread as a hasher's output: a
/// map of keys hashes those alone (one word, where the whole key was 57 bytes with its length
/// and padding). Keys that are equal end alike, as `Hash` requires.
impl std::hash::Hash for TokenKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let tail = self
            .as_bytes()
            .last_chunk::<8>()
            .copied()
            .unwrap_or_default();
        state.write_u64(u64::from_le_bytes(tail));
    }
}

impl TokenKey {
    /// The key of a token as presented by a client.
    pub fn of(token: &str) -> Self {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut bytes = [0u8; TOKEN_LEN];
        let mut decoded = [0u8; TOKEN_LEN];
        let id = if token.len() == TOKEN_CHARS
            && URL_SAFE_NO_PAD.decode_slice(token, &mut decoded) == Ok(TOKEN_LEN)
        {
            decoded[..TOKEN_ID_LEN].try_into().ok()
        } else {
            jwt_token_id(token)
        };
        let start = match id {
            Some(id) => {
                bytes[..TOKEN_ID_LEN].copy_from_slice(&id);
                TOKEN_ID_LEN
            }
            None => 0,
        };
        bytes[start..start + 32].copy_from_slice(&hash);
        Self {
            bytes,
            len: (start + 32) as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A key as stored (`as_bytes`), given back: a hash alone, or a token id and a hash.
    pub fn from_stored(stored: &[u8]) -> Option<Self> {
        if stored.len() != 32 && stored.len() != TOKEN_ID_LEN + 32 {
            return None;
        }
        let mut bytes = [0u8; TOKEN_LEN];
        bytes[..stored.len()].copy_from_slice(stored);
        Some(Self {
            bytes,
            len: stored.len() as u8,
        })
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_verifies_for_its_key_purpose_and_value_only() {
        let key = ServerKey::decode(&encode_secret([1; 32])).unwrap_or_else(|| unreachable!());
        let other = ServerKey::decode(&encode_secret([2; 32])).unwrap_or_else(|| unreachable!());
        let tag = key.tag("login", "abc");
        assert_eq!(tag.len(), 43);
        assert!(key.verify("login", "abc", &tag));
        assert!(!other.verify("login", "abc", &tag));
        assert!(!key.verify("login", "abd", &tag));
        assert!(!key.verify("logi", "nabc", &tag));
        assert!(!key.verify("login", "abc", &tag[..42]));
        assert!(!key.verify("login", "abc", "not base64 at all!"));
        assert!(ServerKey::decode("short").is_none());
        assert_eq!(format!("{key:?}"), "ServerKey([redacted])");
    }

    #[test]
    fn a_stored_key_is_given_back_as_it_was() {
        for token in ["a-legacy-token", &URL_SAFE_NO_PAD.encode([7u8; TOKEN_LEN])] {
            let key = TokenKey::of(token);
            assert_eq!(TokenKey::from_stored(key.as_bytes()), Some(key));
        }
        assert_eq!(TokenKey::from_stored(&[1; 31]), None);
        assert_eq!(TokenKey::from_stored(&[1; 49]), None);
    }

    #[test]
    fn a_jwt_is_keyed_by_the_id_of_its_leading_jti() {
        let jti = encode_token_id(1_800_000_000_000, [5; 10]);
        assert_eq!(jti.len(), 22);
        let part = |json: String| URL_SAFE_NO_PAD.encode(json);
        let jwt = |payload: &str| format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln");
        let ours = jwt(&part(format!("{{\"jti\":\"{jti}\",\"iss\":\"x\"}}")));
        let key = TokenKey::of(&ours);
        assert_eq!(key.as_bytes().len(), 48);
        assert_eq!(key.as_bytes()[..6], 1_800_000_000_000u64.to_be_bytes()[2..]);
        // Another signature is another key; so is another id.
        assert_ne!(TokenKey::of(&ours.replace(".c2ln", ".c2lo")), key);
        // A JWT whose payload does not begin with such a jti: its hash alone.
        for other in [
            jwt(&part(format!("{{\"iss\":\"x\",\"jti\":\"{jti}\"}}"))),
            jwt(&part("{\"jti\":\"short\"}".into())),
            jwt("not base64!"),
            "a.b".into(),
        ] {
            assert_eq!(TokenKey::of(&other).as_bytes().len(), 32, "{other}");
        }
    }

    #[test]
    fn a_secret_matches_its_own_hash_only() {
        let secret = encode_secret([7; 32]);
        assert_eq!(secret.len(), 43);
        let hash = SecretHash::of(&secret);
        assert!(hash.matches(&secret));
        assert!(!hash.matches(&encode_secret([8; 32])));
        assert!(!hash.matches(""));
    }

    #[test]
    fn tokens_sort_by_issue_time_and_are_keyed_by_id_and_hash() {
        let early = encode_token(1_700_000_000_000, [0xff; 42]);
        let late = encode_token(1_700_000_000_001, [0; 42]);
        assert_eq!(early.len(), 64);
        let (e, l) = (TokenKey::of(&early), TokenKey::of(&late));
        assert!(e.as_bytes() < l.as_bytes(), "keys sort by issue time");
        assert_eq!(e.as_bytes().len(), 48);
        assert_eq!(&e.as_bytes()[16..], SecretHash::of(&early).as_bytes());
        // One changed character of the secret gives another key with the same id.
        let mut forged = early.clone();
        forged.replace_range(63.., "A");
        assert_ne!(TokenKey::of(&forged), e);
        assert_eq!(TokenKey::of(&forged).as_bytes()[..16], e.as_bytes()[..16]);
    }

    #[test]
    fn other_strings_are_keyed_by_their_hash_alone() {
        let earlier = encode_secret([7; 32]);
        let key = TokenKey::of(&earlier);
        assert_eq!(key.as_bytes(), SecretHash::of(&earlier).as_bytes());
        for junk in ["", "not a token", &"!".repeat(64), &"A".repeat(65)] {
            assert_eq!(
                TokenKey::of(junk).as_bytes(),
                SecretHash::of(junk).as_bytes()
            );
        }
    }

    #[test]
    fn a_stored_hash_of_the_wrong_length_is_refused() {
        assert!(SecretHash::from_slice(&[0; 31]).is_none());
        assert!(SecretHash::from_slice(&[0; 32]).is_some());
    }
}
