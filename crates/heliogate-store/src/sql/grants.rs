//! Authorization codes, issuance, refresh rotation, revocation and consents.

use async_trait::async_trait;
use heliogate_core::oauth::device::DeviceStatus;
use heliogate_core::{ClientId, ScopeSet, SecretHash, TokenKey, UnixTime};
use sqlx::QueryBuilder;

use super::audit::commit_with;
use super::{insert_rows, revoke_tokens_where, Connection, Db, Engine, SqlStore};
use crate::error::db_err;
use crate::issue::{enqueue, written, Issue, Rows};
use crate::rows::stored_scopes;
use crate::{
    AuditEvent, Code, Consent, GrantStore, NewAccessToken, NewCode, NewRefreshToken, OneTimeGrant,
    Redemption, RefreshToken, Result, Revocation, TokenHolder, User,
};

/// Writes some issuances in the token writer's transaction (`crate::issue`): first the grants
/// they spend marked redeemed, where still unspent, each with its tokens' family (one
/// statement for the codes, one for the device codes), then the rows of those whose grant was
/// marked and of those spending none. Returns which were written. With no grant to spend, the rows'
/// one statement is all it runs.
pub(crate) async fn write_issues(conn: &mut Connection, jobs: &[Issue]) -> sqlx::Result<Vec<bool>> {
    let spent = spend_grants(conn, jobs).await?;
    let written = written(jobs, &spent);
    insert_rows(conn, &Rows::of(jobs, &written)).await?;
    Ok(written)
}

/// Marks redeemed the grants some issuances spend, where still unspent; the hashes of those it
/// marked. One statement per kind of grant, whatever the batch's size.
async fn spend_grants(conn: &mut Connection, jobs: &[Issue]) -> sqlx::Result<Vec<Vec<u8>>> {
    let mut spent = Vec::new();
    let codes = spending(jobs, |grant| match grant {
        OneTimeGrant::Code(hash) => Some(hash),
        OneTimeGrant::DeviceCode(_) => None,
    });
    if let Some((at, codes)) = codes {
        let mut query = spent_list(codes);
        query
            .push("UPDATE authorization_codes SET redeemed_at = ")
            .push_bind(at)
            .push(
                ", family_id = (SELECT family FROM spent WHERE hash = code_hash) \
                 WHERE code_hash IN (SELECT hash FROM spent) AND redeemed_at IS NULL \
                 RETURNING code_hash",
            );
        spent = query.build_query_scalar().fetch_all(&mut *conn).await?;
    }
    let devices = spending(jobs, |grant| match grant {
        OneTimeGrant::DeviceCode(hash) => Some(hash),
        OneTimeGrant::Code(_) => None,
    });
    if let Some((at, devices)) = devices {
        let mut query = spent_list(devices);
        query
            .push("UPDATE device_authorizations SET status = ")
            .push_bind(DeviceStatus::Redeemed.as_str())
            .push(", last_poll = ")
            .push_bind(at)
            .push(
                ", family_id = (SELECT family FROM spent WHERE hash = device_code_hash) \
                 WHERE device_code_hash IN (SELECT hash FROM spent) AND status = ",
            )
            .push_bind(DeviceStatus::Approved.as_str())
            .push(" RETURNING device_code_hash");
        let marked: Vec<Vec<u8>> = query.build_query_scalar().fetch_all(&mut *conn).await?;
        spent.extend(marked);
    }
    Ok(spent)
}

/// The grants of one kind (those `kind` gives a hash for) that `jobs` spend, each once, with
/// the family of the first issuance carrying it — the one `written` gives its rows to, so that
/// a replay finds the tokens that were written — and the latest issuance time among them; none
/// when no issuance spends such a grant.
fn spending(
    jobs: &[Issue],
    kind: impl Fn(&OneTimeGrant) -> Option<&SecretHash>,
) -> Option<(UnixTime, Spent<'_>)> {
    let mut grants: Spent<'_> = Vec::new();
    let mut at = None;
    for job in jobs {
        let Some(hash) = job.spends.as_ref().and_then(&kind) else {
            continue;
        };
        let hash = hash.as_bytes();
        at = at.max(Some(job.access.created_at));
        if !grants.iter().any(|(seen, _)| *seen == hash) {
            grants.push((hash, job.access.family_id.as_deref()));
        }
    }
    at.map(|at| (at, grants))
}

/// Grants spent by a batch, by hash, each with the family of the tokens it gives.
type Spent<'a> = Vec<(&'a [u8], Option<&'a str>)>;

/// The start of a spending statement: the grants it spends, `spent (hash, family)`, which the
/// statement finds by `hash IN (SELECT hash FROM spent)`. (Joined as `UPDATE … FROM spent`
/// instead, SQLite 3.46 plans a scan of the whole table for each batch.)
fn spent_list(grants: Spent<'_>) -> QueryBuilder<'_, Db> {
    let mut query = QueryBuilder::<Db>::new("WITH spent (hash, family) AS (");
    query.push_values(grants, |mut row, (hash, family)| {
        row.push_bind(hash).push_bind(family);
    });
    query.push(") ");
    query
}

/// What a stored code holds, as `Code` reads it.
pub(super) const CODE_COLUMNS: &str =
    "client_id, user_id, redirect_uri, redirect_uri_given, scope, \
    code_challenge, nonce, auth_time, sid, resources, amr, expires_at, redeemed_at";

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_code(&self, code: &NewCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, redirect_uri_given, scope, \
             code_challenge, nonce, auth_time, created_at, expires_at, sid, resources, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(code.hash.as_bytes().to_vec())
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(&code.redirect_uri)
        .bind(code.redirect_uri_given)
        .bind(&code.scope)
        .bind(&code.code_challenge)
        .bind(&code.nonce)
        .bind(code.auth_time)
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(&code.sid)
        .bind(&code.resources)
        .bind(&code.amr)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn authorization_code(&self, hash: &SecretHash) -> Result<Option<(Code, User)>> {
        super::code_reads::read_code(&self.codes, hash).await
    }

    async fn redeem_code(
        &self,
        hash: &SecretHash,
        now: UnixTime,
        replayed: &AuditEvent,
    ) -> Result<Redemption> {
        let mut tx = self.begin_write().await?;
        let spent: Option<Code> = sqlx::query_as(&format!(
            "UPDATE authorization_codes SET redeemed_at = $2 WHERE code_hash = $1 AND redeemed_at IS NULL \
             RETURNING {CODE_COLUMNS}"
        ))
        .bind(hash.as_bytes().to_vec())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(code) = spent {
            tx.commit().await.map_err(db_err)?;
            return Ok(Redemption::Redeemed(Box::new(code)));
        }
        let known: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT redeemed_at, family_id FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(hash.as_bytes().to_vec())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((Some(_), family)) = known else {
            return Ok(Redemption::Unknown);
        };
        // When it was replayed, for the record: its tokens, written with the spending of the
        // code (`issue_from`), are those of the family the spending recorded on it.
        sqlx::query("UPDATE authorization_codes SET replayed_at = $2 WHERE code_hash = $1")
            .bind(hash.as_bytes().to_vec())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let revoked = match family {
            Some(family) => revoke_tokens_where(&mut tx, "family_id = $1", &family, now).await?,
            None => 0,
        };
        commit_with(tx, &replayed.clone().with("revoked", revoked)).await?;
        Ok(Redemption::Replayed { revoked })
    }

    async fn issue_tokens(
        &self,
        access: NewAccessToken,
        refresh: Option<NewRefreshToken>,
        event: Option<AuditEvent>,
    ) -> Result<()> {
        enqueue(&self.issuer, None, access, refresh, event)
            .await
            .map(|_| ())
    }

    async fn issue_from(
        &self,
        grant: OneTimeGrant,
        access: NewAccessToken,
        refresh: Option<NewRefreshToken>,
        event: Option<AuditEvent>,
    ) -> Result<bool> {
        enqueue(&self.issuer, Some(grant), access, refresh, event).await
    }

    async fn refresh_token(&self, key: &TokenKey) -> Result<Option<RefreshToken>> {
        sqlx::query_as(
            "SELECT family_id, client_id, user_id, scope, auth_time, sid, amr, created_at, expires_at, rotated_at, revoked_at, jkt \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn rotate_refresh(
        &self,
        old: &TokenKey,
        access: &NewAccessToken,
        refresh: &NewRefreshToken,
        now: UnixTime,
        event: Option<&AuditEvent>,
        replayed: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1 AND rotated_at IS NULL \
             AND revoked_at IS NULL",
        )
        .bind(old.as_bytes().to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            // Lost a race with another use of the same token: that is a replay too.
            let count =
                revoke_tokens_where(&mut tx, "family_id = $1", &refresh.family_id, now).await?;
            commit_with(tx, &replayed.clone().with("revoked", count)).await?;
            return Ok(false);
        }
        let rows = Rows {
            access: vec![access],
            refresh: vec![refresh],
            events: event.into_iter().collect(),
        };
        insert_rows(&mut tx, &rows).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let count = revoke_tokens_where(&mut tx, "family_id = $1", family_id, now).await?;
        commit_with(tx, &event.clone().with("revoked", count)).await?;
        Ok(count)
    }

    async fn revoke_token(
        &self,
        key: &TokenKey,
        holder: TokenHolder<'_>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<Revocation> {
        let mut tx = self.begin_write().await?;
        let (column, holder) = holder.column();
        let access: Option<Option<String>> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM access_tokens WHERE token_hash = $1"
        ))
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(owner) = access {
            if owner.as_deref() != Some(holder) {
                return Ok(Revocation::NotOwned);
            }
            sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(key.as_bytes().to_vec())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            commit_with(tx, event).await?;
            return Ok(Revocation::Revoked);
        }
        let refresh: Option<(String, String)> = sqlx::query_as(&format!(
            "SELECT {column}, family_id FROM refresh_tokens WHERE token_hash = $1"
        ))
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        match refresh {
            Some((owner, _)) if owner != holder => Ok(Revocation::NotOwned),
            Some((_, family)) => {
                revoke_tokens_where(&mut tx, "family_id = $1", &family, now).await?;
                commit_with(tx, event).await?;
                Ok(Revocation::Revoked)
            }
            None => Ok(Revocation::Unknown),
        }
    }

    async fn consent(&self, user_id: &str, client_id: &ClientId) -> Result<Option<ScopeSet>> {
        let scope: Option<String> =
            sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        scope.map(|s| stored_scopes([s])).transpose()
    }

    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id.as_str())
        .bind(scope.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        commit_with(tx, event).await
    }

    async fn consents(&self, user_id: &str, now: UnixTime) -> Result<Vec<Consent>> {
        let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT c.client_id, c.name, k.scope, k.updated_at, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.user_id = k.user_id \
                 AND r.client_id = k.client_id AND r.revoked_at IS NULL AND r.rotated_at IS NULL \
                 AND r.expires_at > $2 AND (' ' || r.scope || ' ') LIKE '% offline_access %') \
             THEN 1 ELSE 0 END AS BIGINT) \
             FROM consents k JOIN clients c ON c.client_id = k.client_id \
             WHERE k.user_id = $1 ORDER BY c.name, c.client_id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(client_id, client_name, scope, updated_at, offline)| {
                Ok(Consent {
                    client_id,
                    client_name,
                    scope: stored_scopes([scope])?,
                    updated_at,
                    offline: offline != 0,
                })
            })
            .collect()
    }

    async fn revoke_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut count = done.rows_affected();
        for table in ["access_tokens", "refresh_tokens"] {
            let revoked = sqlx::query(&format!(
                "UPDATE {table} SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL"
            ))
            .bind(user_id)
            .bind(client_id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            count += revoked.rows_affected();
        }
        if count == 0 {
            return Ok(false);
        }
        commit_with(tx, event).await?;
        Ok(true)
    }
}
