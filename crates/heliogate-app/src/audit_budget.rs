//! What a stranger can make the audit log write is bounded: of the events that change nothing
//! else (a refused sign-in, a failed client authentication), at most `PER_WINDOW` records of
//! one kind from one address are written each `WINDOW`; the rest are counted, and the count is
//! written as one `audit.suppressed` record with the next record of that kind from that address.
//! A flood then costs the log a few records a minute per address, not one per request.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long a window lasts.
const WINDOW: Duration = Duration::from_secs(60);
/// Records of one kind from one address written per window.
pub(crate) const PER_WINDOW: u32 = 10;
/// Addresses remembered at once; past it, the addresses not seen within a window are forgotten,
/// and if that is not enough, further addresses share one budget.
const CAPACITY: usize = 10_000;

/// What to do with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write it, after a record of how many like it were left out before (when any were).
    Write { suppressed: u64 },
    /// Leave it out (it is counted).
    Skip,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    suppressed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct AuditBudget {
    windows: Mutex<HashMap<(String, String), Window>>,
}

/// The budget of this process (the log is shared, so the bound is per node).
pub(crate) static BUDGET: LazyLock<AuditBudget> = LazyLock::new(AuditBudget::default);

impl AuditBudget {
    pub fn admit(&self, event: &str, addr: Option<&str>, now: Instant) -> Verdict {
        let Ok(mut windows) = self.windows.lock() else {
            return Verdict::Write { suppressed: 0 };
        };
        let mut key = (event.to_owned(), addr.unwrap_or("-").to_owned());
        if windows.len() >= CAPACITY && !windows.contains_key(&key) {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW || w.suppressed > 0);
            if windows.len() >= CAPACITY {
                key.1 = "*".into();
            }
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            written: 0,
            suppressed: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            let suppressed = window.suppressed;
            *window = Window {
                started: now,
                written: 1,
                suppressed: 0,
            };
            return Verdict::Write { suppressed };
        }
        if window.written < PER_WINDOW {
            window.written += 1;
            Verdict::Write { suppressed: 0 }
        } else {
            window.suppressed += 1;
            Verdict::Skip
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_from_one_address_writes_a_few_records_and_then_their_count() {
        let budget = AuditBudget::default();
        let start = Instant::now();
        let verdicts: Vec<Verdict> = (0..1000)
            .map(|_| budget.admit("client.auth_failed", Some("203.0.113.9"), start))
            .collect();
        let written = verdicts.iter().filter(|v| **v != Verdict::Skip).count();
        assert_eq!(written, PER_WINDOW as usize);
        // Another address, or another kind of event, has a budget of its own.
        assert_eq!(
            budget.admit("client.auth_failed", Some("198.51.100.1"), start),
            Verdict::Write { suppressed: 0 }
        );
        assert_eq!(
            budget.admit("login.failed", Some("203.0.113.9"), start),
            Verdict::Write { suppressed: 0 }
        );
        // A window later: written again, with the count of what was left out.
        assert_eq!(
            budget.admit("client.auth_failed", Some("203.0.113.9"), start + WINDOW),
            Verdict::Write { suppressed: 990 }
        );
    }
}
