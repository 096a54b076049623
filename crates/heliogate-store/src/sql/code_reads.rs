//! Reads of authorization codes, batched: every code exchange reads its code with its user
//! before signing anything, and on SQLite each statement is a hand-off to the connection's
//! thread and back (two context switches, the better part of a read's cost). One reader task
//! per store takes every read waiting in its queue and answers them all with one statement on
//! a pooled connection, as the token writer commits every issuance waiting in its own.
//! Reading spends nothing: the code is spent with the tokens' rows (`issue_from`).

use heliogate_core::SecretHash;
use sqlx::{Pool, QueryBuilder};
use tokio::sync::{mpsc, oneshot};

use super::Db;
use crate::issue::{ask, batch_failed, fill_batch};
use crate::rows::{with_user, UserRoleRow, USER_WITH_ROLES};
use crate::{Code, Result, User};

use super::grants::CODE_COLUMNS;

/// A code read and what it found.
type Found = Option<(Code, User)>;

/// One read waiting for the reader.
pub(super) struct CodeRead {
    hash: SecretHash,
    done: oneshot::Sender<Result<Found>>,
}

/// The most codes one statement reads.
const READ_BATCH: usize = 64;

/// Starts the reader task on `pool`; it ends when the store (the sender) is dropped.
pub(super) fn spawn_code_reader(pool: Pool<Db>) -> mpsc::Sender<CodeRead> {
    let (sender, mut queue) = mpsc::channel::<CodeRead>(4 * READ_BATCH);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(READ_BATCH);
        while let Some(first) = queue.recv().await {
            // The requests being served on this runtime go first, so that the reads they are
            // about to ask for join this statement.
            tokio::task::yield_now().await;
            fill_batch(&mut queue, &mut batch, first, READ_BATCH);
            let results = match read_codes(&pool, &batch).await {
                Ok(found) => found.into_iter().map(Ok).collect(),
                Err(e) => batch_failed(batch.len(), e),
            };
            for (read, result) in batch.drain(..).zip(results) {
                let _ = read.done.send(result);
            }
        }
    });
    sender
}

/// Reads the codes of a batch, each with its user as the user stands now, in one statement;
/// what each read found, in order (a code asked for twice is found twice).
async fn read_codes(pool: &Pool<Db>, batch: &[CodeRead]) -> sqlx::Result<Vec<Found>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        code_hash: Vec<u8>,
        #[sqlx(flatten)]
        code: Code,
        #[sqlx(flatten)]
        user: UserRoleRow,
    }
    let mut query = QueryBuilder::<Db>::new(format!(
        "SELECT code_hash, {CODE_COLUMNS}, {USER_WITH_ROLES} \
         JOIN authorization_codes ON authorization_codes.user_id = users.id \
         WHERE code_hash IN ("
    ));
    // The list is padded to a power of two with its last hash: each length of list is a
    // statement of its own, prepared and kept by the connection (sqlx's statement cache), and
    // one kept for each of 64 lengths on every connection of the pool held megabytes.
    let padding = batch.len().next_power_of_two() - batch.len();
    let pad = batch.last().into_iter().cycle().take(padding);
    let mut hashes = query.separated(", ");
    for read in batch.iter().chain(pad) {
        hashes.push_bind(read.hash.as_bytes());
    }
    query.push(") ORDER BY code_hash, role");
    let rows: Vec<Row> = query.build_query_as().fetch_all(pool).await?;
    // The rows of each code are together (a row for each role of its user).
    let mut codes: Vec<(Vec<u8>, Found)> = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while let Some(first) = rows.next() {
        let hash = first.code_hash;
        let mut of_code = vec![(first.code, first.user)];
        while let Some(next) = rows.next_if(|next| next.code_hash == hash) {
            of_code.push((next.code, next.user));
        }
        codes.push((hash, with_user(of_code)));
    }
    Ok(batch
        .iter()
        .map(|read| {
            codes
                .iter()
                .find(|(hash, _)| hash.as_slice() == read.hash.as_bytes())
                .and_then(|(_, found)| found.clone())
        })
        .collect())
}

/// Queues a read and waits for what it found.
pub(super) async fn read_code(queue: &mpsc::Sender<CodeRead>, hash: &SecretHash) -> Result<Found> {
    ask(queue, "code reader", |done| CodeRead { hash: *hash, done }).await
}
