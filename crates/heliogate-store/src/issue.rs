//! Group commit for token issuance, shared by both engines.
//!
//! Every commit waits for the disk (SQLite `synchronous = FULL`, PostgreSQL `synchronous_commit
//! = on`), so one transaction per token would cap issuance at the flush rate and spend a round
//! trip per statement. One writer task per store takes every issuance waiting in its queue,
//! hands the batch to the engine's `IssueWriter` (one multi-row statement per table, falling
//! back to one savepoint per issuance if that fails), and only after the commit answers each
//! caller: nothing is acknowledged before it is durable.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::{AuditEvent, NewAccessToken, NewRefreshToken, Result, StoreError};

/// One issuance waiting for the token writer.
pub(crate) struct Issue {
    pub access: NewAccessToken,
    pub refresh: Option<NewRefreshToken>,
    pub event: Option<AuditEvent>,
    done: oneshot::Sender<Result<()>>,
}

/// The most issuances one commit carries.
const ISSUE_BATCH: usize = 256;

/// Writes one batch in one transaction; a result per issuance, in order.
#[async_trait]
pub(crate) trait IssueWriter: Send + Sync + 'static {
    async fn write(&self, batch: &[Issue]) -> Vec<Result<()>>;
}

/// Starts the writer task; it ends when the store (the sender) is dropped.
pub(crate) fn spawn_issuer(writer: impl IssueWriter) -> mpsc::Sender<Issue> {
    let (sender, mut queue) = mpsc::channel::<Issue>(4 * ISSUE_BATCH);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(ISSUE_BATCH);
        while let Some(first) = queue.recv().await {
            batch.push(first);
            while batch.len() < ISSUE_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let results = writer.write(&batch).await;
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job.done.send(result);
            }
        }
    });
    sender
}

/// Queues an issuance and waits until it is durable.
pub(crate) async fn enqueue(
    queue: &mpsc::Sender<Issue>,
    access: &NewAccessToken,
    refresh: Option<&NewRefreshToken>,
    event: Option<&AuditEvent>,
) -> Result<()> {
    let stopped = || StoreError::Unavailable("the token writer has stopped".into());
    let (done, answer) = oneshot::channel();
    let job = Issue {
        access: access.clone(),
        refresh: refresh.cloned(),
        event: event.cloned(),
        done,
    };
    queue.send(job).await.map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

/// Results for a batch that failed as a whole.
pub(crate) fn all_failed(len: usize, e: &dyn std::fmt::Display) -> Vec<Result<()>> {
    (0..len)
        .map(|_| Err(StoreError::Unavailable(e.to_string().into())))
        .collect()
}
