//! `ConfigStore`: the changes of one `heliogate apply`, all in one transaction.

use async_trait::async_trait;
use heliogate_core::UnixTime;

use super::audit::insert_event;
use super::clients::{change_client, insert_client, remove_client, replace_client_secret};
use super::roles::{
    apply_role_mfa, describe_scope, insert_role, remove_role, replace_role_scopes, role_exists,
};
use super::upstreams::put_upstream;
use super::{admin_count, keeping_an_admin_with, Engine, SqlStore};
use crate::error::db_err;
use crate::{ConfigChange, ConfigStep, ConfigStore, Result, StoreError};

#[async_trait]
impl ConfigStore for SqlStore {
    async fn apply_config(&self, steps: &[ConfigStep], now: UnixTime) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let before = admin_count(&mut tx).await?;
        for step in steps {
            let event = &step.event;
            match &step.change {
                ConfigChange::CreateRole {
                    name,
                    scopes,
                    mfa_required,
                } => {
                    insert_role(&mut tx, name, scopes, now).await?;
                    if *mfa_required {
                        apply_role_mfa(&mut tx, name, true, event).await?;
                    }
                }
                ConfigChange::ChangeRole {
                    name,
                    scopes,
                    mfa_required,
                } => {
                    role_exists(&mut tx, name).await?;
                    if let Some(scopes) = scopes {
                        replace_role_scopes(&mut tx, name, scopes, event).await?;
                    }
                    if let Some(required) = mfa_required {
                        apply_role_mfa(&mut tx, name, *required, event).await?;
                    }
                }
                ConfigChange::DeleteRole(name) => remove_role(&mut tx, name).await?,
                ConfigChange::DescribeScope { scope, description } => {
                    describe_scope(&mut tx, scope, description.as_deref(), now).await?;
                }
                ConfigChange::CreateClient(client) => insert_client(&mut tx, client).await?,
                ConfigChange::ChangeClient {
                    client_id,
                    settings,
                    secret_hash,
                    read_at,
                } => {
                    if let Some(settings) = settings {
                        if !change_client(&mut tx, client_id, settings, (*read_at, now), event)
                            .await?
                        {
                            return Err(StoreError::Conflict(format!(
                                "client {:?} was changed while the file was applied: apply it again",
                                client_id.as_str()
                            )));
                        }
                    }
                    if let Some(hash) = secret_hash {
                        replace_client_secret(&mut tx, client_id, hash, now).await?;
                    }
                }
                ConfigChange::DeleteClient(client_id) => remove_client(&mut tx, client_id).await?,
                ConfigChange::PutUpstream(upstream) => put_upstream(&mut tx, upstream).await?,
                ConfigChange::DeleteUpstream(name) => {
                    sqlx::query("DELETE FROM upstreams WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                ConfigChange::ManageRole { name, by } => {
                    sqlx::query("UPDATE roles SET managed_by = $2 WHERE name = $1")
                        .bind(name.as_str())
                        .bind(by)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                ConfigChange::ManageClient { client_id, by } => {
                    sqlx::query("UPDATE clients SET managed_by = $2 WHERE client_id = $1")
                        .bind(client_id.as_str())
                        .bind(by)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
            }
            insert_event(&mut *tx, event).await?;
        }
        // Every event is written above; this only refuses to leave no administrator.
        keeping_an_admin_with(tx, before, &[]).await
    }
}
