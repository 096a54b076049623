//! The backup archive: the whole database as engine-neutral JSON lines, so that what one
//! engine wrote the other loads (`heliogate backup`, `heliogate restore`).
//!
//! ```text
//! {"heliogate_backup":1,"schema_version":25,"made_at":1796000000}
//! {"table":"users","columns":["id","name",…]}
//! ["u-1","alice",…]                      one line per row: null, integers, text, booleans,
//! …                                      and bytes as {"b64":"…"}
//! {"end":{"tables":28,"rows":1234,"sha256":"…"}}
//! ```
//!
//! The last line holds the SHA-256 of every byte before it: an archive cut short has no last
//! line, and one changed anywhere does not match it, so either is refused before anything is
//! loaded. (The checksum finds damage, not forgery: whoever can write the archive can write
//! its checksum too; keep archives where only the operators can write, and read — they hold
//! password hashes, token hashes and the signing keys, sealed only if they were sealed.)

use std::io::{BufRead, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// The archive format this build writes and reads.
pub const ARCHIVE_FORMAT: i64 = 1;

/// Every table an archive holds, parents before the rows that refer to them. Access tokens
/// come before sessions: a token inserted while its session stands would record its relying
/// party again (migration 0025's trigger), and the archive has that record already.
pub const TABLES: [&str; 28] = [
    "instance",
    "users",
    "roles",
    "role_scopes",
    "user_roles",
    "scope_descriptions",
    "clients",
    "upstreams",
    "upstream_identities",
    "signing_keys",
    "consents",
    "authorization_codes",
    "refresh_tokens",
    "access_tokens",
    "token_revocations",
    "sessions",
    "session_clients",
    "logout_deliveries",
    "mfa_pending",
    "totp_factors",
    "recovery_codes",
    "passkeys",
    "webauthn_challenges",
    "login_failures",
    "device_authorizations",
    "pushed_requests",
    "dpop_proofs",
    "audit_log",
];

/// How a column's values are stored, as its declared type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Bool,
    Text,
    Bytes,
}

/// A table's columns, in order, as a database has them.
pub(crate) type Columns = Vec<(String, Kind)>;

/// One value of a row, as both engines store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Cell {
    fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => json!(i),
            Cell::Bool(b) => json!(b),
            Cell::Text(s) => json!(s),
            Cell::Bytes(b) => json!({ "b64": STANDARD.encode(b) }),
        }
    }

    fn from_json(value: &Value) -> Option<Cell> {
        Some(match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => Cell::Int(n.as_i64()?),
            Value::String(s) => Cell::Text(s.clone()),
            Value::Object(o) => Cell::Bytes(STANDARD.decode(o.get("b64")?.as_str()?).ok()?),
            Value::Array(_) => return None,
        })
    }
}

/// What an archive holds, as its first and last lines say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub schema_version: i64,
    pub made_at: i64,
    pub tables: u64,
    pub rows: u64,
}

impl ArchiveSummary {
    /// As the CLI prints it with `--json`, and the audit records it.
    pub fn to_json(&self) -> Value {
        json!({
            "schema_version": self.schema_version,
            "made_at": self.made_at,
            "tables": self.tables,
            "rows": self.rows,
        })
    }
}

fn damaged(line: usize, what: &str) -> StoreError {
    StoreError::Invalid(format!("the archive is damaged at line {line}: {what}"))
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot write the archive: {e}").into())
}

/// Writes an archive, hashing every byte as it goes.
pub struct ArchiveWriter<'w> {
    out: &'w mut (dyn Write + Send),
    hash: Sha256,
    tables: u64,
    rows: u64,
}

impl<'w> ArchiveWriter<'w> {
    pub fn new(out: &'w mut (dyn Write + Send)) -> Self {
        Self {
            out,
            hash: Sha256::new(),
            tables: 0,
            rows: 0,
        }
    }

    fn line(&mut self, value: &Value) -> Result<()> {
        let mut bytes = serde_json::to_vec(value).map_err(StoreError::internal)?;
        bytes.push(b'\n');
        self.hash.update(&bytes);
        self.out.write_all(&bytes).map_err(io)
    }

    pub(crate) fn header(&mut self, schema_version: i64, made_at: i64) -> Result<()> {
        self.line(&json!({
            "heliogate_backup": ARCHIVE_FORMAT,
            "schema_version": schema_version,
            "made_at": made_at,
        }))
    }

    pub(crate) fn table(&mut self, name: &str, columns: &[String]) -> Result<()> {
        self.tables += 1;
        self.line(&json!({ "table": name, "columns": columns }))
    }

    pub(crate) fn row(&mut self, cells: &[Cell]) -> Result<()> {
        self.rows += 1;
        self.line(&Value::Array(cells.iter().map(Cell::to_json).collect()))
    }

    /// The last line; the archive is whole once it is written (and flushed by the caller).
    pub(crate) fn finish(self) -> Result<(u64, u64)> {
        let digest = hex(&self.hash.finalize());
        let end = json!({ "end": { "tables": self.tables, "rows": self.rows, "sha256": digest } });
        let mut bytes = serde_json::to_vec(&end).map_err(StoreError::internal)?;
        bytes.push(b'\n');
        self.out.write_all(&bytes).map_err(io)?;
        self.out.flush().map_err(io)?;
        Ok((self.tables, self.rows))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One line of an archive after the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Table { name: String, columns: Vec<String> },
    Row(Vec<Cell>),
}

/// Reads an archive: its header, then its entries. It checks the checksum again as it goes,
/// and refuses at the last line if it does not match (so a file changed after `verify` cannot
/// be loaded either: the restore's transaction ends without committing).
pub struct ArchiveReader<'r> {
    input: &'r mut (dyn BufRead + Send),
    hash: Sha256,
    line: usize,
    done: bool,
    /// What the first line says; the counts too, once the last line is read.
    pub header: ArchiveSummary,
}

/// Reads `input` to its end and checks it is one whole, unchanged archive of this format: what
/// it holds.
pub fn verify(input: &mut dyn BufRead) -> Result<ArchiveSummary> {
    let mut hash = Sha256::new();
    let mut line = Vec::new();
    let mut number = 0;
    let mut header = None;
    let mut last: Option<Value> = None;
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .map_err(|e| StoreError::Invalid(format!("cannot read the archive: {e}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        if let Some(previous) = last.take() {
            // A line after the end line, or an end line in the middle.
            if previous.get("end").is_some() {
                return Err(damaged(number, "something follows its last line"));
            }
        }
        if !line.ends_with(b"\n") {
            return Err(damaged(number, "it is cut short"));
        }
        let value: Value =
            serde_json::from_slice(&line).map_err(|_| damaged(number, "not a JSON line"))?;
        if value.get("end").is_some() {
            let end = &value["end"];
            let expected = end["sha256"].as_str().unwrap_or_default();
            let actual = hex(&hash.clone().finalize());
            if expected != actual {
                return Err(StoreError::Invalid(
                    "the archive does not match its checksum: it was changed or damaged".into(),
                ));
            }
            let mut summary: ArchiveSummary =
                header.ok_or_else(|| damaged(1, "it has no header"))?;
            summary.tables = end["tables"].as_u64().unwrap_or_default();
            summary.rows = end["rows"].as_u64().unwrap_or_default();
            header = Some(summary);
            last = Some(value);
            continue;
        }
        hash.update(&line);
        if number == 1 {
            header = Some(parse_header(&value)?);
        }
        last = Some(value);
    }
    match (header, last) {
        (Some(summary), Some(end)) if end.get("end").is_some() => Ok(summary),
        (None, _) => Err(StoreError::Invalid("the archive is empty".into())),
        _ => Err(StoreError::Invalid(
            "the archive is cut short: it has no last line".into(),
        )),
    }
}

fn parse_header(value: &Value) -> Result<ArchiveSummary> {
    match value["heliogate_backup"].as_i64() {
        Some(ARCHIVE_FORMAT) => {}
        Some(other) => {
            return Err(StoreError::Invalid(format!(
                "the archive is of format {other}; this heliogate reads format {ARCHIVE_FORMAT}"
            )))
        }
        None => return Err(damaged(1, "it is not a heliogate backup")),
    }
    Ok(ArchiveSummary {
        schema_version: value["schema_version"]
            .as_i64()
            .ok_or_else(|| damaged(1, "no schema version"))?,
        made_at: value["made_at"].as_i64().unwrap_or_default(),
        tables: 0,
        rows: 0,
    })
}

impl<'r> ArchiveReader<'r> {
    /// Starts reading `input` (from its beginning) after its header.
    pub fn new(input: &'r mut (dyn BufRead + Send)) -> Result<Self> {
        let mut reader = Self {
            input,
            hash: Sha256::new(),
            line: 0,
            done: false,
            header: ArchiveSummary {
                schema_version: 0,
                made_at: 0,
                tables: 0,
                rows: 0,
            },
        };
        let first = reader
            .next_value()?
            .ok_or_else(|| damaged(1, "it has no header"))?;
        reader.header = parse_header(&first)?;
        Ok(reader)
    }

    fn next_value(&mut self) -> Result<Option<Value>> {
        let mut line = Vec::new();
        let read = self
            .input
            .read_until(b'\n', &mut line)
            .map_err(|e| StoreError::Invalid(format!("cannot read the archive: {e}")))?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        let value: Value =
            serde_json::from_slice(&line).map_err(|_| damaged(self.line, "not a JSON line"))?;
        match value.get("end") {
            Some(end) => {
                let expected = end["sha256"].as_str().unwrap_or_default();
                if expected != hex(&self.hash.clone().finalize()) {
                    return Err(StoreError::Invalid(
                        "the archive does not match its checksum: it was changed or damaged".into(),
                    ));
                }
            }
            None => self.hash.update(&line),
        }
        Ok(Some(value))
    }

    /// The next table or row; `None` at the end line.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        let Some(value) = self.next_value()? else {
            return Err(damaged(self.line, "it is cut short"));
        };
        if let Value::Array(cells) = &value {
            let cells = cells
                .iter()
                .map(Cell::from_json)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| damaged(self.line, "a value of no known kind"))?;
            return Ok(Some(Entry::Row(cells)));
        }
        if let Some(end) = value.get("end") {
            self.done = true;
            self.header.tables = end["tables"].as_u64().unwrap_or_default();
            self.header.rows = end["rows"].as_u64().unwrap_or_default();
            return Ok(None);
        }
        let name = value["table"].as_str();
        let columns: Option<Vec<String>> = value["columns"]
            .as_array()
            .and_then(|c| c.iter().map(|n| n.as_str().map(str::to_owned)).collect());
        match (name, columns) {
            (Some(name), Some(columns)) => Ok(Some(Entry::Table {
                name: name.to_owned(),
                columns,
            })),
            _ => Err(damaged(self.line, "neither a table nor a row")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn archive() -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut writer = ArchiveWriter::new(&mut out);
            writer.header(25, 1000).unwrap();
            writer
                .table("users", &["id".into(), "hash".into()])
                .unwrap();
            writer
                .row(&[Cell::Text("u-1".into()), Cell::Bytes(vec![0, 255])])
                .unwrap();
            writer.row(&[Cell::Int(-7), Cell::Bool(true)]).unwrap();
            writer
                .row(&[Cell::Null, Cell::Text("é\n\"".into())])
                .unwrap();
            writer.finish().unwrap();
        }
        out
    }

    #[test]
    fn an_archive_reads_back_as_written() {
        let bytes = archive();
        let summary = verify(&mut &bytes[..]).unwrap();
        assert_eq!(
            (summary.schema_version, summary.tables, summary.rows),
            (25, 1, 3)
        );
        let mut input: &[u8] = &bytes;
        let mut reader = ArchiveReader::new(&mut input).unwrap();
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry().unwrap() {
            entries.push(entry);
        }
        assert_eq!(entries.len(), 4);
        assert_eq!(
            entries[1],
            Entry::Row(vec![Cell::Text("u-1".into()), Cell::Bytes(vec![0, 255])])
        );
        assert_eq!(
            entries[3],
            Entry::Row(vec![Cell::Null, Cell::Text("é\n\"".into())])
        );
    }

    /// Reads every entry: an error somewhere on the way, or the entries.
    fn read_all(bytes: &[u8]) -> Result<Vec<Entry>> {
        let mut input = bytes;
        let mut reader = ArchiveReader::new(&mut input)?;
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            entries.push(entry);
        }
        Ok(entries)
    }

    #[test]
    fn a_cut_or_changed_archive_is_refused() {
        let bytes = archive();
        let text = String::from_utf8(bytes.clone()).unwrap();
        // Cut anywhere: at a line's end, or inside one.
        for cut in [bytes.len() - 1, text.rfind("{\"end\"").unwrap(), 40, 0] {
            assert!(verify(&mut &bytes[..cut]).is_err(), "cut at {cut}");
        }
        // One character changed, in a row and in the header.
        let changed = text.replace("u-1", "u-2");
        assert!(verify(&mut changed.as_bytes()).is_err());
        // Read as it is loaded, too: a file changed after `verify` fails at its last line.
        assert!(read_all(changed.as_bytes()).is_err());
        assert!(read_all(&bytes).is_ok());
        let changed = text.replace("\"made_at\":1000", "\"made_at\":1001");
        assert!(verify(&mut changed.as_bytes()).is_err());
        // A line added after the end.
        let longer = format!("{text}[1]\n");
        assert!(verify(&mut longer.as_bytes()).is_err());
    }
}
