//! Settings, layered strongest first: command-line flags, `HELIOGATE_*` environment variables,
//! a TOML file (`--config FILE`, or `heliogate.toml` in the working directory), defaults.
//! Validated once at start; an unknown key or a malformed value is an error naming the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::ArgMatches;
use heliogate_app::oidc::sealing::KeyEncryptionKey;
use heliogate_core::{SessionPolicy, ThrottlePolicy};
use heliogate_http::{Networks, TrustedProxies};
use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A database URL, which may hold a password: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A secret setting: `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl FromStr for SecretText {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every setting, once: its doc comment is its help, its field name its TOML key and flag,
/// its `env` its variable, its `default_value` its default. Where a value came from is asked
/// of clap, so that a file can fill what neither a flag nor a variable set.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://…`
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "HELIOGATE_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://heliogate.db"
    )]
    pub database_url: DatabaseUrl,
    /// Address to bind
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        env = "HELIOGATE_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Public base URL [default: http:// + listen address]
    #[arg(long, global = true, value_name = "URL", env = "HELIOGATE_ISSUER")]
    pub issuer: Option<String>,
    /// Access token lifetime in seconds
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_ACCESS_TOKEN_TTL",
        default_value_t = 3600
    )]
    pub access_token_ttl: u64,
    /// Refresh token lifetime in seconds
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_REFRESH_TOKEN_TTL",
        default_value_t = 2_592_000
    )]
    pub refresh_token_ttl: u64,
    /// ID token lifetime in seconds
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_ID_TOKEN_TTL",
        default_value_t = 3600
    )]
    pub id_token_ttl: u64,
    /// Seconds between `key rotate` and the new keys signing (they are published at once)
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_KEY_ROTATION_OVERLAP",
        default_value_t = 600
    )]
    pub key_rotation_overlap: u64,
    /// Seals the signing keys in the database (AES-256-GCM): 32 bytes, base64url
    #[arg(
        long,
        global = true,
        value_name = "KEY",
        env = "HELIOGATE_KEY_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub key_encryption_key: Option<SecretText>,
    /// Log filter, as RUST_LOG
    #[arg(
        long,
        global = true,
        value_name = "FILTER",
        env = "HELIOGATE_LOG",
        default_value = "info"
    )]
    pub log: String,
    /// Log line format
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        env = "HELIOGATE_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// The name pages show
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "HELIOGATE_INSTANCE_NAME",
        default_value = "heliogate"
    )]
    pub instance_name: String,
    /// A sign-in session ends after this many idle seconds
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_SESSION_IDLE_TTL",
        default_value_t = 1800
    )]
    pub session_idle_ttl: u64,
    /// A sign-in session ends this many seconds after sign-in
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_SESSION_MAX_TTL",
        default_value_t = 36_000
    )]
    pub session_max_ttl: u64,
    /// Seconds after sign-in during which /admin/ needs no password again
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_ADMIN_REAUTH",
        default_value_t = 900
    )]
    pub admin_reauth: u64,
    /// Failed sign-ins per account before it is locked
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "HELIOGATE_LOGIN_MAX_FAILURES",
        default_value_t = 5
    )]
    pub login_max_failures: u64,
    /// Failed sign-ins per client address before it is locked
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "HELIOGATE_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 20
    )]
    pub login_max_failures_per_address: u64,
    /// The first lock in seconds; each further failure doubles it
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_LOGIN_LOCKOUT",
        default_value_t = 2
    )]
    pub login_lockout: u64,
    /// The longest lock in seconds
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_LOGIN_LOCKOUT_MAX",
        default_value_t = 900
    )]
    pub login_lockout_max: u64,
    /// Audit records older than this many days are deleted by `token purge-expired` and, hourly, by the server
    #[arg(
        long,
        global = true,
        value_name = "DAYS",
        env = "HELIOGATE_AUDIT_RETENTION_DAYS",
        default_value_t = 365
    )]
    pub audit_retention_days: u64,
    /// Password hashes computed at once (19 MiB each); more wait, then get 503 [default: two per core]
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "HELIOGATE_PASSWORD_HASH_CONCURRENCY"
    )]
    pub password_hash_concurrency: Option<u64>,
    /// Reverse proxies (CIDR networks or addresses, comma-separated) whose `X-Forwarded-For`/`Forwarded` name the client
    #[arg(
        long,
        global = true,
        value_name = "CIDRS",
        env = "HELIOGATE_TRUSTED_PROXIES",
        default_value = ""
    )]
    pub trusted_proxies: TrustedProxies,
    /// Who may read /metrics (CIDR networks or addresses, comma-separated); others get 404
    #[arg(
        long,
        global = true,
        value_name = "CIDRS",
        env = "HELIOGATE_METRICS_FROM",
        default_value = METRICS_FROM
    )]
    pub metrics_from: Networks,
    /// Seconds a request's headers may take to arrive; a connection idle between requests, or whose client does not take its answer, closes after as long
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "HELIOGATE_HEADER_TIMEOUT",
        default_value_t = 10
    )]
    pub header_timeout: u64,
    /// Connections open at once (fewer when the descriptor limit leaves fewer); past it the idlest gives way
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "HELIOGATE_MAX_CONNECTIONS",
        default_value_t = 1024
    )]
    pub max_connections: u64,
    /// Revocation-feed streams a node serves at once
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "HELIOGATE_FEED_STREAMS",
        default_value_t = 256
    )]
    pub feed_streams: u64,
    /// Revocation-feed streams one client may follow at once
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "HELIOGATE_FEED_STREAMS_PER_CLIENT",
        default_value_t = 4
    )]
    pub feed_streams_per_client: u64,
}

/// Loopback and the private networks (RFC 1918, RFC 4193): a scraper on the same machine or
/// inside the infrastructure.
const METRICS_FROM: &str = "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

/// Whether clap took a setting from a flag or a variable, which a file must not override.
fn set_by_flag_or_env(matches: &ArgMatches, key: &str) -> bool {
    matches!(
        matches.value_source(key),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

impl Config {
    /// This configuration with the keys of a TOML file laid over every setting that no flag
    /// or variable set. A malformed file, an unknown key or a value of the wrong type is an
    /// error naming the file, the line and the key.
    fn with_file(self, matches: &ArgMatches, path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("while reading {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message().trim()))?;
        let mut merged = serde_json::to_value(&self)?;
        for (key, value) in table {
            let line = text
                .lines()
                .position(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
                .map_or(1, |i| i + 1);
            let mut candidate = merged.clone();
            candidate[&key] = serde_json::to_value(value)?;
            // Each key is tried alone, so that an error names it.
            serde_json::from_value::<Config>(candidate.clone())
                .map_err(|e| anyhow::anyhow!("{}: line {line}: {key}: {e}", path.display()))?;
            if !set_by_flag_or_env(matches, &key) {
                merged = candidate;
            }
        }
        Ok(serde_json::from_value(merged)?)
    }
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    /// As configured, without a trailing slash; see `issuer`.
    pub configured_issuer: Option<String>,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub id_token_ttl: u64,
    pub key_rotation_overlap: i64,
    pub key_encryption: Option<KeyEncryptionKey>,
    pub log: String,
    pub log_format: LogFormat,
    pub instance_name: String,
    pub session: SessionPolicy,
    /// Seconds after sign-in during which the console's administrators act without signing
    /// in again.
    pub admin_reauth: i64,
    pub throttle: ThrottlePolicy,
    pub password_hash_concurrency: Option<usize>,
    pub audit_retention_days: i64,
    pub trusted_proxies: TrustedProxies,
    pub metrics_from: Networks,
    /// The bounds of the front door (connections, headers, feed streams).
    pub edge: heliogate_http::EdgeLimits,
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
    /// The flags and variables clap parsed, over the file (`config`, or `heliogate.toml` in
    /// the working directory when present), over the defaults; checked.
    pub fn load(config: Config, matches: &ArgMatches, file: Option<&Path>) -> anyhow::Result<Self> {
        let config = match file {
            Some(path) => config.with_file(matches, path)?,
            None if Path::new("heliogate.toml").exists() => {
                config.with_file(matches, Path::new("heliogate.toml"))?
            }
            None => config,
        };
        Self::check(config)
    }

    /// The settings of `serve` given as `(HELIOGATE_NAME, value)` pairs rather than read from
    /// the environment (a server started inside another program): each pair is passed as the
    /// setting's flag, so it is parsed and checked exactly as on a command line.
    pub fn for_serve(variables: &[(&str, &str)]) -> anyhow::Result<Self> {
        use clap::FromArgMatches;
        let command = crate::cli::command();
        let mut args = vec!["heliogate".to_owned()];
        for (name, value) in variables {
            let flag = command
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|env| env == *name))
                .and_then(|a| a.get_long())
                .ok_or_else(|| anyhow::anyhow!("{name}: not a setting"))?;
            args.push(format!("--{flag}={value}"));
        }
        args.push("serve".to_owned());
        let matches = command.try_get_matches_from(args)?;
        let cli = crate::cli::Cli::from_arg_matches(&matches)?;
        Self::load(cli.settings, &matches, cli.config.as_deref())
    }

    fn check(c: Config) -> anyhow::Result<Self> {
        let settings = Settings {
            database_url: c.database_url,
            listen: c.listen,
            configured_issuer: c.issuer.as_deref().map(check_issuer).transpose()?,
            access_token_ttl: check_ttl("access_token_ttl", c.access_token_ttl)?,
            refresh_token_ttl: check_ttl("refresh_token_ttl", c.refresh_token_ttl)?,
            id_token_ttl: check_ttl("id_token_ttl", c.id_token_ttl)?,
            key_encryption: c
                .key_encryption_key
                .as_ref()
                .map(|k| KeyEncryptionKey::parse(&k.0))
                .transpose()
                .map_err(|e| anyhow::anyhow!("key_encryption_key: {e}"))?,
            key_rotation_overlap: check_range(
                "key_rotation_overlap",
                c.key_rotation_overlap,
                0,
                MAX_TTL,
            )?,
            log: c.log,
            log_format: c.log_format,
            instance_name: check_name(c.instance_name)?,
            session: SessionPolicy {
                idle: check_range("session_idle_ttl", c.session_idle_ttl, 60, MAX_TTL)?,
                max: check_range("session_max_ttl", c.session_max_ttl, 60, MAX_TTL)?,
            },
            admin_reauth: check_range("admin_reauth", c.admin_reauth, 1, MAX_TTL)?,
            throttle: ThrottlePolicy {
                account_threshold: check_range(
                    "login_max_failures",
                    c.login_max_failures,
                    1,
                    1000,
                )?,
                address_threshold: check_range(
                    "login_max_failures_per_address",
                    c.login_max_failures_per_address,
                    1,
                    100_000,
                )?,
                base_delay: check_range("login_lockout", c.login_lockout, 1, 86_400)?,
                max_delay: check_range("login_lockout_max", c.login_lockout_max, 1, 86_400)?,
                window: THROTTLE_WINDOW,
            },
            audit_retention_days: check_range(
                "audit_retention_days",
                c.audit_retention_days,
                1,
                36_500,
            )?,
            password_hash_concurrency: c
                .password_hash_concurrency
                .map(|n| check_range("password_hash_concurrency", n, 1, 1024))
                .transpose()?
                .map(|n| n as usize),
            trusted_proxies: c.trusted_proxies,
            metrics_from: c.metrics_from,
            edge: heliogate_http::EdgeLimits {
                header_timeout: std::time::Duration::from_secs(check_range(
                    "header_timeout",
                    c.header_timeout,
                    1,
                    3600,
                )? as u64),
                max_connections: check_range("max_connections", c.max_connections, 16, 1_000_000)?
                    as usize,
                feed_streams: check_range("feed_streams", c.feed_streams, 1, 100_000)? as usize,
                feed_streams_per_client: check_range(
                    "feed_streams_per_client",
                    c.feed_streams_per_client,
                    1,
                    10_000,
                )? as usize,
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

    /// The issuer: as configured, or `http://` and the address the server listens on (the
    /// bound one, so that `--listen 127.0.0.1:0` names the port it got).
    pub fn issuer(&self, listening: SocketAddr) -> String {
        self.configured_issuer
            .clone()
            .unwrap_or_else(|| format!("http://{listening}"))
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
    #![allow(clippy::unwrap_used, clippy::panic)]
    use clap::{CommandFactory, FromArgMatches};

    use std::path::PathBuf;

    use super::*;
    use crate::cli::Cli;

    /// The book's settings table names every setting's variable and flag: a setting added
    /// without its row fails here.
    #[test]
    fn the_book_lists_every_setting() {
        let table = include_str!("../../../docs/src/settings.md");
        let command = <Config as clap::Args>::augment_args(clap::Command::new("heliogate"));
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let env = env.to_string_lossy();
            let flag = format!("`--{}", arg.get_long().unwrap());
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| `{env}`")))
                .unwrap_or_else(|| panic!("the book's settings table has no row for {env}"));
            assert!(
                row.contains(&flag),
                "the book's row for {env} does not name {flag}"
            );
        }
    }

    /// Settings from these flags and this file, with the process's variables ignored (the
    /// integration tests run the binary with variables of their own).
    fn load(flags: &[&str], file: Option<&Path>) -> anyhow::Result<Settings> {
        let command = Cli::command().mut_args(|a| a.env(None::<&str>));
        let args = ["heliogate"].iter().chain(flags).chain(&["migrate"]);
        let matches = command.try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        Settings::load(cli.settings, &matches, file)
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heliogate.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn defaults_apply_with_nothing_set() {
        let s = load(&[], None).unwrap();
        assert_eq!(s.database_url.expose(), "sqlite://heliogate.db");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.issuer(s.listen), "http://127.0.0.1:8080");
        assert_eq!((s.access_token_ttl, s.refresh_token_ttl), (3600, 2_592_000));
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let (_dir, path) =
            file("access_token_ttl = 10\nrefresh_token_ttl = 20\nlisten = \"127.0.0.1:9000\"\n");
        let s = load(&["--access-token-ttl", "50"], Some(&path)).unwrap();
        assert_eq!((s.access_token_ttl, s.refresh_token_ttl), (50, 20));
        assert_eq!(s.issuer(s.listen), "http://127.0.0.1:9000");
        assert_eq!(s.session.idle, 1800);
    }

    #[test]
    fn an_unknown_key_or_bad_value_names_the_key() {
        let (_dir, path) = file("acces_token_ttl = 10\n");
        let err = format!("{:#}", load(&[], Some(&path)).unwrap_err());
        assert!(err.contains("acces_token_ttl"), "{err}");
        let (_dir, path) = file("access_token_ttl = \"soon\"\n");
        let err = format!("{:#}", load(&[], Some(&path)).unwrap_err());
        assert!(
            err.contains("line 1: access_token_ttl: invalid type"),
            "{err}"
        );
        let err = load(&["--listen", "nowhere"], None).unwrap_err();
        assert!(err.to_string().contains("--listen"), "{err}");
        let err = load(&["--issuer", "ftp://x"], None).unwrap_err();
        assert!(err.to_string().contains("issuer"), "{err}");
        let err = load(&["--access-token-ttl", "0"], None).unwrap_err();
        assert!(err.to_string().contains("access_token_ttl"), "{err}");
    }

    #[test]
    fn trusted_proxies_come_from_a_flag_or_a_file_list_and_bad_networks_are_named() {
        assert_eq!(load(&[], None).unwrap().trusted_proxies.to_string(), "");
        let s = load(&["--trusted-proxies", "10.0.0.0/8, ::1"], None).unwrap();
        assert_eq!(s.trusted_proxies.to_string(), "10.0.0.0/8,::1/128");
        let (_dir, path) = file("trusted_proxies = [\"192.168.0.0/16\", \"127.0.0.1\"]\n");
        let s = load(&[], Some(&path)).unwrap();
        assert_eq!(s.trusted_proxies.to_string(), "192.168.0.0/16,127.0.0.1/32");
        let err = load(&["--trusted-proxies", "10.0.0.0/40"], None).unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/40"), "{err}");
        let (_dir, path) = file("trusted_proxies = \"proxy.local\"\n");
        let err = format!("{:#}", load(&[], Some(&path)).unwrap_err());
        assert!(
            err.contains("trusted_proxies") && err.contains("proxy.local"),
            "{err}"
        );
    }

    #[test]
    fn a_database_password_never_prints() {
        let url: DatabaseUrl = "postgres://u:hunter2@h/db".parse().unwrap();
        assert!(!format!("{url:?} {url}").contains("hunter2"));
    }
}
