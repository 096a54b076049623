//! The keys that sign ID tokens: made by the first node that needs them, kept in the store so
//! that every node signs with the same keys, and published as a JWK set.
//!
//! OpenID Connect makes RS256 the algorithm every relying party supports (Core §15.1, and the
//! default of `id_token_signed_response_alg`), so each installation has an RS256 key; ES256 is
//! smaller and much faster to sign with, for the clients registered to use it.

use std::sync::Arc;

use heliogate_core::{SigningAlg, UnixTime};
use heliogate_store::{SigningKey, Store, StoreError};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;

use super::sealing::{self, KeyEncryptionKey};
use crate::oauth::OAuthState;
use crate::{event, now, AppError, Result};

/// jsonwebtoken's name for an algorithm heliogate signs with (`SigningAlg::ALL`: one key of
/// each, named in the store by `SigningAlg::as_str`).
fn algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::Es256 => Algorithm::ES256,
    }
}

/// One key that signs.
struct Signer {
    alg: SigningAlg,
    kid: String,
    key: EncodingKey,
}

/// The keys in force: the newest signing key of each algorithm, and every published key.
pub struct KeyRing {
    signers: Vec<Signer>,
    /// Every published key, to check what heliogate signed.
    verifiers: Vec<(String, Algorithm, DecodingKey)>,
    /// The JWK set document, as served.
    jwks: String,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.signers.iter().map(|s| s.kid.as_str()).collect();
        f.debug_struct("KeyRing").field("signing", &kids).finish()
    }
}

fn internal(message: impl std::fmt::Display) -> AppError {
    AppError::Internal(StoreError::Internal(message.to_string().into()))
}

fn encoding_key(alg: SigningAlg, der: &[u8]) -> EncodingKey {
    // Every use of jsonwebtoken starts from a key made here.
    super::signers::install();
    match alg {
        SigningAlg::Rs256 => EncodingKey::from_rsa_der(der),
        SigningAlg::Es256 => EncodingKey::from_ec_der(der),
    }
}

/// The public half as a JWK, with its RFC 7638 thumbprint as `kid`.
fn public_jwk(alg: SigningAlg, key: &EncodingKey) -> Result<Jwk> {
    let mut jwk = Jwk::from_encoding_key(key, algorithm(alg)).map_err(internal)?;
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256));
    Ok(jwk)
}

/// A new private key for `alg`, as DER.
fn generate(alg: SigningAlg) -> Result<Vec<u8>> {
    let mut rng = rand::rngs::OsRng;
    match alg {
        SigningAlg::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(internal)?;
            Ok(key.to_pkcs1_der().map_err(internal)?.as_bytes().to_vec())
        }
        SigningAlg::Es256 => {
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::SecretKey::random(&mut rng);
            Ok(key.to_pkcs8_der().map_err(internal)?.as_bytes().to_vec())
        }
    }
}

impl KeyRing {
    fn from_stored(
        stored: &[SigningKey],
        now: UnixTime,
        kek: Option<&KeyEncryptionKey>,
    ) -> Result<KeyRing> {
        let mut signers: Vec<Signer> = Vec::new();
        let mut verifiers = Vec::new();
        let mut keys = Vec::new();
        for row in stored {
            let Ok(alg) = row.alg.parse::<SigningAlg>() else {
                continue;
            };
            let der = sealing::open(kek, &row.kid, &row.private_key)?;
            let key = encoding_key(alg, &der);
            let jwk = public_jwk(alg, &key)?;
            if row.kid != jwk.common.key_id.as_deref().unwrap_or_default() {
                return Err(internal(format!(
                    "signing key {} does not match its id",
                    row.kid
                )));
            }
            verifiers.push((
                row.kid.clone(),
                algorithm(alg),
                DecodingKey::from_jwk(&jwk).map_err(internal)?,
            ));
            keys.push(jwk);
            // Rows come by generation: a later one that already signs replaces an earlier.
            if row.signs_from <= now {
                signers.retain(|s| s.alg != alg);
                signers.push(Signer {
                    alg,
                    kid: row.kid.clone(),
                    key,
                });
            }
        }
        let jwks = serde_json::to_string(&JwkSet { keys }).map_err(internal)?;
        Ok(KeyRing {
            signers,
            verifiers,
            jwks,
        })
    }

    /// The claims of a JWT that heliogate signed with a published key for `issuer`, whatever
    /// its age: for a hint (`id_token_hint`), never for a credential.
    pub fn verify_hint(&self, issuer: &str, token: &str) -> Option<serde_json::Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let (_, alg, key) = self.verifiers.iter().find(|(k, ..)| *k == kid)?;
        if header.alg != *alg {
            return None;
        }
        let mut validation = Validation::new(*alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The JWK set document (RFC 7517 §5).
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// Signs `claims` as a JWT with the key of `alg`, naming it by `kid`; `typ` as given.
    pub fn sign<T: Serialize>(&self, alg: SigningAlg, typ: &str, claims: &T) -> Result<String> {
        let signer = self
            .signers
            .iter()
            .find(|s| s.alg == alg)
            .ok_or_else(|| internal(format!("no {} key signs", alg.as_str())))?;
        let mut header = Header::new(algorithm(alg));
        header.typ = Some(typ.to_owned());
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, claims, &signer.key).map_err(internal)
    }
}

/// A new key of `alg`, its `generation`, signing from `signs_from`.
async fn make_key(
    kek: Option<&KeyEncryptionKey>,
    alg: SigningAlg,
    generation: i64,
    signs_from: UnixTime,
    now: UnixTime,
) -> Result<SigningKey> {
    let der = tokio::task::spawn_blocking(move || generate(alg))
        .await
        .map_err(internal)??;
    let jwk = public_jwk(alg, &encoding_key(alg, &der))?;
    let kid = jwk.common.key_id.clone().unwrap_or_default();
    Ok(SigningKey {
        private_key: sealing::seal(kek, &kid, der)?,
        kid,
        alg: alg.as_str().to_owned(),
        generation,
        created_at: now,
        signs_from,
        retired_at: None,
    })
}

/// Makes the first key of each algorithm that has none (another node may win the race: then
/// its key is the one).
pub async fn ensure_keys(store: &dyn Store, kek: Option<&KeyEncryptionKey>) -> Result<()> {
    let now = now();
    let stored = store.signing_keys(now).await?;
    for alg in SigningAlg::ALL {
        if stored.iter().any(|k| k.alg == alg.as_str()) {
            continue;
        }
        let key = make_key(kek, alg, 1, now, now).await?;
        let made = event(
            "key.created",
            "heliogate",
            Some(&key.kid),
            None,
            serde_json::json!({ "alg": alg.as_str(), "generation": 1 }),
        );
        store.add_signing_key(&key, &made).await?;
    }
    Ok(())
}

/// A key as `key list` shows it: never its private half.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    pub created_at: UnixTime,
    pub signs_from: UnixTime,
    pub retired_at: Option<UnixTime>,
    /// `signing`, `next` (published, signs from `signs_from`), `published` (replaced, still
    /// verifiable) or `retired`.
    pub state: &'static str,
}

/// Every key, and what it does now.
pub async fn list_keys(store: &dyn Store) -> Result<Vec<KeyView>> {
    let now = now();
    let keys = store.all_signing_keys().await?;
    let signing: Vec<&str> = SigningAlg::ALL
        .iter()
        .filter_map(|alg| {
            keys.iter()
                .filter(|k| k.alg == alg.as_str() && k.signs_from <= now)
                .filter(|k| k.retired_at.is_none_or(|r| r > now))
                .max_by_key(|k| k.generation)
                .map(|k| k.kid.as_str())
        })
        .collect();
    Ok(keys
        .iter()
        .map(|k| KeyView {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            generation: k.generation,
            created_at: k.created_at,
            signs_from: k.signs_from,
            retired_at: k.retired_at,
            state: if k.retired_at.is_some_and(|r| r <= now) {
                "retired"
            } else if signing.contains(&k.kid.as_str()) {
                "signing"
            } else if k.signs_from > now && k.retired_at.is_none() {
                "next"
            } else {
                "published"
            },
        })
        .collect())
}

/// Rotates every algorithm's key: the new ones are published at once and sign from `overlap`
/// seconds on (relying parties that cache the key set see them first); the keys they replace
/// stay published until what they signed has expired, `longest_ttl` after they stop signing.
pub async fn rotate_keys(
    store: &dyn Store,
    actor: &crate::Actor,
    kek: Option<&KeyEncryptionKey>,
    overlap: i64,
    longest_ttl: i64,
) -> Result<Vec<KeyView>> {
    ensure_keys(store, kek).await?;
    let now = now();
    let keys = store.all_signing_keys().await?;
    for alg in SigningAlg::ALL {
        let generation = keys
            .iter()
            .filter(|k| k.alg == alg.as_str())
            .map(|k| k.generation)
            .max()
            .unwrap_or(0)
            + 1;
        let next = make_key(kek, alg, generation, now + overlap, now).await?;
        let retire_at = now + overlap + longest_ttl;
        let rotated = actor.event(
            "key.rotated",
            &next.kid,
            serde_json::json!({
                "alg": alg.as_str(),
                "generation": generation,
                "signs_from": next.signs_from,
                "previous_retired_at": retire_at,
            }),
        );
        store.rotate_signing_key(&next, retire_at, &rotated).await?;
    }
    list_keys(store).await
}

/// The keys in force, read from the store at most once a minute, so that a key another node
/// made or rotated in is used here within a minute.
pub async fn key_ring(store: &dyn Store, config: &OAuthState) -> Result<Arc<KeyRing>> {
    if let Some(ring) = config.keys.get(&()) {
        return Ok(ring);
    }
    let now = now();
    let mut stored = store.signing_keys(now).await?;
    if SigningAlg::ALL
        .iter()
        .any(|alg| !stored.iter().any(|k| k.alg == alg.as_str()))
    {
        ensure_keys(store, config.key_encryption.as_ref()).await?;
        stored = store.signing_keys(now).await?;
    }
    let ring = Arc::new(KeyRing::from_stored(
        &stored,
        now,
        config.key_encryption.as_ref(),
    )?);
    config.keys.insert((), Arc::clone(&ring));
    Ok(ring)
}
