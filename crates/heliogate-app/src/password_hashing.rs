//! Password hashing with Argon2id at OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1),
//! stored as PHC strings so that parameters can be raised later without a migration.
//!
//! Hashing is CPU-bound for tens of milliseconds and takes 19 MiB, so the async wrappers run
//! it on tokio's blocking pool, never on a worker thread, and at most a bounded number at once
//! (two per core unless `set_concurrency` says otherwise): a request beyond the bound waits up
//! to `WAIT`, then is answered `Busy` (503, come back later), so a flood of sign-ins costs a
//! bounded amount of memory instead of 19 MiB each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

use crate::{AppError, Result};

/// Argon2's working memory, one per hash in progress.
type Memory = Vec<Block>;

/// Blocks (1 KiB each) reserved for any working memory: more than glibc's largest mmap
/// threshold (32 MiB on 64-bit), so that the allocator always maps a fresh region for it and
/// unmaps it when the hash is done. Only the 19 MiB a hash touches become resident. Freed
/// smaller, the blocks would stay in the allocator's per-thread arenas: measured, 1,000
/// parallel sign-ins then held 1,194 MiB with four hashes at a time.
const MAPPED_BLOCKS: usize = 33 * 1024;

/// Makes `memory` `blocks` blocks long: as it is when it has that size (Argon2 overwrites every
/// block before it reads one), else a fresh region, mapped and unmapped as one.
fn fit(memory: &mut Memory, blocks: usize) {
    if memory.len() != blocks {
        *memory = Vec::with_capacity(blocks.max(MAPPED_BLOCKS));
        memory.resize(blocks, Block::default());
    }
}

fn params() -> Result<Params> {
    Params::new(19 * 1024, 2, 1, None).map_err(|e| AppError::Invalid(e.to_string()))
}

fn failed(e: impl std::fmt::Display) -> AppError {
    AppError::Invalid(format!("cannot hash the password: {e}"))
}

/// Hashes a password into a PHC string, in `memory`.
fn hash_in(password: &str, memory: &mut Memory) -> Result<String> {
    let params = params()?;
    let salt = SaltString::generate(&mut OsRng);
    let mut raw = [0u8; 64];
    let raw = salt.as_salt().decode_b64(&mut raw).map_err(failed)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    fit(memory, params.block_count());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), raw, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Password)
    })
    .map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks a password against a PHC string, in `memory`; the comparison is constant-time.
fn verify_in(phc: &str, password: &str, memory: &mut Memory) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut raw = [0u8; 64];
    let Ok(raw) = salt.decode_b64(&mut raw) else {
        return false;
    };
    fit(memory, params.block_count());
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), raw, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Password)
    });
    computed.is_ok_and(|computed| computed == expected)
}

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> Result<String> {
    hash_in(password, &mut Memory::new())
}

/// Checks a password against a PHC string; the comparison inside is constant-time.
pub fn verify(phc: &str, password: &str) -> bool {
    verify_in(phc, password, &mut Memory::new())
}

/// Spends the same work as `verify` on a hash nobody's password matches: a sign-in for an
/// unknown user costs what one for a known user costs, so timing tells nothing.
fn verify_nobody_in(password: &str, memory: &mut Memory) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("heliogate: no such user").unwrap_or_default());
    let _ = verify_in(dummy, password, memory);
    false
}

pub fn verify_nobody(password: &str) -> bool {
    verify_nobody_in(password, &mut Memory::new())
}

/// How long a request waits for a turn to hash before it is told to come back.
const WAIT: Duration = Duration::from_secs(2);

static TURNS: OnceLock<Semaphore> = OnceLock::new();

/// Working memory between turns while hashing goes on, so that a flood of sign-ins maps no
/// new memory per hash; the last turn to finish gives it all back.
static SPARE: Mutex<Vec<Memory>> = Mutex::new(Vec::new());
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Sets how many hashes may run at once, for the life of the process; the first call wins
/// (the server calls it at start, before any hashing).
pub fn set_concurrency(limit: usize) {
    let _ = TURNS.set(Semaphore::new(limit.max(1)));
}

fn turns() -> &'static Semaphore {
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new(2 * cores)
    })
}

/// Runs `work` on the blocking pool when a turn is free within `WAIT`.
async fn in_turn<T: Send + 'static>(
    work: impl FnOnce(&mut Memory) -> T + Send + 'static,
) -> Result<T> {
    let busy = || AppError::Busy("too many sign-ins at once; try again in a moment".into());
    let turn = tokio::time::timeout(WAIT, turns().acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    // The turn ends with the work, even if the request that asked for it is gone by then.
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        IN_USE.fetch_add(1, Ordering::SeqCst);
        let mut memory = SPARE
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_default();
        let done = work(&mut memory);
        let others = IN_USE.fetch_sub(1, Ordering::SeqCst) - 1;
        if let Ok(mut spare) = SPARE.lock() {
            if others > 0 {
                spare.push(memory);
            } else {
                spare.clear();
            }
        }
        done
    })
    .await
    .map_err(|e| AppError::Invalid(format!("password hashing failed: {e}")))
}

/// `hash` on the blocking pool, in turn.
pub async fn hash_async(password: String) -> Result<String> {
    in_turn(move |memory| hash_in(&password, memory)).await?
}

/// `verify` (or `verify_nobody` when there is no hash) on the blocking pool, in turn.
pub async fn verify_async(phc: Option<String>, password: String) -> Result<bool> {
    in_turn(move |memory| match phc {
        Some(phc) => verify_in(&phc, &password, memory),
        None => verify_nobody_in(&password, memory),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let phc = hash("correct horse battery").unwrap_or_default();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, "correct horse battery"));
        assert!(!verify(&phc, "correct horse battery!"));
        assert!(!verify("not a phc string", "x"));
        assert!(!verify_nobody("correct horse battery"));
    }
}
