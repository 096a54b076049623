//! What can go wrong in the store, and the one place where a database error is classified.
//!
//! Only a database that cannot be reached (refused, lost, timed out, out of resources) is
//! `Unavailable`, the one kind a caller may answer with 503 and retry. A value the database
//! refuses (a NUL byte in PostgreSQL text, a number out of range) is the caller's `Invalid`
//! input, a broken uniqueness or reference is a `Conflict`, and anything else — a statement
//! that does not parse, a column that does not decode — is `Internal`: a bug, never an outage.

/// What can go wrong in the store, without any engine's types.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change would break a rule of the data: a duplicate name, a role still held, the
    /// last administrator, a row that refers to one deleted a moment ago.
    #[error("{0}")]
    Conflict(String),
    /// The database refused a value: the input was malformed (a NUL byte, a number out of
    /// range), which the edges should have refused first.
    #[error("{0}")]
    Invalid(String),
    /// The database could not be reached, or ran out of resources: worth retrying later.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database answered in a way the store did not expect: a bug to log, not an outage.
    #[error("the store failed unexpectedly")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }

    pub(crate) fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(e.into())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a database error means for the caller: the one classification of `sqlx::Error`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    use sqlx::error::ErrorKind;
    match e {
        sqlx::Error::Database(d) => match d.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict("that already exists".into()),
            ErrorKind::ForeignKeyViolation => StoreError::Conflict(
                "that refers to something that no longer exists, or is still referred to".into(),
            ),
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                StoreError::Invalid("the database refused a value".into())
            }
            _ => match d.code().as_deref().map(classify_code) {
                Some(Kind::Invalid) => StoreError::Invalid("the database refused a value".into()),
                Some(Kind::Unavailable) => StoreError::Unavailable(d.into()),
                Some(Kind::Internal) | None => StoreError::Internal(d.into()),
            },
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(e),
        sqlx::Error::RowNotFound => StoreError::NotFound("not found".into()),
        e => StoreError::internal(e),
    }
}

/// Maps a unique-constraint violation to `Conflict` with the given message; any other error
/// as `db_err` does.
pub(crate) fn unique(message: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message),
        _ => db_err(e),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Invalid,
    Unavailable,
    Internal,
}

/// Classifies an engine's error code: a PostgreSQL SQLSTATE (always five characters, the first
/// two its class) or an SQLite result code (a number below 10,000 whose low byte is the
/// primary code).
fn classify_code(code: &str) -> Kind {
    if let Some(extended) = code.parse::<u32>().ok().filter(|_| code.len() < 5) {
        // https://www.sqlite.org/rescode.html
        return match extended & 0xff {
            // BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
            5 | 6 | 7 | 8 | 10 | 13 | 14 | 15 => Kind::Unavailable,
            // TOOBIG, MISMATCH, RANGE
            18 | 20 | 25 => Kind::Invalid,
            _ => Kind::Internal,
        };
    }
    match code.get(..2) {
        // Data exception: a NUL byte in text, bad encoding, a value out of range.
        Some("22") => Kind::Invalid,
        // Connection exception, transaction rollback (serialization, deadlock), insufficient
        // resources, operator intervention (shutdown, cancel), system error.
        Some("08" | "40" | "53" | "57" | "58") => Kind::Unavailable,
        // Lock not available.
        _ if code == "55P03" => Kind::Unavailable,
        _ => Kind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_codes_are_classified_by_their_class() {
        assert_eq!(classify_code("22021"), Kind::Invalid); // NUL byte in text
        assert_eq!(classify_code("22003"), Kind::Invalid); // number out of range
        assert_eq!(classify_code("08006"), Kind::Unavailable); // connection failure
        assert_eq!(classify_code("57P01"), Kind::Unavailable); // administrator shutdown
        assert_eq!(classify_code("40001"), Kind::Unavailable); // serialization failure
        assert_eq!(classify_code("55P03"), Kind::Unavailable);
        assert_eq!(classify_code("42601"), Kind::Internal); // syntax error: a bug
    }

    #[test]
    fn sqlite_codes_are_classified_by_their_primary_code() {
        assert_eq!(classify_code("5"), Kind::Unavailable); // BUSY
        assert_eq!(classify_code("517"), Kind::Unavailable); // BUSY_SNAPSHOT
        assert_eq!(classify_code("778"), Kind::Unavailable); // IOERR_WRITE
        assert_eq!(classify_code("13"), Kind::Unavailable); // FULL
        assert_eq!(classify_code("18"), Kind::Invalid); // TOOBIG
        assert_eq!(classify_code("1"), Kind::Internal); // ERROR: a bad statement
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_decoding_bug_is_not() {
        let lost = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(db_err(lost), StoreError::Unavailable(_)));
        assert!(matches!(
            db_err(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let bug = sqlx::Error::ColumnNotFound("nope".into());
        assert!(matches!(db_err(bug), StoreError::Internal(_)));
    }
}
