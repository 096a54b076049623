//! The DPoP proofs seen (RFC 9449 §11.1).

use async_trait::async_trait;
use heliogate_core::{SecretHash, UnixTime};

use super::SqlStore;
use crate::error::db_err;
use crate::{ProofStore, Result};

#[async_trait]
impl ProofStore for SqlStore {
    async fn use_proof(&self, proof_hash: &SecretHash, expires_at: UnixTime) -> Result<bool> {
        // One statement: of two nodes given one proof at once, one inserts it.
        let done = sqlx::query(
            "INSERT INTO dpop_proofs (proof_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (proof_hash) DO NOTHING",
        )
        .bind(proof_hash.as_bytes().to_vec())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }
}
