//! Reading the audit log, as `heliogate audit list` and the administration API offer it.

use heliogate_core::{ClientId, UnixTime};
use heliogate_store::{AuditFilter, Store};
use serde::Serialize;
use utoipa::ToSchema;

use super::user_name;
use crate::{AppError, Result};

/// A page holds this many records unless asked otherwise, and at most `MAX_LIMIT`.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 1000;

/// Which records to list. Every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Records this user acted in or was acted on, by name.
    pub user: Option<String>,
    /// Records this client acted in or was acted on, by id.
    pub client: Option<String>,
    /// An event name (`login.failed`), or a family of them (`login.*`).
    pub event: Option<String>,
    /// At or after this time.
    pub since: Option<UnixTime>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Orders the log; the newest has the highest.
    pub id: i64,
    /// Seconds since the epoch.
    pub at: i64,
    pub event: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_addr: Option<String>,
    /// What else the event recorded, as an object.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Records newest first, and the cursor of the next page while there is one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

fn invalid(message: &str) -> AppError {
    AppError::Invalid(message.to_owned())
}

/// `login.failed` names one event, `login.*` a family; names are lower-case words joined by
/// dots and underscores.
fn event_filter(event: &str) -> Result<(Option<String>, Option<String>)> {
    let (name, family) = match event.strip_suffix(".*") {
        Some(family) => (family, true),
        None => (event, false),
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    if !valid {
        return Err(invalid(
            "an event is a name like login.failed, or a family like login.*",
        ));
    }
    Ok(if family {
        (None, Some(format!("{name}.")))
    } else {
        (Some(name.to_owned()), None)
    })
}

pub async fn list_audit(store: &dyn Store, query: AuditQuery) -> Result<AuditPage> {
    let mut parties = Vec::new();
    if let Some(user) = &query.user {
        parties.push(user_name(user)?.as_str().to_owned());
    }
    if let Some(client) = &query.client {
        let id = ClientId::parse(client).map_err(|e| AppError::Invalid(e.to_string()))?;
        parties.push(id.as_str().to_owned());
    }
    let (event, event_prefix) = match &query.event {
        Some(event) => event_filter(event)?,
        None => (None, None),
    };
    let before = match &query.cursor {
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| invalid("the cursor is not one a page gave"))?,
        ),
        None => None,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::Invalid(format!(
            "the limit is 1 to {MAX_LIMIT} records"
        )));
    }
    // One more than asked: whether there is a next page.
    let mut records = store
        .audit_records(&AuditFilter {
            parties,
            event,
            event_prefix,
            since: query.since,
            before,
            limit: limit + 1,
        })
        .await?;
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next_cursor = more
        .then(|| records.last().map(|r| r.id.to_string()))
        .flatten();
    let events = records
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.event.at,
            event: r.event.event,
            actor: r.event.actor,
            subject: r.event.subject,
            client_addr: r.event.client_addr,
            detail: r.event.detail,
        })
        .collect();
    Ok(AuditPage {
        events,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_filter_is_a_name_or_a_family() {
        assert!(matches!(event_filter("login.failed"), Ok((Some(n), None)) if n == "login.failed"));
        assert!(matches!(event_filter("login.*"), Ok((None, Some(p))) if p == "login."));
        for bad in ["", ".*", "Login", "login%", "a'b", "x*"] {
            assert!(event_filter(bad).is_err(), "{bad}");
        }
    }
}
