//! The administration commands: each calls one use case of `heliogate-app` and prints its
//! result, as text for people or as JSON with `--json`.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use heliogate_app::admin::{
    self, AddClient, AddUser, AuditEntry, AuditQuery, ClientView, RoleView, UserView,
};
use heliogate_app::oidc::keys;
use heliogate_app::App;
use heliogate_app::{mfa, Actor, AppError};
use heliogate_store::Store;
use serde::Serialize;
use serde_json::json;

use crate::cli::{
    AuditCommand, ClientCommand, KeyCommand, MfaCommand, MfaRequirement, PasswordInput,
    RoleCommand, TokenCommand, UserCommand,
};
use crate::settings::Settings;

/// Where a command reads a password and writes its answer: the process's standard streams
/// (see `main`), or a caller's buffers.
pub struct Io<'a> {
    /// Answers as JSON (`--json`) rather than text for people.
    pub json: bool,
    pub input: &'a mut dyn BufRead,
    pub output: &'a mut dyn Write,
    /// Whether `input` is a person at a terminal, who can be asked for a password.
    pub terminal: bool,
}

impl Io<'_> {
    /// Writes `value` as JSON, or `text` for people.
    pub(crate) fn print<T: Serialize>(
        &mut self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            writeln!(self.output, "{}", serde_json::to_string_pretty(value)?)?;
        } else {
            let text = text();
            if !text.is_empty() {
                writeln!(self.output, "{text}")?;
            }
        }
        Ok(())
    }

    pub(crate) fn done(&mut self, message: String) -> anyhow::Result<()> {
        self.print(&json!({ "ok": true, "message": message }), || {
            message.clone()
        })
    }

    /// Reads a new password: one line of the input with `--password-stdin`, otherwise a
    /// prompt on the terminal, asked twice.
    fn read_password(&mut self, input: &PasswordInput) -> anyhow::Result<String> {
        if input.password_stdin {
            let mut line = String::new();
            self.input
                .read_line(&mut line)
                .context("while reading the password from standard input")?;
            return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
        }
        if !self.terminal {
            bail!(
                "standard input is not a terminal: pass --password-stdin to read the password from it"
            );
        }
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the passwords do not match");
        }
        Ok(first)
    }
}

fn time(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

fn user_text(u: &UserView) -> String {
    format!(
        "name:     {}\nid:       {}\nemail:    {}\nroles:    {}\nscopes:   {}\nstatus:   {}\ncreated:  {}\nupdated:  {}",
        u.name,
        u.id,
        u.email.as_deref().unwrap_or("-"),
        u.roles.join(" "),
        u.scopes.join(" "),
        if u.disabled { "disabled" } else { "enabled" },
        time(u.created_at),
        time(u.updated_at),
    )
}

fn client_text(c: &ClientView) -> String {
    format!(
        "client_id:     {}\nname:          {}\ntype:          {}\nowner:         {}\ngrant types:   {}\nscopes:        {}\nredirect URIs: {}\nresources:     {}\nrequires:      {}\nlogout URI:    {}\ncreated:       {}",
        c.client_id,
        c.name,
        c.client_type,
        c.owner.as_deref().unwrap_or("-"),
        c.grant_types.join(" "),
        c.scopes.join(" "),
        if c.redirect_uris.is_empty() { "-".to_owned() } else { c.redirect_uris.join(" ") },
        if c.resources.is_empty() { "-".to_owned() } else { c.resources.join(" ") },
        match (c.require_par, c.require_dpop) {
            (true, true) => "par dpop",
            (true, false) => "par",
            (false, true) => "dpop",
            (false, false) => "-",
        },
        c.backchannel_logout_uri.as_deref().unwrap_or("-"),
        time(c.created_at),
    )
}

/// A page of tokens, one per line, and where the next page starts.
fn token_lines(page: &admin::TokenPage) -> String {
    let mut lines: Vec<String> = page
        .tokens
        .iter()
        .map(|t| {
            format!(
                "{}  {:<13}  {}  {}  {}  expires {}",
                t.token_id,
                t.kind,
                t.client_id,
                t.user.as_deref().unwrap_or("-"),
                t.scopes.join(" "),
                time(t.expires_at)
            )
        })
        .collect();
    if lines.is_empty() {
        lines.push("no live tokens".into());
    }
    if let Some(cursor) = &page.next_cursor {
        lines.push(format!("(more: --cursor {cursor})"));
    }
    lines.join("\n")
}

fn role_line(r: &RoleView) -> String {
    let mfa = if r.mfa_required {
        " (second factor required)"
    } else {
        ""
    };
    format!("{:<20} {}{mfa}", r.name, r.scopes.join(" "))
}

pub async fn user(app: &App, io: &mut Io<'_>, command: UserCommand) -> anyhow::Result<()> {
    let store = app.store();
    let actor = Actor::cli();
    match command {
        UserCommand::Add {
            name,
            roles,
            email,
            password,
        } => {
            let password = io.read_password(&password)?;
            let user = admin::add_user(
                store,
                &actor,
                AddUser {
                    name,
                    roles,
                    email,
                    password,
                },
            )
            .await?;
            io.print(&user, || {
                format!("created user {} ({})", user.name, user.roles.join(" "))
            })
        }
        UserCommand::List => {
            let users = admin::list_users(store).await?;
            io.print(&users, || {
                users
                    .iter()
                    .map(|u| {
                        let status = if u.disabled { "disabled" } else { "enabled" };
                        format!("{:<24} {:<9} {}", u.name, status, u.roles.join(" "))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        UserCommand::Show { name } => {
            let user = admin::show_user(store, &name).await?;
            let factors = mfa::status(store, &user.id).await?;
            let legacy = admin::has_legacy_password(store, &name).await?;
            let mut shown = serde_json::to_value(&user)?;
            shown["mfa"] = json!(factors);
            // An imported password hash, replaced by Argon2id at the next sign-in.
            shown["legacy_password"] = json!(legacy);
            io.print(&shown, || {
                let totp = if factors.totp {
                    "authenticator app"
                } else {
                    "none"
                };
                let required = if factors.required {
                    " (required by a role)"
                } else {
                    ""
                };
                let password = if legacy {
                    "\npassword: carried over (MD5), replaced by Argon2id at the next sign-in"
                } else {
                    ""
                };
                format!(
                    "{}\nsecond factor: {totp}, {} recovery codes left{required}{password}",
                    user_text(&user),
                    factors.recovery_codes_left
                )
            })
        }
        UserCommand::SetRoles { name, roles } => {
            let user = admin::set_user_roles(app, &actor, &name, &roles).await?;
            io.print(&user, || {
                format!("user {} now has roles: {}", user.name, user.roles.join(" "))
            })
        }
        UserCommand::SetPassword { name, password } => {
            // Fail on an unknown user before asking for a password.
            admin::show_user(store, &name).await?;
            let password = io.read_password(&password)?;
            admin::set_password(app, &actor, &name, password).await?;
            io.done(format!("password of {name} changed"))
        }
        UserCommand::Disable { name } => {
            admin::set_disabled(app, &actor, &name, true).await?;
            io.done(format!("user {name} disabled"))
        }
        UserCommand::Enable { name } => {
            admin::set_disabled(app, &actor, &name, false).await?;
            io.done(format!("user {name} enabled"))
        }
        UserCommand::Delete { name } => {
            admin::delete_user(app, &actor, &name).await?;
            io.done(format!("user {name} deleted"))
        }
        UserCommand::Mfa(MfaCommand::Reset { name }) => {
            if mfa::reset(store, &actor, &name).await? {
                io.done(format!("second factors of {name} removed"))
            } else {
                io.done(format!("{name} had no second factor"))
            }
        }
    }
}

pub async fn role(app: &App, io: &mut Io<'_>, command: RoleCommand) -> anyhow::Result<()> {
    let store = app.store();
    let actor = Actor::cli();
    match command {
        RoleCommand::List => {
            let roles = admin::list_roles(store).await?;
            io.print(&roles, || {
                roles.iter().map(role_line).collect::<Vec<_>>().join("\n")
            })
        }
        RoleCommand::Add { name, scopes } => {
            let role = admin::add_role(store, &actor, &name, &scopes).await?;
            io.print(&role, || format!("created role {}", role_line(&role)))
        }
        RoleCommand::SetScopes { name, scopes } => {
            let role = admin::set_role_scopes(app, &actor, &name, &scopes).await?;
            io.print(&role, || format!("role {}", role_line(&role)))
        }
        RoleCommand::Delete { name } => {
            admin::delete_role(store, &actor, &name).await?;
            io.done(format!("role {name} deleted"))
        }
        RoleCommand::SetMfa { name, requirement } => {
            let required = requirement == MfaRequirement::Required;
            mfa::set_role_mfa(app, &actor, &name, required).await?;
            let how = if required { "must" } else { "may" };
            io.done(format!(
                "users of role {name} {how} sign in with a second factor"
            ))
        }
    }
}

pub async fn client(app: &App, io: &mut Io<'_>, command: ClientCommand) -> anyhow::Result<()> {
    let store = app.store();
    let actor = Actor::cli();
    let issued = |issued: &admin::IssuedClient| {
        let mut text = format!("client_id:     {}", issued.client_id);
        if let Some(secret) = &issued.client_secret {
            text.push_str(&format!(
                "\nclient_secret: {secret}\n(the secret is shown only now: store it safely)"
            ));
        }
        text
    };
    match command {
        ClientCommand::Add {
            name,
            redirect_uris,
            public,
            grant_types,
            scopes,
            owner,
            introspect,
            trusted,
            pkce_optional,
            post_logout_redirect_uris,
            signing_alg,
            access_token_format,
            resources,
            require_par,
            require_dpop,
            backchannel_logout_uri,
        } => {
            let input = AddClient {
                name,
                redirect_uris,
                public,
                grant_types,
                scopes,
                owner,
                introspect,
                trusted,
                pkce_optional,
                post_logout_redirect_uris,
                signing_alg,
                access_token_format,
                resources,
                require_par,
                require_dpop,
                backchannel_logout_uri,
            };
            let client = admin::add_client(store, &actor, input).await?;
            io.print(&client, || issued(&client))
        }
        ClientCommand::List => {
            let clients = admin::list_clients(store).await?;
            io.print(&clients, || {
                clients
                    .iter()
                    .map(|c| format!("{}  {:<13} {}", c.client_id, c.client_type, c.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        ClientCommand::Show { id } => {
            let client = admin::show_client(store, &id).await?;
            io.print(&client, || client_text(&client))
        }
        ClientCommand::Delete { id } => {
            admin::delete_client(app, &actor, &id).await?;
            io.done(format!("client {id} deleted"))
        }
        ClientCommand::Enable { id } => {
            let enabled = admin::enable_client(app, &actor, &id).await?;
            io.done(if enabled {
                format!("client {id} enabled")
            } else {
                format!("client {id} was not disabled")
            })
        }
        ClientCommand::RotateSecret { id } => {
            let client = admin::rotate_client_secret(app, &actor, &id).await?;
            io.print(&client, || issued(&client))
        }
        ClientCommand::Set {
            id,
            name,
            redirect_uris,
            grant_types,
            scopes,
            backchannel_logout_uri,
        } => {
            let given = |list: Vec<String>| (!list.is_empty()).then_some(list);
            let change = admin::ClientChange {
                name,
                redirect_uris: given(redirect_uris),
                grant_types: given(grant_types),
                scopes: given(scopes),
                backchannel_logout_uri,
                ..Default::default()
            };
            let read = admin::show_client(store, &id).await?;
            match admin::change_client(app, &actor, &read, change).await? {
                admin::Changed::Done(client) => io.print(&*client, || client_text(&client)),
                admin::Changed::Stale => Err(AppError::Conflict(format!(
                    "client {id} was changed meanwhile: try again"
                ))
                .into()),
            }
        }
    }
}

pub async fn token(
    app: &App,
    settings: &Settings,
    io: &mut Io<'_>,
    command: TokenCommand,
) -> anyhow::Result<()> {
    let store = app.store();
    let actor = Actor::cli();
    let (count, what) = match command {
        TokenCommand::List {
            target,
            limit,
            cursor,
        } => {
            let query = admin::TokenQuery {
                cursor,
                limit: Some(limit),
            };
            let page = match (target.user, target.client) {
                (Some(user), _) => admin::list_user_tokens(store, &user, query).await?,
                (None, Some(client)) => admin::list_client_tokens(store, &client, query).await?,
                (None, None) => {
                    return Err(AppError::Invalid("name --user or --client".into()).into())
                }
            };
            return io.print(&page, || token_lines(&page));
        }
        TokenCommand::Revoke(target) => match (target.user, target.client) {
            (Some(user), _) => (
                admin::revoke_user_tokens(app, &actor, &user).await?,
                "revoked",
            ),
            (None, Some(client)) => (
                admin::revoke_client_tokens(app, &actor, &client).await?,
                "revoked",
            ),
            (None, None) => return Err(AppError::Invalid("name --user or --client".into()).into()),
        },
        TokenCommand::PurgeExpired => {
            let purged = admin::purge_expired(
                store,
                settings.audit_retention_days,
                settings.throttle.window,
            )
            .await?;
            return io.print(&purged, || {
                format!(
                    "{} token(s) purged, {} audit record(s) older than {} days, {} idle sign-in counter(s)",
                    purged.purged,
                    purged.audit_records,
                    settings.audit_retention_days,
                    purged.login_counters
                )
            });
        }
    };
    io.print(&json!({ what: count }), || {
        format!("{count} token(s) {what}")
    })
}

pub async fn key(
    store: &dyn Store,
    settings: &Settings,
    io: &mut Io<'_>,
    command: KeyCommand,
) -> anyhow::Result<()> {
    let keys = match command {
        KeyCommand::List => keys::list_keys(store).await?,
        KeyCommand::Rotate => {
            let longest = settings.access_token_ttl.max(settings.id_token_ttl) as i64;
            keys::rotate_keys(
                store,
                &Actor::cli(),
                settings.key_encryption.as_ref(),
                settings.key_rotation_overlap,
                longest,
            )
            .await?
        }
    };
    io.print(&keys, || {
        keys.iter()
            .map(|k| {
                let retired = k
                    .retired_at
                    .map_or(String::new(), |r| format!("  retired at {r}"));
                format!(
                    "{}  {}  generation {}  {}  signs from {}{retired}",
                    k.kid, k.alg, k.generation, k.state, k.signs_from
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// `--since`: an RFC 3339 time, or an age before now (`90m`, `7d`).
fn since(text: &str) -> anyhow::Result<i64> {
    let at = match humantime::parse_rfc3339_weak(text) {
        Ok(at) => at,
        Err(_) => {
            let age = humantime::parse_duration(text).map_err(|_| {
                AppError::Invalid(format!(
                    "--since {text:?} is neither a time (2026-11-29T08:00:00Z) nor an age (90m, 7d)"
                ))
            })?;
            std::time::SystemTime::now()
                .checked_sub(age)
                .unwrap_or(std::time::UNIX_EPOCH)
        }
    };
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn audit_line(e: &AuditEntry) -> String {
    let detail = match &e.detail {
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    };
    format!(
        "{}  {:<24} {} -> {}  {}  {}",
        time(e.at),
        e.event,
        e.actor.as_deref().unwrap_or("-"),
        e.subject.as_deref().unwrap_or("-"),
        e.client_addr.as_deref().unwrap_or("-"),
        detail,
    )
    .trim_end()
    .to_owned()
}

pub async fn audit(
    store: &dyn Store,
    io: &mut Io<'_>,
    command: AuditCommand,
) -> anyhow::Result<()> {
    let AuditCommand::List {
        user,
        client,
        event,
        since: since_text,
        limit,
        cursor,
    } = command;
    let query = AuditQuery {
        user,
        client,
        event,
        since: since_text.as_deref().map(since).transpose()?,
        cursor,
        limit: Some(limit),
    };
    let page = admin::list_audit(store, query).await?;
    io.print(&page, || {
        let mut lines: Vec<String> = page.events.iter().map(audit_line).collect();
        if let Some(next) = &page.next_cursor {
            lines.push(format!("(more: --cursor {next})"));
        }
        lines.join("\n")
    })
}

pub async fn apply(
    store: &dyn Store,
    kek: Option<&heliogate_app::oidc::sealing::KeyEncryptionKey>,
    io: &mut Io<'_>,
    file: &std::path::Path,
    dry_run: bool,
    prune: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("while reading {}", file.display()))?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let options = heliogate_app::apply::ApplyOptions { dry_run, prune };
    // The file's one name, wherever it is applied from: what the console and the log call it.
    let source = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    let plan = heliogate_app::apply::apply(
        store,
        &source.display().to_string(),
        &text,
        &env,
        kek,
        options,
    )
    .await?;
    io.print(&plan, || {
        let mut lines: Vec<String> = plan.iter().map(|p| p.line()).collect();
        match (lines.is_empty(), dry_run) {
            (true, _) => lines.push("nothing to change".into()),
            (false, true) => lines.push("(dry run: nothing was changed)".into()),
            (false, false) => {}
        }
        lines.join("\n")
    })
}
