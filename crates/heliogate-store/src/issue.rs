//! Group commit for token issuance, shared by both engines.
//!
//! Every commit waits for the disk (SQLite `synchronous = FULL`, PostgreSQL `synchronous_commit
//! = on`), so one transaction per token would cap issuance at the flush rate and spend a round
//! trip per statement. One writer task per store, on a connection of its own, takes every
//! issuance waiting in its queue and writes them all at once (`WriteRows`: one transaction);
//! if the database refuses a row, nothing of the batch was written, and each issuance is
//! written again on its own so that only the refused one fails. Only after the commit does it
//! answer each caller: nothing is acknowledged before it is durable.
//!
//! The writer's connection is its own, not a pooled one: its page cache stays warm (SQLite),
//! and it pays no liveness check on every checkout and return (a round trip on PostgreSQL).
//! After an error other than a refused row it is dropped, and the next batch connects again.
//!
//! An issuance from an authorization code or a device code spends it in the same transaction
//! (`Issue::spends`): the batch first marks every such grant it carries as redeemed, where none
//! was, and writes only the rows of the issuances whose grant it marked. So a code is spent
//! exactly when its tokens are durable, and whoever finds it spent afterwards also finds the
//! tokens to revoke (RFC 6749 §4.1.2); the loser of two uses is answered "spent", nothing of
//! it written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::db_err;
use crate::{AuditEvent, NewAccessToken, NewRefreshToken, OneTimeGrant, Result, StoreError};

/// One issuance waiting for the token writer.
pub(crate) struct Issue {
    /// The grant this issuance spends: written only if it was unspent.
    pub spends: Option<OneTimeGrant>,
    pub access: NewAccessToken,
    pub refresh: Option<NewRefreshToken>,
    pub event: Option<AuditEvent>,
    /// Answered once durable: whether the rows were written (`false`: the code was spent).
    done: oneshot::Sender<Result<bool>>,
}

/// The rows of some issuances, table by table.
#[derive(Default)]
pub(crate) struct Rows<'a> {
    pub access: Vec<&'a NewAccessToken>,
    pub refresh: Vec<&'a NewRefreshToken>,
    pub events: Vec<&'a AuditEvent>,
}

impl<'a> Rows<'a> {
    /// The rows of the issuances marked `true` in `written`.
    pub(crate) fn of(jobs: &'a [Issue], written: &[bool]) -> Self {
        let mut rows = Rows::default();
        for (job, _) in jobs.iter().zip(written).filter(|(_, written)| **written) {
            rows.access.push(&job.access);
            rows.refresh.extend(job.refresh.as_ref());
            rows.events.extend(job.event.as_ref());
        }
        rows
    }
}

/// Which issuances to write, given the hashes of the grants the batch marked redeemed
/// (`spent`): those that spend none, and, of those spending one, the first to carry it.
pub(crate) fn written(jobs: &[Issue], spent: &[Vec<u8>]) -> Vec<bool> {
    let mut unclaimed: Vec<&[u8]> = spent.iter().map(Vec::as_slice).collect();
    let mut claim = |grant: &OneTimeGrant| {
        let at = unclaimed.iter().position(|c| *c == grant.hash().as_bytes());
        at.map(|at| unclaimed.swap_remove(at)).is_some()
    };
    jobs.iter()
        .map(|job| job.spends.as_ref().is_none_or(&mut claim))
        .collect()
}

/// How an engine writes some issuances: in one transaction, all or nothing (see
/// `sql::write_issues`). Returns which were written.
#[async_trait]
pub(crate) trait WriteRows: Connection {
    async fn write_issues(&mut self, jobs: &[Issue]) -> sqlx::Result<Vec<bool>>;
}

/// The most issuances one commit carries.
const ISSUE_BATCH: usize = 256;

/// The upper bounds of the batch-size buckets: powers of two up to `ISSUE_BATCH`.
pub(crate) const BATCH_BUCKETS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// How many issuances each commit carried, counted as a histogram, without locks.
#[derive(Debug, Default)]
pub(crate) struct BatchSizes {
    /// Commits whose size is at most the bucket's bound (and above the one before).
    buckets: [AtomicU64; BATCH_BUCKETS.len()],
    issuances: AtomicU64,
}

impl BatchSizes {
    fn record(&self, size: usize) {
        let size = size as u64;
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|bound| size <= *bound)
            .unwrap_or(BATCH_BUCKETS.len() - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.issuances.fetch_add(size, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket, the number of commits and of issuances.
    pub(crate) fn snapshot(&self) -> (Vec<(u64, u64)>, u64, u64) {
        let mut total = 0;
        let buckets = BATCH_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, count)| {
                total += count.load(Ordering::Relaxed);
                (*bound, total)
            })
            .collect();
        (buckets, total, self.issuances.load(Ordering::Relaxed))
    }
}

/// Starts the writer task, which connects with `options` (waiting at most `connect_timeout`);
/// it ends when the store (the sender) is dropped.
pub(crate) fn spawn_issuer<C: WriteRows>(
    options: <C as Connection>::Options,
    connect_timeout: Duration,
    sizes: Arc<BatchSizes>,
) -> mpsc::Sender<Issue> {
    let (sender, mut queue) = mpsc::channel::<Issue>(4 * ISSUE_BATCH);
    tokio::spawn(async move {
        let mut writer = Writer::<C> {
            options,
            connect_timeout,
            connection: None,
        };
        let mut batch = Vec::with_capacity(ISSUE_BATCH);
        while let Some(first) = queue.recv().await {
            // Requests being served on this runtime go first, so that those about to be
            // queued join this commit rather than wait for the next one.
            tokio::task::yield_now().await;
            fill_batch(&mut queue, &mut batch, first, ISSUE_BATCH);
            sizes.record(batch.len());
            let results = writer.write(&batch).await;
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job.done.send(result);
            }
        }
        if let Some(connection) = writer.connection {
            let _ = connection.close().await;
        }
    });
    sender
}

/// A writer's own connection: the one it has, or a new one (waiting at most `timeout`); why
/// not, in words.
pub(crate) async fn writer_connection<'c, C: Connection>(
    connection: &'c mut Option<C>,
    options: &<C as Connection>::Options,
    timeout: Duration,
) -> std::result::Result<&'c mut C, String> {
    if connection.is_none() {
        let made = match tokio::time::timeout(timeout, C::connect_with(options)).await {
            Ok(Ok(made)) => made,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("timed out connecting to the database".into()),
        };
        *connection = Some(made);
    }
    connection
        .as_mut()
        .ok_or_else(|| "no connection to the database".to_owned())
}

/// Queues the job `job` makes around its answer's sender, for the batching task `task` (named
/// in the error when it has stopped), and waits for the answer.
pub(crate) async fn ask<J, T>(
    queue: &mpsc::Sender<J>,
    task: &str,
    job: impl FnOnce(oneshot::Sender<Result<T>>) -> J,
) -> Result<T> {
    let stopped = || StoreError::Unavailable(format!("the {task} has stopped").into());
    let (done, answer) = oneshot::channel();
    queue.send(job(done)).await.map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

/// A batch for a writer: `first`, and whatever else waits in the queue, up to `max`.
pub(crate) fn fill_batch<T>(
    queue: &mut mpsc::Receiver<T>,
    batch: &mut Vec<T>,
    first: T,
    max: usize,
) {
    batch.push(first);
    while batch.len() < max {
        match queue.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
}

struct Writer<C: WriteRows> {
    options: <C as Connection>::Options,
    connect_timeout: Duration,
    connection: Option<C>,
}

impl<C: WriteRows> Writer<C> {
    /// Writes a batch; a result per issuance, in order.
    async fn write(&mut self, batch: &[Issue]) -> Vec<Result<bool>> {
        let connection = match writer_connection(
            &mut self.connection,
            &self.options,
            self.connect_timeout,
        )
        .await
        {
            Ok(connection) => connection,
            Err(e) => return all_failed(batch.len(), &e),
        };
        let mut broken = false;
        let mut failed = |e: sqlx::Error| {
            broken |= !matches!(e, sqlx::Error::Database(_));
            db_err(e)
        };
        let outcome = match connection.write_issues(batch).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            // The database refused a row (a client deleted a moment ago, say) and wrote none
            // of the batch: write each issuance on its own, so that only the refused one fails.
            Err(sqlx::Error::Database(_)) if batch.len() > 1 => {
                let mut outcome = Vec::with_capacity(batch.len());
                for job in batch {
                    let written = connection.write_issues(std::slice::from_ref(job)).await;
                    outcome.push(written.map(|w| w == [true]).map_err(&mut failed));
                }
                outcome
            }
            Err(e) if batch.len() == 1 => vec![Err(failed(e))],
            Err(e) => {
                let e = failed(e);
                all_failed(batch.len(), &e)
            }
        };
        if broken {
            self.connection = None;
        }
        outcome
    }
}

/// Queues an issuance and waits until it is durable; `false` when it spends a code that was
/// spent already, and then nothing of it was written.
pub(crate) async fn enqueue(
    queue: &mpsc::Sender<Issue>,
    spends: Option<OneTimeGrant>,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
    event: Option<AuditEvent>,
) -> Result<bool> {
    ask(queue, "token writer", |done| Issue {
        spends,
        access,
        refresh,
        event,
        done,
    })
    .await
}

/// Results for a batch whose one statement failed: every job of it failed alike, each with
/// the error as classified (a timeout waiting for a connection is `Unavailable` for all).
pub(crate) fn batch_failed<T>(len: usize, e: sqlx::Error) -> Vec<Result<T>> {
    let e = db_err(e);
    let alike = |e: &StoreError| match e {
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Invalid(m) => StoreError::Invalid(m.clone()),
        StoreError::Unavailable(source) => StoreError::Unavailable(source.to_string().into()),
        StoreError::Internal(source) => StoreError::internal(source.to_string()),
    };
    let mut results: Vec<Result<T>> = (1..len).map(|_| Err(alike(&e))).collect();
    if len > 0 {
        results.insert(0, Err(e));
    }
    results
}

/// Results for a batch that failed as a whole.
fn all_failed(len: usize, e: &dyn std::fmt::Display) -> Vec<Result<bool>> {
    (0..len)
        .map(|_| Err(StoreError::Unavailable(e.to_string().into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use heliogate_core::{SecretHash, TokenKey};

    use super::*;

    fn job(spends: Option<OneTimeGrant>) -> Issue {
        Issue {
            spends,
            access: NewAccessToken {
                key: TokenKey::of("t"),
                client_id: "c".into(),
                user_id: None,
                scope: String::new(),
                family_id: None,
                audience: None,
                created_at: 7,
                expires_at: 8,
                jkt: None,
                subject_key: None,
                act: None,
                sid: None,
            },
            refresh: None,
            event: None,
            done: oneshot::channel().0,
        }
    }

    #[test]
    fn every_job_of_a_failed_batch_fails_alike() {
        let failed = batch_failed::<bool>(3, sqlx::Error::PoolTimedOut);
        assert_eq!(failed.len(), 3);
        assert!(failed
            .iter()
            .all(|r| matches!(r, Err(StoreError::Unavailable(_)))));
        assert!(batch_failed::<bool>(0, sqlx::Error::PoolTimedOut).is_empty());
    }

    #[test]
    fn a_spent_grant_goes_to_the_first_issuance_carrying_it() {
        let code = |c| Some(OneTimeGrant::Code(SecretHash::of(c)));
        let jobs = [
            job(code("a")),
            job(None),
            job(code("a")),
            job(code("b")),
            job(Some(OneTimeGrant::DeviceCode(SecretHash::of("c")))),
        ];
        // The database marked "a" and "c" (once each: a grant is one row); "b" was spent before.
        let spent = [SecretHash::of("c"), SecretHash::of("a")].map(|c| c.as_bytes().to_vec());
        assert_eq!(written(&jobs, &spent), [true, true, false, false, true]);
    }
}
