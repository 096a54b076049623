//! The DPoP proofs seen (RFC 9449 §11.1), recorded by the proof writer (group commit).

use async_trait::async_trait;
use heliogate_core::{SecretHash, UnixTime};

use super::SqlStore;
use crate::{ProofStore, Result};

#[async_trait]
impl ProofStore for SqlStore {
    async fn use_proof(&self, proof_hash: &SecretHash, expires_at: UnixTime) -> Result<bool> {
        crate::proof_writer::record(&self.proofs, proof_hash.as_bytes(), expires_at).await
    }
}
