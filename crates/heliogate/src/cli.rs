//! The command line: the commands, arguments and settings `heliogate --help` shows.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::settings::Config;

/// heliogate: the login and authorization server of a service infrastructure.
#[derive(Debug, Parser)]
#[command(name = "heliogate", version, about, max_term_width = 100)]
pub struct Cli {
    /// Settings file [default: heliogate.toml in the working directory, when present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten, next_help_heading = "Settings")]
    pub settings: Config,
    #[command(subcommand)]
    pub command: Command,
}

/// The settings every command's help shows: where the database is, how to log, and what
/// unseals the signing keys. The others serve requests, and `serve --help` shows them; other
/// commands still take them (from a flag, the environment or the file) where they use one, and
/// show those (`USED_BY`).
const EVERYWHERE: [&str; 6] = [
    "config",
    "json",
    "database_url",
    "log",
    "log_format",
    "key_encryption_key",
];

/// The server settings a command other than `serve` reads, by the command's path.
const USED_BY: [(&str, &[&str]); 3] = [
    // The issuer it records (`http://` + the listen address unless set).
    ("migrate", &["issuer", "listen"]),
    // When the new keys sign, and how long the old ones stay published.
    (
        "key rotate",
        &["key_rotation_overlap", "access_token_ttl", "id_token_ttl"],
    ),
    ("token purge-expired", &["audit_retention_days"]),
];

/// The command line, with each command's help showing the settings it uses (see `EVERYWHERE`).
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    // Propagates the global settings into every subcommand, where they can then be hidden.
    command.build();
    let settings: Vec<String> = Config::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| !EVERYWHERE.contains(&id.as_str()))
        .collect();
    hide_unused(command, "", &settings)
}

fn hide_unused(command: clap::Command, path: &str, settings: &[String]) -> clap::Command {
    let used: &[&str] = USED_BY
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(&[], |(_, used)| used);
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut command = command.mut_args(|arg| {
        let id = arg.get_id().as_str();
        let server_setting = settings.iter().any(|s| s == id);
        if path != "serve" && server_setting && !used.contains(&id) {
            arg.hide(true)
        } else {
            arg
        }
    });
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        command = command.mut_subcommand(&name, |sub| hide_unused(sub, &sub_path, settings));
    }
    command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first)
    Serve,
    /// Create or update the database schema, then exit
    Migrate,
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage roles: named sets of scopes
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage OAuth 2 clients
    #[command(subcommand)]
    Client(ClientCommand),
    /// Revoke or purge tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Identity providers users sign in with (OpenID Connect, or GitHub)
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// The keys that sign ID tokens and JWT access tokens
    #[command(subcommand)]
    Key(KeyCommand),
    /// Read the audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Bring in users, clients and tokens from another installation
    #[command(subcommand)]
    Import(ImportCommand),
    /// Make the database hold the roles, scope descriptions and clients a TOML file declares:
    /// prints the plan (+ created, ~ changed, - deleted), all in one transaction
    Apply {
        file: std::path::PathBuf,
        /// Print the plan and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Delete the roles, scope descriptions and clients the file does not name (never a
        /// user's own application)
        #[arg(long)]
        prune: bool,
    },
    /// Check the settings, the database, the issuer, the keys and the files: one line per
    /// check, and a failure naming every problem
    Doctor,
    /// Write the whole database, as one consistent moment, to an archive that either engine
    /// restores; servers go on meanwhile. It holds password and token hashes and the signing
    /// keys: keep it as safe as the database
    Backup {
        /// Where to write it (made readable by this user only; replaced only once complete)
        #[arg(long = "to", value_name = "FILE")]
        to: std::path::PathBuf,
    },
    /// Load an archive `backup` wrote into an empty database (of either engine): all of it, or
    /// nothing
    Restore {
        #[arg(long = "from", value_name = "FILE")]
        from: std::path::PathBuf,
    },
    /// Print a completion script for a shell, e.g. `heliogate completions bash > /etc/bash_completion.d/heliogate`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// From the database of a Flask-OAuthlib server (the original design): users keep their
    /// passwords, clients their ids and secrets, live tokens keep working; all or nothing, and
    /// a second run brings only what is new
    FlaskOauthlib {
        /// The source database: sqlite://PATH or postgres://…
        #[arg(long = "from", value_name = "URL")]
        from: String,
        /// Report what would be imported, and write nothing
        #[arg(long)]
        dry_run: bool,
        /// The role of every imported user not named in --roles
        #[arg(long = "default-role", value_name = "ROLE", default_value = "reader")]
        default_roles: Vec<String>,
        /// A CSV file of `name,role[,role…]` lines: roles by user
        #[arg(long, value_name = "FILE")]
        roles: Option<std::path::PathBuf>,
        /// A TOML file naming renamed tables and columns ([tables] user = "accounts",
        /// [columns.user] name = "login")
        #[arg(long, value_name = "FILE")]
        mapping: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit records, newest first; every filter given must hold
    List {
        /// Records this user acted in or was acted on
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Records this client acted in or was acted on
        #[arg(long, value_name = "ID")]
        client: Option<String>,
        /// An event (login.failed) or a family of events (login.*)
        #[arg(long, value_name = "EVENT")]
        event: Option<String>,
        /// Records at or after this time: RFC 3339 (2026-11-29T08:00:00Z) or an age (90m, 7d)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// How many records, 1 to 1000
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
        /// Continue after a page: the cursor it printed
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List the signing keys and what each does now
    List,
    /// Add a new key per algorithm: published at once, signing after key_rotation_overlap; the
    /// old keys stay published until what they signed has expired
    Rotate,
}

#[derive(Debug, Args)]
pub struct PasswordInput {
    /// Read the password from standard input (one line) instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user
    Add {
        name: String,
        /// A role to give (repeat for several)
        #[arg(long = "role", value_name = "ROLE", required = true)]
        roles: Vec<String>,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// List users
    List,
    /// Show one user with their roles and scopes
    Show { name: String },
    /// Replace a user's roles
    SetRoles {
        name: String,
        #[arg(required = true, value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Set a user's password
    SetPassword {
        name: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Stop a user from signing in; ends their sessions
    Disable { name: String },
    /// Let a disabled user sign in again
    Enable { name: String },
    /// Delete a user with their tokens, consents and sessions
    Delete { name: String },
    /// A user's second factors
    #[command(subcommand)]
    Mfa(MfaCommand),
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Remove a user's authenticator app and recovery codes, after they lost them
    Reset { name: String },
}

/// Whether a role's users must sign in with a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MfaRequirement {
    Required,
    Optional,
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Add an identity provider; register the redirect URI it prints there
    Add {
        /// Its name: lowercase letters, digits and hyphens (part of the redirect URI)
        name: String,
        /// Its issuer identifier (the discovery document is read from it); for GitHub,
        /// https://github.com or a GitHub Enterprise Server's URL
        #[arg(long)]
        issuer: String,
        /// The client id heliogate has there
        #[arg(long)]
        client_id: String,
        /// Read the client secret from the first line of standard input (sealed when
        /// HELIOGATE_KEY_ENCRYPTION_KEY is set; never shown)
        #[arg(long)]
        client_secret_stdin: bool,
        /// A scope to ask for (repeat for several; default: openid profile email)
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// What the sign-in page's button says after "Sign in with"
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// A first sign-in by an identity nobody linked: refused (off), makes a user (create),
        /// or links the user with its verified address (link-email)
        #[arg(long, value_name = "off|create|link-email", default_value = "off")]
        provision: String,
        /// A role a user made by a first sign-in gets (repeat for several)
        #[arg(long = "default-role", value_name = "ROLE")]
        default_roles: Vec<String>,
        /// The claim whose values --role-map reads (a dotted path reads into objects)
        #[arg(long, value_name = "CLAIM")]
        role_claim: Option<String>,
        /// The role a value of the role claim gives, at every sign-in (repeat for several)
        #[arg(long = "role-map", value_name = "VALUE=ROLE")]
        role_map: Vec<String>,
        /// Believe its amr/acr when it says it asked for a second factor
        #[arg(long)]
        trust_mfa: bool,
        /// oidc, or github (GitHub's OAuth 2 and user API, no OpenID Connect)
        #[arg(long, value_name = "oidc|github", default_value = "oidc")]
        preset: String,
    },
    /// List the identity providers
    List,
    /// Show an identity provider and its redirect URI
    Show { name: String },
    /// Delete an identity provider and every link through it
    Delete { name: String },
    /// Link a user to their identity (subject) at a provider
    Link {
        name: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        subject: String,
    },
    /// Unlink a user's identity at a provider
    Unlink {
        name: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        subject: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List roles with their scopes
    List,
    /// Create a role
    Add {
        name: String,
        /// A scope the role holds (repeat for several)
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
    },
    /// Replace a role's scopes
    SetScopes {
        name: String,
        #[arg(required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// Delete a role no user holds
    Delete { name: String },
    /// Require a second factor of a role's users (they set one up at their next sign-in), or not
    SetMfa {
        name: String,
        #[arg(value_enum)]
        requirement: MfaRequirement,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and, for a confidential client, its secret once
    Add {
        name: String,
        /// A redirect URI, matched exactly (repeat for several)
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A public client (a browser or native app that cannot keep a secret): PKCE, no secret
        #[arg(long)]
        public: bool,
        /// authorization_code, refresh_token or client_credentials (repeat for several)
        #[arg(long = "grant-type", value_name = "TYPE")]
        grant_types: Vec<String>,
        /// A scope the client may ask for (repeat for several)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The user who owns this client
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
        /// May introspect tokens issued to other clients: a resource server (RFC 7662 §4)
        #[arg(long)]
        introspect: bool,
        /// Vouched for: a public client's remembered consent is used again (else asked each time)
        #[arg(long)]
        trusted: bool,
        /// A confidential client that cannot send PKCE may omit it (every other client must send it)
        #[arg(long)]
        pkce_optional: bool,
        /// Where the client may send the browser after signing the user out, matched exactly (repeat for several)
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// RS256 (default) or ES256: the algorithm of its ID tokens and JWT access tokens
        #[arg(long, value_name = "ALG")]
        signing_alg: Option<String>,
        /// opaque (default) or jwt (RFC 9068 access tokens a resource server can verify itself)
        #[arg(long, value_name = "FORMAT")]
        access_token_format: Option<String>,
        /// A resource server it may ask tokens for, by its RFC 8707 `resource` URI; tokens
        /// that name it carry it as their audience (repeat for several)
        #[arg(long = "resource", value_name = "URI")]
        resources: Vec<String>,
        /// Take only pushed authorization requests (RFC 9126): the request's parameters never
        /// pass through the browser
        #[arg(long)]
        require_par: bool,
        /// Issue only DPoP-bound tokens (RFC 9449): a token request without a proof of the
        /// client's key is refused, and a stolen token is of no use without the key
        #[arg(long)]
        require_dpop: bool,
        /// Where the client takes logout tokens (OpenID Connect Back-Channel Logout): when a
        /// session it signed a user in through ends, heliogate POSTs one there (https, or http
        /// on a loopback host)
        #[arg(long, value_name = "URI")]
        backchannel_logout_uri: Option<String>,
    },
    /// List clients
    List,
    /// Show one client
    Show { id: String },
    /// Delete a client with all its tokens
    Delete { id: String },
    /// Give a confidential client a new secret; the old one stops working
    RotateSecret { id: String },
    /// Let a client that was imported disabled be used, once `client set` has corrected it
    Enable { id: String },
    /// Change a client: each list given replaces the one it had, under the rules of `add`
    Set {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// A redirect URI, matched exactly (repeat for several)
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// authorization_code, refresh_token or client_credentials (repeat for several)
        #[arg(long = "grant-type", value_name = "TYPE")]
        grant_types: Vec<String>,
        /// A scope the client may ask for (repeat for several)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Where the client takes logout tokens; an empty value removes it
        #[arg(long, value_name = "URI")]
        backchannel_logout_uri: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List the live tokens of a user or of a client (never their values), a page at a time
    List {
        #[command(flatten)]
        target: RevokeTarget,
        /// How many, 1 to 1000
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Where the previous page ended (its next_cursor)
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Revoke every live token of a user or of a client
    Revoke(RevokeTarget),
    /// Delete expired tokens, codes and sessions
    PurgeExpired,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeTarget {
    /// Tokens acting for this user
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Tokens issued to this client
    #[arg(long, value_name = "ID")]
    pub client: Option<String>,
}

/// The command line as a Markdown page: each command, what it does, its usage and its options.
/// The book's reference (`docs/src/reference/cli.md`) is this page; a test keeps it current.
pub fn markdown_reference() -> String {
    let mut out = String::from(
        "# Command line\n\n<!-- Made from the command line's definitions: \
         `HELIOGATE_WRITE_REFERENCE=1 cargo nextest run -p heliogate reference` writes it again. -->\n\n\
         Every command also takes the settings (see [Settings](../settings.md)) as flags; \
         each lists those it uses.\n",
    );
    write_command(&mut out, &command(), "heliogate");
    out
}

fn write_command(out: &mut String, command: &clap::Command, path: &str) {
    use std::fmt::Write;
    let about = command
        .get_long_about()
        .or(command.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    let usage = command
        .clone()
        .render_usage()
        .to_string()
        .replace("Usage: ", "");
    let _ = write!(out, "\n## `{path}`\n\n{about}\n\n```text\n{usage}\n```\n");
    let args: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    if !args.is_empty() {
        out.push('\n');
    }
    for arg in args {
        let value = arg
            .get_value_names()
            .map(|names| names.iter().map(|n| format!(" <{n}>")).collect::<String>())
            .unwrap_or_default();
        let name = match arg.get_long() {
            Some(long) if arg.get_num_args().is_some_and(|n| n.takes_values()) => {
                format!("--{long}{value}")
            }
            Some(long) => format!("--{long}"),
            None => format!("<{}>", arg.get_id().as_str().to_uppercase()),
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let _ = writeln!(out, "- `{name}`: {help}");
    }
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        write_command(out, sub, &format!("{path} {}", sub.get_name()));
    }
}

#[cfg(test)]
mod reference {
    /// The book's command-line reference is what the definitions say now.
    #[test]
    #[allow(clippy::unwrap_used, clippy::panic)]
    fn the_books_command_line_reference_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/src/reference/cli.md"
        );
        let made = super::markdown_reference();
        if std::env::var_os("HELIOGATE_WRITE_REFERENCE").is_some() {
            std::fs::write(path, &made).unwrap();
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        if written != made {
            panic!(
                "docs/src/reference/cli.md is not what the command line defines: run \
                 `HELIOGATE_WRITE_REFERENCE=1 cargo nextest run -p heliogate reference`"
            );
        }
    }
}
