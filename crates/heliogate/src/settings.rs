//! Settings, layered strongest first: command-line flags, `HELIOGATE_*` environment variables,
//! a TOML file (`--config FILE`, or `heliogate.toml` in the working directory), defaults.
//! Validated once at start; an unknown key or a malformed value is an error naming the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};
use heliogate_core::{SessionPolicy, ThrottlePolicy};
use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!("expected text or json, got {s:?}")),
        }
    }
}

/// A database URL, which may hold a password: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&heliogate_store::redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One layer of settings: every field optional, so layers can be stacked.
#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// `sqlite://PATH` or `postgres://…` [default: sqlite://heliogate.db]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<DatabaseUrl>,
    /// Address to bind [default: 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Public base URL [default: http:// + listen address]
    #[arg(long, global = true, value_name = "URL")]
    pub issuer: Option<String>,
    /// Access token lifetime in seconds [default: 3600]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub access_token_ttl: Option<u64>,
    /// Refresh token lifetime in seconds [default: 2592000]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub refresh_token_ttl: Option<u64>,
    /// Log filter, as RUST_LOG [default: info]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log line format [default: text]
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// The name pages show [default: heliogate]
    #[arg(long, global = true, value_name = "NAME")]
    pub instance_name: Option<String>,
    /// A sign-in session ends after this many idle seconds [default: 1800]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub session_idle_ttl: Option<u64>,
    /// A sign-in session ends this many seconds after sign-in [default: 36000]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub session_max_ttl: Option<u64>,
    /// Failed sign-ins per account before it is locked [default: 5]
    #[arg(long, global = true, value_name = "N")]
    pub login_max_failures: Option<u64>,
    /// Failed sign-ins per client address before it is locked [default: 20]
    #[arg(long, global = true, value_name = "N")]
    pub login_max_failures_per_address: Option<u64>,
    /// The first lock in seconds; each further failure doubles it [default: 2]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub login_lockout: Option<u64>,
    /// The longest lock in seconds [default: 900]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub login_lockout_max: Option<u64>,
}

impl Layer {
    /// The layer the `HELIOGATE_*` variables of `lookup` make.
    fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        fn var<T: FromStr>(
            lookup: &dyn Fn(&str) -> Option<String>,
            name: &str,
        ) -> anyhow::Result<Option<T>>
        where
            T::Err: fmt::Display,
        {
            match lookup(name) {
                None => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|e| anyhow::anyhow!("{name}: invalid value {v:?}: {e}")),
            }
        }
        Ok(Self {
            database_url: var(lookup, "HELIOGATE_DATABASE_URL")?,
            listen: var(lookup, "HELIOGATE_LISTEN")?,
            issuer: var(lookup, "HELIOGATE_ISSUER")?,
            access_token_ttl: var(lookup, "HELIOGATE_ACCESS_TOKEN_TTL")?,
            refresh_token_ttl: var(lookup, "HELIOGATE_REFRESH_TOKEN_TTL")?,
            log: var(lookup, "HELIOGATE_LOG")?,
            log_format: var(lookup, "HELIOGATE_LOG_FORMAT")?,
            instance_name: var(lookup, "HELIOGATE_INSTANCE_NAME")?,
            session_idle_ttl: var(lookup, "HELIOGATE_SESSION_IDLE_TTL")?,
            session_max_ttl: var(lookup, "HELIOGATE_SESSION_MAX_TTL")?,
            login_max_failures: var(lookup, "HELIOGATE_LOGIN_MAX_FAILURES")?,
            login_max_failures_per_address: var(
                lookup,
                "HELIOGATE_LOGIN_MAX_FAILURES_PER_ADDRESS",
            )?,
            login_lockout: var(lookup, "HELIOGATE_LOGIN_LOCKOUT")?,
            login_lockout_max: var(lookup, "HELIOGATE_LOGIN_LOCKOUT_MAX")?,
        })
    }

    fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("while reading {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            // One line naming the key: the span points into the line that holds it.
            let at = e.span().map_or(0, |s| s.start).min(text.len());
            let line_no = text[..at].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or_default();
            let key = line.split('=').next().unwrap_or_default().trim();
            anyhow::anyhow!(
                "{}: line {line_no}: {key}: {}",
                path.display(),
                e.message().trim()
            )
        })
    }

    /// This layer, with the gaps filled from `weaker`.
    fn over(self, weaker: Layer) -> Layer {
        Layer {
            database_url: self.database_url.or(weaker.database_url),
            listen: self.listen.or(weaker.listen),
            issuer: self.issuer.or(weaker.issuer),
            access_token_ttl: self.access_token_ttl.or(weaker.access_token_ttl),
            refresh_token_ttl: self.refresh_token_ttl.or(weaker.refresh_token_ttl),
            log: self.log.or(weaker.log),
            log_format: self.log_format.or(weaker.log_format),
            instance_name: self.instance_name.or(weaker.instance_name),
            session_idle_ttl: self.session_idle_ttl.or(weaker.session_idle_ttl),
            session_max_ttl: self.session_max_ttl.or(weaker.session_max_ttl),
            login_max_failures: self.login_max_failures.or(weaker.login_max_failures),
            login_max_failures_per_address: self
                .login_max_failures_per_address
                .or(weaker.login_max_failures_per_address),
            login_lockout: self.login_lockout.or(weaker.login_lockout),
            login_lockout_max: self.login_lockout_max.or(weaker.login_lockout_max),
        }
    }
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    /// Without a trailing slash.
    pub issuer: String,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub log: String,
    pub log_format: LogFormat,
    pub instance_name: String,
    pub session: SessionPolicy,
    pub throttle: ThrottlePolicy,
}

/// Failed sign-ins further apart than this start the count again.
const THROTTLE_WINDOW: i64 = 900;

fn check_range(key: &str, value: u64, min: u64, max: u64) -> anyhow::Result<i64> {
    if value < min || value > max {
        bail!("{key}: must be between {min} and {max}, got {value}");
    }
    Ok(value as i64)
}

fn check_name(name: String) -> anyhow::Result<String> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        bail!("instance_name: must be 1 to 100 printable characters");
    }
    Ok(name)
}

/// The longest token lifetime we accept: one year.
const MAX_TTL: u64 = 366 * 24 * 3600;

impl Settings {
    /// Stacks flags over the environment over the file over defaults, and checks the result.
    pub fn load(
        flags: Layer,
        config: Option<&Path>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let file = match config {
            Some(path) => Layer::from_file(path)?,
            None if Path::new("heliogate.toml").exists() => {
                Layer::from_file(&PathBuf::from("heliogate.toml"))?
            }
            None => Layer::default(),
        };
        let merged = flags.over(Layer::from_env(lookup)?).over(file);
        let listen = merged
            .listen
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let issuer = merged.issuer.unwrap_or_else(|| format!("http://{listen}"));
        let settings = Settings {
            database_url: merged
                .database_url
                .unwrap_or(DatabaseUrl("sqlite://heliogate.db".into())),
            listen,
            issuer: check_issuer(&issuer)?,
            access_token_ttl: check_ttl(
                "access_token_ttl",
                merged.access_token_ttl.unwrap_or(3600),
            )?,
            refresh_token_ttl: check_ttl(
                "refresh_token_ttl",
                merged.refresh_token_ttl.unwrap_or(2_592_000),
            )?,
            log: merged.log.unwrap_or_else(|| "info".into()),
            log_format: merged.log_format.unwrap_or(LogFormat::Text),
            instance_name: check_name(merged.instance_name.unwrap_or_else(|| "heliogate".into()))?,
            session: SessionPolicy {
                idle: check_range(
                    "session_idle_ttl",
                    merged.session_idle_ttl.unwrap_or(1800),
                    60,
                    MAX_TTL,
                )?,
                max: check_range(
                    "session_max_ttl",
                    merged.session_max_ttl.unwrap_or(36_000),
                    60,
                    MAX_TTL,
                )?,
            },
            throttle: ThrottlePolicy {
                account_threshold: check_range(
                    "login_max_failures",
                    merged.login_max_failures.unwrap_or(5),
                    1,
                    1000,
                )?,
                address_threshold: check_range(
                    "login_max_failures_per_address",
                    merged.login_max_failures_per_address.unwrap_or(20),
                    1,
                    100_000,
                )?,
                base_delay: check_range(
                    "login_lockout",
                    merged.login_lockout.unwrap_or(2),
                    1,
                    86_400,
                )?,
                max_delay: check_range(
                    "login_lockout_max",
                    merged.login_lockout_max.unwrap_or(900),
                    1,
                    86_400,
                )?,
                window: THROTTLE_WINDOW,
            },
        };
        let scheme = settings
            .database_url
            .expose()
            .split(':')
            .next()
            .unwrap_or_default();
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
            bail!(
                "database_url: expected sqlite://PATH or postgres://…, got {}",
                settings.database_url
            );
        }
        tracing_subscriber::EnvFilter::try_new(&settings.log)
            .map_err(|e| anyhow::anyhow!("log: {e}"))?;
        Ok(settings)
    }
}

/// RFC 8414 §2: the issuer is an https URL (http allowed for development) with no query or
/// fragment.
fn check_issuer(issuer: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(issuer)
        .map_err(|e| anyhow::anyhow!("issuer: invalid URL {issuer:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("issuer: {issuer:?} must be an http or https URL with a host");
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        bail!("issuer: {issuer:?} must not have a query, fragment or user info");
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

fn check_ttl(key: &str, seconds: u64) -> anyhow::Result<u64> {
    if seconds == 0 || seconds > MAX_TTL {
        bail!("{key}: must be between 1 and {MAX_TTL} seconds, got {seconds}");
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heliogate.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn defaults_apply_with_nothing_set() {
        let s = Settings::load(Layer::default(), None, &env(&[])).unwrap();
        assert_eq!(s.database_url.expose(), "sqlite://heliogate.db");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert_eq!((s.access_token_ttl, s.refresh_token_ttl), (3600, 2_592_000));
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let (_dir, path) =
            file("access_token_ttl = 10\nrefresh_token_ttl = 20\nlisten = \"127.0.0.1:9000\"\n");
        let lookup = env(&[
            ("HELIOGATE_ACCESS_TOKEN_TTL", "30"),
            ("HELIOGATE_REFRESH_TOKEN_TTL", "40"),
        ]);
        let flags = Layer {
            access_token_ttl: Some(50),
            ..Layer::default()
        };
        let s = Settings::load(flags, Some(&path), &lookup).unwrap();
        assert_eq!((s.access_token_ttl, s.refresh_token_ttl), (50, 40));
        assert_eq!(s.issuer, "http://127.0.0.1:9000");
    }

    #[test]
    fn an_unknown_key_or_bad_value_names_the_key() {
        let (_dir, path) = file("acces_token_ttl = 10\n");
        let err = format!(
            "{:#}",
            Settings::load(Layer::default(), Some(&path), &env(&[])).unwrap_err()
        );
        assert!(err.contains("acces_token_ttl"), "{err}");
        let (_dir, path) = file("access_token_ttl = \"soon\"\n");
        let err = format!(
            "{:#}",
            Settings::load(Layer::default(), Some(&path), &env(&[])).unwrap_err()
        );
        assert!(
            err.contains("line 1: access_token_ttl: invalid type"),
            "{err}"
        );
        let err = Settings::load(
            Layer::default(),
            None,
            &env(&[("HELIOGATE_LISTEN", "nowhere")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("HELIOGATE_LISTEN"), "{err}");
        let err = Settings::load(
            Layer::default(),
            None,
            &env(&[("HELIOGATE_ISSUER", "ftp://x")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("issuer"), "{err}");
        let err = Settings::load(
            Layer::default(),
            None,
            &env(&[("HELIOGATE_ACCESS_TOKEN_TTL", "0")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("access_token_ttl"), "{err}");
    }

    #[test]
    fn a_database_password_never_prints() {
        let url: DatabaseUrl = "postgres://u:hunter2@h/db".parse().unwrap();
        assert!(!format!("{url:?} {url}").contains("hunter2"));
    }
}
