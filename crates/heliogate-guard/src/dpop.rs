//! DPoP at the guard (RFC 9449 §7): a token bound to a key passes only as `Authorization:
//! DPoP` with a proof of that key made for this request, once; an unbound one only as
//! `Bearer`. The proof is checked by `heliogate_dpop`, as heliogate checks it.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use heliogate_dpop::Expected;

use crate::answer::{Refusal, Scheme};
use crate::check::now;
use crate::{Caller, Guard};

/// The most proofs remembered; past it, the ones that could no longer pass are forgotten, and
/// if none can be, new proofs are refused until some age out (a flood cannot make the guard
/// forget a proof that could be replayed).
const MAX_SEEN: usize = 100_000;

/// The proofs this guard accepted, until they are too old to pass anyway.
#[derive(Default)]
pub(crate) struct SeenProofs(Mutex<HashMap<String, i64>>);

impl SeenProofs {
    /// Remembers a proof: `false` when it was seen before, or when the memory is full.
    fn first_use(&self, key: String, expires_at: i64, now: i64) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, until| *until > now);
            if seen.len() >= MAX_SEEN {
                return false;
            }
        }
        match seen.get(&key) {
            Some(until) if *until > now => false,
            _ => {
                seen.insert(key, expires_at);
                true
            }
        }
    }
}

/// A token as a request presented it.
pub(crate) struct Presented<'a> {
    pub(crate) scheme: Scheme,
    pub(crate) token: &'a str,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a HeaderMap,
}

impl Guard {
    /// Whether a live token was presented as its binding asks.
    pub(crate) fn check_binding(
        &self,
        caller: &Caller,
        presented: &Presented<'_>,
    ) -> Result<(), Refusal> {
        let jkt = match (&caller.jkt, presented.scheme) {
            (None, Scheme::Bearer) => return Ok(()),
            (None, Scheme::Dpop) => return Err(Refusal::Dpop("invalid_token")),
            (Some(_), Scheme::Bearer) => return Err(Refusal::Dpop("invalid_token")),
            (Some(jkt), Scheme::Dpop) => jkt,
        };
        let inner = &self.inner;
        let Some(origin) = &inner.origin else {
            tracing::warn!("heliogate-guard: a DPoP-bound token was refused: set Guard::origin");
            return Err(Refusal::Dpop("invalid_token"));
        };
        let mut proofs = presented.headers.get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err(Refusal::Dpop("invalid_dpop_proof"));
        };
        let proof = proof
            .to_str()
            .map_err(|_| Refusal::Dpop("invalid_dpop_proof"))?;
        let uri = format!("{origin}{}", presented.path);
        let now = i64::try_from(now()).unwrap_or(i64::MAX);
        let expected = Expected {
            method: presented.method,
            uri: &uri,
            access_token: Some(presented.token),
            now,
        };
        let checked = heliogate_dpop::verify(proof, &expected)
            .map_err(|_| Refusal::Dpop("invalid_dpop_proof"))?;
        if &checked.jkt != jkt {
            return Err(Refusal::Dpop("invalid_dpop_proof"));
        }
        if !inner
            .proofs
            .first_use(checked.replay_key(), checked.expires_at(), now)
        {
            return Err(Refusal::Dpop("invalid_dpop_proof"));
        }
        Ok(())
    }
}
