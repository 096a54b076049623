//! Applies `heliogate_core::authority` in the transaction of a change: reads the credentials
//! the change touches, asks the rule what becomes of each, ends those that end (a revoked
//! access token reaches the revocation feed through its trigger), and records one audit entry
//! per holder that lost anything. Every change of authority in the store comes through here.

use heliogate_core::authority::{fate, Change, Credential, Fate};
use heliogate_core::oidc::has_second_factor;
use heliogate_core::{ScopeSet, SecretHash};
use serde_json::json;
use sqlx::{QueryBuilder, Transaction};

use super::audit::insert_event;
use super::Db;
use crate::error::db_err;
use crate::{AuditEvent, Result, PERSONAL_TOKENS_CLIENT};

/// Whose credentials a change reaches.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder<'a> {
    /// A user, with the session to keep (the one changing its own password).
    User {
        id: &'a str,
        name: &'a str,
        keep: Option<&'a SecretHash>,
    },
    /// A client, for its own registered scopes.
    Client { id: &'a str },
}

/// How many of each kind of credential a change ended.
#[derive(Debug, Default)]
struct Ended {
    sessions: u64,
    access_tokens: u64,
    refresh_tokens: u64,
    personal_tokens: u64,
    application_tokens: u64,
    applications: Vec<String>,
}

/// What kind of token a live one is, for the rule and the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Personal,
    Refresh,
    Application,
}

impl Ended {
    fn count(&mut self, kind: Kind) {
        match kind {
            Kind::Access => self.access_tokens += 1,
            Kind::Personal => self.personal_tokens += 1,
            Kind::Refresh => self.refresh_tokens += 1,
            Kind::Application => self.application_tokens += 1,
        }
    }

    fn any(&self) -> bool {
        self.sessions
            + self.access_tokens
            + self.refresh_tokens
            + self.personal_tokens
            + self.application_tokens
            > 0
            || !self.applications.is_empty()
    }
}

/// A live token of a holder, as the rule needs it.
struct LiveToken {
    key: Vec<u8>,
    client_id: String,
    scope: ScopeSet,
    /// Whether its grant was signed in with a second factor (refresh tokens keep `amr`).
    second_factor: bool,
}

impl LiveToken {
    fn credential(&self, kind: Kind) -> Credential<'_> {
        let scope = &self.scope;
        match kind {
            Kind::Access => Credential::AccessToken { scope },
            Kind::Personal => Credential::PersonalToken { scope },
            Kind::Refresh => Credential::RefreshToken {
                scope,
                second_factor: self.second_factor,
            },
            Kind::Application => Credential::ApplicationToken { scope },
        }
    }
}

/// Tokens of `table` still usable at `now` where `condition` holds (`$1` bound to `value`).
async fn live_tokens(
    tx: &mut Transaction<'_, Db>,
    table: &str,
    condition: &str,
    value: &str,
    now: i64,
) -> Result<Vec<LiveToken>> {
    // Only refresh tokens keep how their grant was signed in, and are spent by rotation.
    let (amr, unspent) = if table == "refresh_tokens" {
        ("t.amr", " AND t.rotated_at IS NULL")
    } else {
        ("CAST(NULL AS TEXT)", "")
    };
    let rows: Vec<(Vec<u8>, String, String, Option<String>)> = sqlx::query_as(&format!(
        "SELECT t.token_hash, t.client_id, t.scope, {amr} FROM {table} t WHERE {condition} \
         AND t.revoked_at IS NULL AND t.expires_at > $2{unspent}"
    ))
    .bind(value)
    .bind(now)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|(key, client_id, scope, amr)| {
            Ok(LiveToken {
                key,
                client_id,
                // Each was checked when it was written: one that does not parse is damaged.
                scope: crate::rows::stored_scopes([scope])?,
                second_factor: amr.as_deref().is_some_and(has_second_factor),
            })
        })
        .collect()
}

/// Ends the live tokens of `table` where `condition` holds that `change` ends, each ruled on
/// as the kind `kind_of` says, and counts them.
async fn end_tokens(
    tx: &mut Transaction<'_, Db>,
    table: &str,
    (condition, value): (&str, &str),
    change: &Change,
    now: i64,
    kind_of: impl Fn(&LiveToken) -> Kind,
    ended: &mut Ended,
) -> Result<()> {
    let mut revoke = Vec::new();
    for token in live_tokens(tx, table, condition, value, now).await? {
        let kind = kind_of(&token);
        if fate(change, token.credential(kind)) == Fate::Ends {
            ended.count(kind);
            revoke.push(token.key);
        }
    }
    revoke_keys(tx, table, &revoke, now).await
}

/// The first record of a change, which its endings name as their cause.
pub(super) fn cause_of(events: &[AuditEvent]) -> Result<&AuditEvent> {
    events
        .first()
        .ok_or_else(|| crate::StoreError::internal("a change without its record"))
}

/// Ends what `change` ends of `holder`'s credentials, at the time of `cause` (the record of the
/// change), and records what it ended.
pub(super) async fn end_credentials(
    tx: &mut Transaction<'_, Db>,
    holder: Holder<'_>,
    change: &Change,
    cause: &AuditEvent,
) -> Result<()> {
    if change.is_empty() {
        return Ok(());
    }
    let now = cause.at;
    let mut ended = Ended::default();
    let (subject, whose) = match holder {
        Holder::User { id, name, .. } => (name, ("t.user_id = $1", id)),
        Holder::Client { id } => (id, ("t.client_id = $1", id)),
    };
    let personal_or_not = |t: &LiveToken| {
        if t.client_id == PERSONAL_TOKENS_CLIENT {
            Kind::Personal
        } else {
            Kind::Access
        }
    };
    end_tokens(
        tx,
        "access_tokens",
        whose,
        change,
        now,
        personal_or_not,
        &mut ended,
    )
    .await?;
    end_tokens(
        tx,
        "refresh_tokens",
        whose,
        change,
        now,
        |_| Kind::Refresh,
        &mut ended,
    )
    .await?;

    if let Holder::User { id, keep, .. } = holder {
        end_sessions(tx, id, keep, change, &mut ended).await?;
        end_applications(tx, id, change, now, &mut ended).await?;
    }

    if ended.any() {
        let record = AuditEvent {
            at: now,
            event: "credentials.ended".into(),
            actor: cause.actor.clone(),
            subject: Some(subject.to_owned()),
            client_addr: cause.client_addr.clone(),
            detail: json!({
                "because": change.label(),
                "change": cause.event,
                "lost_scopes": change.lost().map(ScopeSet::to_vec).unwrap_or_default(),
                "sessions": ended.sessions,
                "access_tokens": ended.access_tokens,
                "refresh_tokens": ended.refresh_tokens,
                "personal_tokens": ended.personal_tokens,
                "application_tokens": ended.application_tokens,
                "applications_deleted": ended.applications,
            }),
        };
        insert_event(&mut **tx, &record).await?;
    }
    Ok(())
}

async fn end_sessions(
    tx: &mut Transaction<'_, Db>,
    user_id: &str,
    keep: Option<&SecretHash>,
    change: &Change,
    ended: &mut Ended,
) -> Result<()> {
    let sessions: Vec<(Vec<u8>, String)> =
        sqlx::query_as("SELECT id_hash, amr FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
    let keep = keep.map(|k| k.as_bytes().to_vec());
    for (id_hash, amr) in sessions {
        let credential = Credential::Session {
            second_factor: has_second_factor(&amr),
            current: keep.as_ref() == Some(&id_hash),
        };
        if fate(change, credential) == Fate::Ends {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            ended.sessions += 1;
        }
    }
    Ok(())
}

/// The applications a user registered, and the tokens they hold for anyone.
async fn end_applications(
    tx: &mut Transaction<'_, Db>,
    owner_id: &str,
    change: &Change,
    now: i64,
    ended: &mut Ended,
) -> Result<()> {
    let owned: Vec<String> =
        sqlx::query_scalar("SELECT client_id FROM clients WHERE owner_id = $1 ORDER BY client_id")
            .bind(owner_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
    if owned.is_empty() {
        return Ok(());
    }
    if fate(change, Credential::Application) == Fate::Deleted {
        // Its codes, tokens and consents go with it (the revocation feed hears of the tokens).
        for client_id in &owned {
            sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
        ended.applications = owned;
        return Ok(());
    }
    // The owner's own tokens through their application were ruled on as theirs.
    let theirs = (
        "t.client_id IN (SELECT client_id FROM clients WHERE owner_id = $1) \
         AND (t.user_id IS NULL OR t.user_id <> $1)",
        owner_id,
    );
    for table in ["access_tokens", "refresh_tokens"] {
        end_tokens(tx, table, theirs, change, now, |_| Kind::Application, ended).await?;
    }
    Ok(())
}

/// Revokes the live tokens with these keys, a few hundred a statement.
async fn revoke_keys(
    tx: &mut Transaction<'_, Db>,
    table: &str,
    keys: &[Vec<u8>],
    now: i64,
) -> Result<()> {
    for chunk in keys.chunks(500) {
        let mut query = QueryBuilder::<Db>::new(format!("UPDATE {table} SET revoked_at = "));
        query.push_bind(now);
        query.push(" WHERE revoked_at IS NULL AND token_hash IN (");
        let mut list = query.separated(", ");
        for key in chunk {
            list.push_bind(key.clone());
        }
        query.push(")");
        query.build().execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

/// The scopes a user's roles give now, as this transaction sees them.
pub(super) async fn held_scopes(tx: &mut Transaction<'_, Db>, user_id: &str) -> Result<ScopeSet> {
    let scopes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT rs.scope FROM user_roles ur JOIN role_scopes rs ON rs.role = ur.role \
         WHERE ur.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    crate::rows::stored_scopes(scopes)
}

/// Whether any role of the user requires a second factor, as this transaction sees it.
pub(super) async fn second_factor_required(
    tx: &mut Transaction<'_, Db>,
    user_id: &str,
) -> Result<bool> {
    let required: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_roles ur JOIN roles r ON r.name = ur.role \
         WHERE ur.user_id = $1 AND r.mfa_required = TRUE",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(required > 0)
}

/// The users holding `role`: id and name.
pub(super) async fn holders_of(
    tx: &mut Transaction<'_, Db>,
    role: &str,
) -> Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT u.id, u.name FROM users u JOIN user_roles ur ON ur.user_id = u.id \
         WHERE ur.role = $1 ORDER BY u.name",
    )
    .bind(role)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)
}
