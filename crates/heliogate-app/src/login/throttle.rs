//! The throttle of password guesses (and wrong codes): counted per account name and per client
//! address before a guess is checked.

use super::LoginPolicy;
use crate::password_hashing;
use crate::Result;
use heliogate_core::Attempt;
use heliogate_core::UnixTime;
use heliogate_core::UserName;
use heliogate_store::Store;

/// The attempted name as the throttle and the audit log keep it: no longer than any user name
/// can be (what is beyond cannot tell accounts apart), so that whatever is sent, an attempt
/// writes a bounded record.
pub(super) fn recorded_name(name: &str) -> String {
    let max = UserName::MAX_LEN;
    match name.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

pub(super) fn throttle_keys(name: &str, addr: Option<&str>) -> Vec<(String, bool)> {
    let mut keys = vec![(format!("user:{name}"), true)];
    if let Some(addr) = addr {
        keys.push((format!("addr:{addr}"), false));
    }
    keys
}

/// A password guess — a sign-in or the password form's current password — counted against its
/// throttle keys before it is checked, atomically with the check of each key's lock
/// (`ThrottlePolicy::count_attempt`): of any number of parallel guesses, on any number of
/// nodes, at most the threshold are checked before a key locks.
pub(crate) struct Guess<'k> {
    /// Each key with its threshold, this guess's count and whether it holds the key.
    counted: Vec<(&'k str, i64, i64, bool)>,
}

impl<'k> Guess<'k> {
    /// Counts a guess against `keys` (from `throttle_keys`); `Err` with the seconds until the
    /// latest lock ends when any key is locked, and then nothing stays counted.
    pub(crate) async fn count(
        store: &dyn Store,
        policy: &LoginPolicy,
        now: UnixTime,
        keys: &'k [(String, bool)],
    ) -> Result<Result<Guess<'k>, i64>> {
        let mut guess = Guess {
            counted: Vec::with_capacity(keys.len()),
        };
        let mut locked_until = None;
        // Whether the account (the first key) has no failures of its own, counted or in flight.
        let mut account_clean = false;
        for (key, is_account) in keys {
            let threshold = if *is_account {
                policy.throttle.account_threshold
            } else {
                policy.throttle.address_threshold
            };
            match store
                .reserve_login_attempt(key, now, &policy.throttle, threshold)
                .await?
            {
                Attempt::Counted { count, held, .. } => {
                    account_clean = *is_account && count == 1;
                    guess.counted.push((key, threshold, count, held))
                }
                // An address lock cannot keep out an account that has no failures: others at
                // the same address (a NAT, a proxy nobody declared) cannot lock its user out.
                // What it leaves a guesser is one try per clean account, which makes it not
                // clean for the address from then on.
                Attempt::Locked { .. } if !*is_account && account_clean => {}
                Attempt::Locked { until } => locked_until = locked_until.max(Some(until)),
            }
        }
        match locked_until {
            // Not checked: what it counted is given back. Nothing goes to the audit log: the
            // lock was recorded with the failure that set it, so a flood costs no disk.
            Some(until) => {
                guess.give_back(store, 0).await?;
                Ok(Err((until - now).max(1)))
            }
            None => Ok(Ok(guess)),
        }
    }

    /// Checks the password against `hash` (`None`: nobody's, at the same cost); a busy server
    /// gives the counts back.
    pub(super) async fn check(
        &self,
        store: &dyn Store,
        hash: Option<String>,
        password: String,
    ) -> Result<bool> {
        match password_hashing::verify_async(hash, password).await {
            Ok(verified) => Ok(verified),
            Err(busy) => {
                self.give_back(store, 0).await?;
                Err(busy)
            }
        }
    }

    /// A wrong password: its counts stand, and each key past its threshold locks (replacing
    /// any hold). Returns the locks, in seconds by key, for the audit record.
    pub(crate) async fn failed(
        &self,
        store: &dyn Store,
        policy: &LoginPolicy,
        now: UnixTime,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        let mut locked = serde_json::Map::new();
        for (key, threshold, count, _) in &self.counted {
            let lock = policy.throttle.lockout(*count, *threshold);
            if lock > 0 {
                store.lock_login(key, now + lock).await?;
                locked.insert((*key).to_owned(), lock.into());
            }
        }
        Ok(locked)
    }

    /// A right password: the account's count is cleared, and it was no failure of the others.
    pub(crate) async fn succeeded(&self, store: &dyn Store) -> Result<()> {
        if let Some((account, ..)) = self.counted.first() {
            store.clear_login_failures(account).await?;
        }
        self.give_back(store, 1).await
    }

    /// Takes back the counts (and holds) of the keys from `skip` on.
    pub(super) async fn give_back(&self, store: &dyn Store, skip: usize) -> Result<()> {
        for (key, _, _, held) in self.counted.iter().skip(skip) {
            store.release_login_attempt(key, *held).await?;
        }
        Ok(())
    }
}
