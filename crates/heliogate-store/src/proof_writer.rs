//! Group commit for the DPoP proofs seen (RFC 9449 §11.1), as `issue` does for tokens: every
//! DPoP request records its proof durably before it is answered, and one commit per proof
//! would cap DPoP at the disk's flush rate. One writer task per store, on a connection of its
//! own, records every proof waiting in its queue with one statement (`WriteProofs`), and tells
//! each caller whether its proof was new. Two copies of one proof in a batch: the first is new.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::issue::{ask, batch_failed, fill_batch, writer_connection};
use crate::{Result, StoreError};

/// One proof waiting for the writer.
pub(crate) struct SeenProof {
    hash: Vec<u8>,
    expires_at: i64,
    done: oneshot::Sender<Result<bool>>,
}

/// How an engine records proofs: one statement, inserting those not seen before and
/// returning their hashes.
#[async_trait]
pub(crate) trait WriteProofs: Connection {
    async fn write_proofs(&mut self, proofs: &[(&[u8], i64)]) -> sqlx::Result<Vec<Vec<u8>>>;
}

/// The most proofs one commit carries.
const PROOF_BATCH: usize = 256;

/// Starts the writer task; it ends when the store (the sender) is dropped.
pub(crate) fn spawn_proof_writer<C: WriteProofs>(
    options: <C as Connection>::Options,
    connect_timeout: Duration,
) -> mpsc::Sender<SeenProof> {
    let (sender, mut queue) = mpsc::channel::<SeenProof>(4 * PROOF_BATCH);
    tokio::spawn(async move {
        let mut connection: Option<C> = None;
        let mut batch = Vec::with_capacity(PROOF_BATCH);
        while let Some(first) = queue.recv().await {
            fill_batch(&mut queue, &mut batch, first, PROOF_BATCH);
            let results = write(&mut connection, &options, connect_timeout, &batch).await;
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job.done.send(result);
            }
        }
        if let Some(connection) = connection {
            let _ = connection.close().await;
        }
    });
    sender
}

/// Records a batch; whether each proof was new, in order.
async fn write<C: WriteProofs>(
    connection: &mut Option<C>,
    options: &<C as Connection>::Options,
    connect_timeout: Duration,
    batch: &[SeenProof],
) -> Vec<Result<bool>> {
    let failed = |e: &dyn std::fmt::Display| {
        batch
            .iter()
            .map(|_| Err(StoreError::Unavailable(e.to_string().into())))
            .collect()
    };
    let conn = match writer_connection(connection, options, connect_timeout).await {
        Ok(conn) => conn,
        Err(e) => return failed(&e),
    };
    // The first copy of each proof is written; a later copy in the batch is a replay.
    let mut firsts = HashSet::new();
    let candidates: Vec<(&[u8], i64)> = batch
        .iter()
        .filter(|p| firsts.insert(p.hash.as_slice()))
        .map(|p| (p.hash.as_slice(), p.expires_at))
        .collect();
    match conn.write_proofs(&candidates).await {
        Ok(inserted) => {
            let mut new: HashSet<Vec<u8>> = inserted.into_iter().collect();
            batch.iter().map(|p| Ok(new.remove(&p.hash))).collect()
        }
        Err(e) => {
            if !matches!(e, sqlx::Error::Database(_)) {
                *connection = None;
            }
            batch_failed(batch.len(), e)
        }
    }
}

/// Queues a proof and waits until it is durable: whether it was new.
pub(crate) async fn record(
    queue: &mpsc::Sender<SeenProof>,
    hash: &[u8],
    expires_at: i64,
) -> Result<bool> {
    ask(queue, "proof writer", |done| SeenProof {
        hash: hash.to_vec(),
        expires_at,
        done,
    })
    .await
}
