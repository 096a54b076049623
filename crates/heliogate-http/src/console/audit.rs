//! `/admin/`, the administrators' start, and `/admin/audit`, the audit log filtered and
//! paginated.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use heliogate_app::admin::{self, AuditEntry, AuditQuery};
use heliogate_app::AppError;

use super::{failed, next_link, query_value, when, Chrome, ConsoleAdmin};
use crate::pages::page;
use crate::AppState;

/// An audit record as a row shows it.
struct Row {
    entry: AuditEntry,
    at: String,
    detail: String,
}

fn rows(entries: Vec<AuditEntry>) -> Vec<Row> {
    entries
        .into_iter()
        .map(|entry| Row {
            at: when(entry.at),
            detail: match &entry.detail {
                serde_json::Value::Object(map) if map.is_empty() => String::new(),
                detail => detail.to_string(),
            },
            entry,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage {
    instance: String,
    chrome: Chrome,
    events: Vec<Row>,
}

pub(super) async fn home(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
) -> Response {
    let recent = AuditQuery {
        limit: Some(10),
        ..AuditQuery::default()
    };
    match admin::list_audit(&*state.store, recent).await {
        Ok(found) => page(
            StatusCode::OK,
            HomePage {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                events: rows(found.events),
            }
            .render(),
        ),
        Err(e) => failed(&state, e),
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    instance: String,
    chrome: Chrome,
    user: String,
    client: String,
    event: String,
    since: String,
    events: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
}

/// A day (`2026-11-29`) as the second it starts, UTC.
fn day_start(day: &str) -> Result<i64, AppError> {
    let refused = || AppError::Invalid("a day is written like 2026-11-29".into());
    if day.len() != 10 {
        return Err(refused());
    }
    let time = humantime::parse_rfc3339_weak(&format!("{day} 00:00:00")).map_err(|_| refused())?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(refused)
}

pub(super) async fn list(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Response {
    let value = |name| query_value(query.as_deref(), name);
    let (user, client, event, since) = (
        value("user"),
        value("client"),
        value("event"),
        value("since"),
    );
    let found = async {
        let query = AuditQuery {
            user: user.clone(),
            client: client.clone(),
            event: event.clone(),
            since: since.as_deref().map(day_start).transpose()?,
            cursor: value("cursor"),
            limit: Some(50),
        };
        admin::list_audit(&*state.store, query).await
    }
    .await;
    let (events, next, error, status) = match found {
        Ok(found) => {
            let params = [
                ("user", user.as_deref()),
                ("client", client.as_deref()),
                ("event", event.as_deref()),
                ("since", since.as_deref()),
            ];
            let next = found
                .next_cursor
                .map(|c| next_link("/admin/audit", &params, &c));
            (rows(found.events), next, None, StatusCode::OK)
        }
        Err(AppError::Invalid(message)) => {
            (Vec::new(), None, Some(message), StatusCode::BAD_REQUEST)
        }
        Err(e) => return failed(&state, e),
    };
    page(
        status,
        AuditPage {
            instance: admin.chrome.instance.clone(),
            chrome: admin.chrome,
            user: user.unwrap_or_default(),
            client: client.unwrap_or_default(),
            event: event.unwrap_or_default(),
            since: since.unwrap_or_default(),
            events,
            next,
            error,
        }
        .render(),
    )
}
