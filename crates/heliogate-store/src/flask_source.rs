//! Reading the database of a Flask-OAuthlib installation — the original design's users,
//! clients and bearer tokens — for `heliogate import flask-oauthlib`.
//!
//! The layout is Flask-SQLAlchemy's default (tables `user`, `client`, `token`, or their plurals,
//! with the columns Flask-OAuthlib's documentation uses); a site that renamed a table or column
//! says so in a [`Mapping`]. Every value is read as text (`CAST(… AS TEXT)`), so one reader
//! serves SQLite and PostgreSQL sources alike. The source is only read: a SQLite file is opened
//! read-only.

use std::collections::HashMap;
use std::str::FromStr;

use futures_util::TryStreamExt;
use heliogate_core::UnixTime;
use sqlx::{ConnectOptions, Row, SqlitePool};

use crate::error::db_err;
use crate::{Result, StoreError};

/// Renamed tables and columns: `tables["user"] = "accounts"`, `columns["user"]["name"] =
/// "login"`, under the logical names the errors list.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub tables: HashMap<String, String>,
    pub columns: HashMap<String, HashMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUser {
    pub id: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub user_id: Option<String>,
    pub redirect_uris: Vec<String>,
    pub default_scopes: Vec<String>,
    pub confidential: bool,
    /// Where the source recorded them (`_allowed_grant_types`).
    pub grant_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceToken {
    pub client_id: String,
    pub user_id: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires: Option<UnixTime>,
    pub scopes: Vec<String>,
}

/// What a source holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlaskData {
    pub users: Vec<SourceUser>,
    pub clients: Vec<SourceClient>,
    pub tokens: Vec<SourceToken>,
}

/// A logical table: its names by default, and its columns (each with its default names);
/// optional columns may be missing.
struct Table {
    logical: &'static str,
    names: &'static [&'static str],
    columns: &'static [(&'static str, &'static [&'static str], bool)],
}

const USER: Table = Table {
    logical: "user",
    names: &["user", "users"],
    columns: &[
        ("id", &["id"], true),
        ("name", &["name", "username"], true),
        ("password_hash", &["password_hash"], false),
        ("active", &["active", "is_active"], false),
    ],
};

const CLIENT: Table = Table {
    logical: "client",
    names: &["client", "clients"],
    columns: &[
        ("client_id", &["client_id"], true),
        ("client_secret", &["client_secret"], true),
        ("user_id", &["user_id"], false),
        ("redirect_uris", &["_redirect_uris", "redirect_uris"], false),
        (
            "default_scopes",
            &["_default_scopes", "default_scopes"],
            false,
        ),
        ("is_confidential", &["is_confidential"], false),
        ("grant_types", &["_allowed_grant_types"], false),
    ],
};

const TOKEN: Table = Table {
    logical: "token",
    names: &["token", "tokens"],
    columns: &[
        ("client_id", &["client_id"], true),
        ("user_id", &["user_id"], true),
        ("access_token", &["access_token"], true),
        ("refresh_token", &["refresh_token"], true),
        ("expires", &["expires"], true),
        ("scopes", &["_scopes", "scopes"], true),
    ],
};

enum Source {
    Sqlite(SqlitePool),
    Postgres(sqlx::PgPool),
}

type TextRows = Vec<Vec<Option<String>>>;

/// A query's rows as text, each turned into text as it arrives (a million tokens are not held
/// twice).
macro_rules! text_rows {
    ($pool:expr, $sql:expr, $($bind:expr),*) => {{
        let mut rows = sqlx::query($sql)$(.bind($bind))*.fetch($pool);
        let mut texts: TextRows = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(db_err)? {
            let text: std::result::Result<Vec<Option<String>>, _> =
                (0..row.len()).map(|i| row.try_get::<Option<String>, _>(i)).collect();
            texts.push(text.map_err(db_err)?);
        }
        texts
    }};
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

impl Source {
    async fn open(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            // Reading a whole table is slow by sqlx's measure: not worth a warning.
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .map_err(db_err)?
                .read_only(true)
                .create_if_missing(false)
                .disable_statement_logging();
            let pool = sqlx::pool::PoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(db_err)?;
            Ok(Source::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(db_err)?
                .disable_statement_logging();
            let pool = sqlx::pool::PoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(db_err)?;
            Ok(Source::Postgres(pool))
        } else {
            Err(StoreError::Invalid(
                "the source must be a sqlite:// or postgres:// URL".into(),
            ))
        }
    }

    async fn rows(&self, sql: &str) -> Result<TextRows> {
        Ok(match self {
            Source::Sqlite(pool) => text_rows!(pool, sql,),
            Source::Postgres(pool) => text_rows!(pool, sql,),
        })
    }

    /// Every table and its columns, in order.
    async fn layout(&self) -> Result<Vec<(String, Vec<String>)>> {
        let rows = match self {
            Source::Sqlite(pool) => text_rows!(
                pool,
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' ORDER BY m.name, p.cid",
            ),
            Source::Postgres(pool) => text_rows!(
                pool,
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
            ),
        };
        let mut tables: Vec<(String, Vec<String>)> = Vec::new();
        for row in rows {
            let (Some(Some(table)), Some(Some(column))) = (row.first(), row.get(1)) else {
                continue;
            };
            match tables.last_mut() {
                Some((name, columns)) if name == table => columns.push(column.clone()),
                _ => tables.push((table.clone(), vec![column.clone()])),
            }
        }
        Ok(tables)
    }
}

/// Reads a source's users, clients and tokens. An unknown layout fails with what was found
/// and what was expected; nothing is ever written to the source.
pub async fn read_flask_source(url: &str, mapping: &Mapping) -> Result<FlaskData> {
    let source = Source::open(url).await?;
    let layout = source.layout().await?;
    let select = |table: &Table| select_for(table, &layout, mapping);
    let (users, clients, tokens) = match (select(&USER), select(&CLIENT), select(&TOKEN)) {
        (Ok(u), Ok(c), Ok(t)) => (u, c, t),
        (u, c, t) => {
            let missing: Vec<String> = [u, c, t].into_iter().filter_map(|r| r.err()).collect();
            let found: Vec<String> = layout
                .iter()
                .map(|(table, columns)| format!("{table}({})", columns.join(", ")))
                .collect();
            return Err(StoreError::Invalid(format!(
                "not a Flask-OAuthlib layout that heliogate knows: {}; found {}; name renamed \
                 tables and columns in a mapping file (--mapping)",
                missing.join("; "),
                if found.is_empty() {
                    "no tables".to_owned()
                } else {
                    found.join(", ")
                }
            )));
        }
    };
    let user_rows = source.rows(&users).await?;
    let client_rows = source.rows(&clients).await?;
    let token_rows = source.rows(&tokens).await?;
    let text = |row: &[Option<String>], i: usize| row.get(i).cloned().flatten();
    let words = |value: Option<String>| -> Vec<String> {
        value
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let data = FlaskData {
        users: user_rows
            .iter()
            .map(|r| SourceUser {
                id: text(r, 0).unwrap_or_default(),
                name: text(r, 1).unwrap_or_default(),
                password_hash: text(r, 2),
                active: text(r, 3).is_none_or(|v| truthy(&v)),
            })
            .collect(),
        clients: client_rows
            .iter()
            .map(|r| SourceClient {
                client_id: text(r, 0).unwrap_or_default(),
                client_secret: text(r, 1).filter(|s| !s.is_empty()),
                user_id: text(r, 2),
                redirect_uris: words(text(r, 3)),
                default_scopes: words(text(r, 4)),
                confidential: text(r, 5).is_none_or(|v| truthy(&v)),
                grant_types: text(r, 6).map(|g| words(Some(g))),
            })
            .collect(),
        tokens: token_rows
            .iter()
            .map(|r| {
                Ok(SourceToken {
                    client_id: text(r, 0).unwrap_or_default(),
                    user_id: text(r, 1),
                    access_token: text(r, 2).filter(|t| !t.is_empty()),
                    refresh_token: text(r, 3).filter(|t| !t.is_empty()),
                    expires: text(r, 4).map(|e| unix_time(&e)).transpose()?,
                    scopes: words(text(r, 5)),
                })
            })
            .collect::<Result<_>>()?,
    };
    match source {
        Source::Sqlite(pool) => pool.close().await,
        Source::Postgres(pool) => pool.close().await,
    }
    Ok(data)
}

/// The `SELECT` of a logical table's columns as text, in the table's column order (a missing
/// optional column reads as NULL), or what is missing.
fn select_for(
    table: &Table,
    layout: &[(String, Vec<String>)],
    mapping: &Mapping,
) -> std::result::Result<String, String> {
    let mapped = mapping.tables.get(table.logical);
    let names: Vec<&str> = match mapped {
        Some(name) => vec![name.as_str()],
        None => table.names.to_vec(),
    };
    let Some((physical, columns)) = layout
        .iter()
        .find(|(name, _)| names.contains(&name.as_str()))
    else {
        return Err(format!("no table {}", names.join(" or ")));
    };
    let renamed = mapping.columns.get(table.logical);
    let mut selected = Vec::new();
    let mut missing = Vec::new();
    for (logical, defaults, required) in table.columns {
        let candidates: Vec<&str> = match renamed.and_then(|r| r.get(*logical)) {
            Some(name) => vec![name.as_str()],
            None => defaults.to_vec(),
        };
        match columns.iter().find(|c| candidates.contains(&c.as_str())) {
            Some(column) => selected.push(format!("CAST({} AS TEXT)", quoted(column))),
            None if *required => missing.push(candidates.join(" or ")),
            None => selected.push("NULL".to_owned()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "table {physical} has no column {}",
            missing.join(", no column ")
        ));
    }
    Ok(format!(
        "SELECT {} FROM {}",
        selected.join(", "),
        quoted(physical)
    ))
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "yes" | "y"
    )
}

/// A naive date and time as SQLAlchemy writes it (UTC, Flask-OAuthlib's `datetime.utcnow()`):
/// `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]`, as seconds since the Unix epoch.
pub fn unix_time(text: &str) -> Result<UnixTime> {
    let bad = || StoreError::Invalid(format!("not a date and time: {text:?}"));
    let text = text.trim();
    let (date, rest) = text.split_at(text.find([' ', 'T']).ok_or_else(bad)?);
    let rest = &rest[1..];
    let mut date_parts = date.split('-').map(|p| p.parse::<i64>());
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day)), None) = (
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
    ) else {
        return Err(bad());
    };
    let offset_at = rest.find(['+', '-', 'Z']);
    let (time, offset) = match offset_at {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let time = time.split('.').next().unwrap_or_default();
    let mut time_parts = time.split(':').map(|p| p.parse::<i64>());
    let (Some(Ok(hour)), Some(Ok(minute)), second, None) = (
        time_parts.next(),
        time_parts.next(),
        time_parts.next(),
        time_parts.next(),
    ) else {
        return Err(bad());
    };
    let second = second.unwrap_or(Ok(0)).map_err(|_| bad())?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let offset_seconds = match offset {
        "" | "Z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let digits: String = offset[1..].chars().filter(char::is_ascii_digit).collect();
            let hours = digits
                .get(..2)
                .and_then(|h| h.parse::<i64>().ok())
                .ok_or_else(bad)?;
            let minutes = digits
                .get(2..4)
                .and_then(|m| m.parse::<i64>().ok())
                .unwrap_or(0);
            sign * (hours * 3600 + minutes * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_date_times_are_read_as_utc_seconds() {
        let at = |t: &str| unix_time(t).ok();
        assert_eq!(at("1970-01-01 00:00:00"), Some(0));
        assert_eq!(at("2026-11-29 12:00:00.123456"), Some(1_795_953_600));
        assert_eq!(at("2026-11-29T12:00:00"), Some(1_795_953_600));
        assert_eq!(at("2026-11-29 13:00:00+01"), Some(1_795_953_600));
        assert_eq!(at("2026-11-29 12:00:00+00:00"), Some(1_795_953_600));
        assert_eq!(at("2000-02-29 00:00"), Some(951_782_400));
        assert_eq!(at("yesterday"), None);
        assert_eq!(at("2026-13-01 00:00:00"), None);
    }
}
