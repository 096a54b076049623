//! `heliogate import flask-oauthlib`: an installation of the original design moves to
//! heliogate without anyone noticing — same user names and passwords (the MD5 hash is kept
//! until the next sign-in replaces it), same client ids and secrets, and the bearer tokens that
//! have not expired keep working at tokeninfo and introspection.
//!
//! Everything is read first, checked under heliogate's rules, and written in one transaction:
//! all or nothing. What is already there (users by name, clients by id, tokens by their hash)
//! is left as it is, so a second run over the same source brings only what is new.

use std::collections::{BTreeMap, HashMap};

use heliogate_core::legacy::legacy_md5_hash;
use heliogate_core::{
    ClientId, RedirectUri, RoleName, Scope, ScopeSet, SecretHash, TokenKey, UnixTime, UserName,
};
use heliogate_store::flask_source::{FlaskData, SourceClient, SourceToken};
use heliogate_store::{ImportBatch, NewAccessToken, NewClient, NewRefreshToken, NewUser, Store};
use serde::Serialize;

use crate::admin::{checked_settings, AddClient};
use crate::scopes::{held_scopes, known_scopes, oidc_scopes, scopes_given};
use crate::{invalid, new_family_id, new_user_id, now, Actor, AppError, Result};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The roles of every imported user not named in `roles_by_user`.
    pub default_roles: Vec<String>,
    /// Roles by user name (from a `name,role[,role…]` file).
    pub roles_by_user: HashMap<String, Vec<String>>,
    /// Report only: nothing is written.
    pub dry_run: bool,
    /// How long an imported refresh token lives from now (the source kept no expiry for it).
    pub refresh_token_ttl: i64,
}

/// What an import found, brought in, found already there, and left out (and why).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub dry_run: bool,
    pub users: Tally,
    pub clients: Tally,
    /// Access tokens (each with its refresh token, when it has one).
    pub tokens: Tally,
    /// Users imported without a password (the source had none usable): an administrator sets
    /// one.
    pub users_without_password: u64,
    /// Users imported disabled (inactive in the source).
    pub users_disabled: u64,
    /// Tokens left behind because they had expired (among `tokens.skipped`, not listed).
    pub tokens_expired: u64,
    pub skipped: Vec<Skipped>,
    /// Clients imported disabled (among `clients.imported`), with what was left out and why:
    /// an administrator corrects them (`client set`) and enables them (`client enable`).
    pub disabled: Vec<Skipped>,
    /// Tokens imported without some of the scopes their source row named (among
    /// `tokens.imported`): those their user's roles, or their client, do not hold here.
    pub narrowed: Vec<Skipped>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub found: u64,
    pub imported: u64,
    pub already_there: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub kind: &'static str,
    /// The user's name, the client's id, or for a token the first characters of its hash.
    pub id: String,
    pub reason: String,
}

/// Why a token stays behind, most of the time.
const EXPIRED: &str = "expired";

/// A stored password hash that nothing matches: the user signs in once an administrator has
/// set a password.
const NO_PASSWORD: &str = "!imported-without-password";

fn skip(report: &mut ImportReport, kind: &'static str, id: &str, reason: impl Into<String>) {
    match kind {
        "user" => report.users.skipped += 1,
        "client" => report.clients.skipped += 1,
        _ => report.tokens.skipped += 1,
    }
    report.skipped.push(Skipped {
        kind,
        id: id.to_owned(),
        reason: reason.into(),
    });
}

fn role_names(roles: &[String]) -> Result<Vec<RoleName>> {
    roles
        .iter()
        .map(|r| RoleName::parse(r).map_err(invalid))
        .collect()
}

/// Imports `data`; `progress` is told, while the transaction writes, how many rows of how
/// many have been written.
pub async fn import_flask(
    store: &dyn Store,
    actor: &Actor,
    data: FlaskData,
    options: &ImportOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<ImportReport> {
    let now = now();
    let mut report = ImportReport {
        dry_run: options.dry_run,
        ..ImportReport::default()
    };
    let roles_now = store.list_roles().await?;
    let known_roles: Vec<String> = roles_now
        .iter()
        .map(|r| r.name.as_str().to_owned())
        .collect();
    let all_roles = options
        .default_roles
        .iter()
        .chain(options.roles_by_user.values().flatten());
    if let Some(unknown) = all_roles.clone().find(|r| !known_roles.contains(r)) {
        return Err(AppError::Invalid(format!("no role named {unknown:?}")));
    }
    if options.default_roles.is_empty() {
        return Err(AppError::Invalid(
            "imported users need a role: name one with --default-role".into(),
        ));
    }
    let mut batch = ImportBatch::default();

    // Who is there already, read once (not a query per imported row).
    let existing_users: HashMap<String, (String, ScopeSet)> = store
        .list_users()
        .await?
        .into_iter()
        .map(|u| {
            let held = held_scopes(&roles_now, &u);
            (u.name.as_str().to_owned(), (u.id, held))
        })
        .collect();
    let existing_clients: HashMap<String, Holder> = store
        .list_clients()
        .await?
        .into_iter()
        .map(|c| {
            let refresh = c.grant_types.iter().any(|g| g.as_str() == "refresh_token");
            (c.client_id.as_str().to_owned(), (refresh, c.scopes))
        })
        .collect();

    // Users: the source's id → heliogate's user id, name, and the scopes their roles give.
    let mut users: HashMap<String, (String, UserName, ScopeSet)> = HashMap::new();
    for source in &data.users {
        report.users.found += 1;
        let name = match UserName::parse(&source.name) {
            Ok(name) => name,
            Err(e) => {
                skip(
                    &mut report,
                    "user",
                    &source.name,
                    format!("name not allowed: {e}"),
                );
                continue;
            }
        };
        if let Some((id, held)) = existing_users.get(name.as_str()) {
            report.users.already_there += 1;
            users.insert(source.id.clone(), (id.clone(), name, held.clone()));
            continue;
        }
        let roles = match options.roles_by_user.get(name.as_str()) {
            Some(roles) => role_names(roles)?,
            None => role_names(&options.default_roles)?,
        };
        let password_hash = match source.password_hash.as_deref().and_then(legacy_md5_hash) {
            Some(hash) => hash,
            None => {
                report.users_without_password += 1;
                NO_PASSWORD.to_owned()
            }
        };
        if !source.active {
            report.users_disabled += 1;
            batch.disabled_users.push(name.as_str().to_owned());
        }
        // The source's id stays the user's id: `uid` at tokeninfo is what the services knew.
        let id = if source.id.is_empty() {
            new_user_id()
        } else {
            source.id.clone()
        };
        users.insert(
            source.id.clone(),
            (
                id.clone(),
                name.clone(),
                scopes_given(&roles_now, |role| roles.iter().any(|r| r.as_str() == role)),
            ),
        );
        batch.users.push(NewUser {
            id,
            name,
            email: None,
            password_hash,
            roles,
            must_change_password: false,
            now,
        });
        report.users.imported += 1;
    }

    // Clients, under the rules of registration.
    let mut clients: HashMap<String, Holder> = HashMap::new();
    for source in &data.clients {
        report.clients.found += 1;
        let owner = source
            .user_id
            .as_ref()
            .and_then(|id| users.get(id))
            .map(|(_, name, _)| name.clone());
        let client_id = match ClientId::parse(&source.client_id) {
            Ok(id) => id,
            Err(e) => {
                skip(
                    &mut report,
                    "client",
                    &source.client_id,
                    format!("id not allowed: {e}"),
                );
                continue;
            }
        };
        if let Some(holder) = existing_clients.get(client_id.as_str()) {
            report.clients.already_there += 1;
            clients.insert(source.client_id.clone(), holder.clone());
            continue;
        }
        match client_of(store, source, client_id, owner, now).await {
            Ok((client, left_out)) => {
                if let Some(reason) = left_out {
                    batch.disabled_clients.push(source.client_id.clone());
                    report.disabled.push(Skipped {
                        kind: "client",
                        id: source.client_id.clone(),
                        reason,
                    });
                }
                let refresh = client
                    .settings
                    .spec
                    .grant_types
                    .iter()
                    .any(|g| g.as_str() == "refresh_token");
                let scopes = client.settings.spec.scopes.iter().cloned().collect();
                clients.insert(source.client_id.clone(), (refresh, scopes));
                batch.clients.push(client);
                report.clients.imported += 1;
            }
            Err(reason) => skip(&mut report, "client", &source.client_id, reason),
        }
    }

    // Bearer tokens that have not expired.
    for source in &data.tokens {
        report.tokens.found += 1;
        match token_of(source, &users, &clients, options, now) {
            Ok((access, refresh, dropped)) => {
                if !dropped.is_empty() {
                    report.narrowed.push(Skipped {
                        kind: "token",
                        id: shown(&access.key),
                        reason: format!(
                            "imported without {}: not held in heliogate by its {}",
                            dropped.join(", "),
                            if access.user_id.is_some() {
                                "user's roles"
                            } else {
                                "client"
                            }
                        ),
                    });
                }
                if !options.dry_run || store.access_token(&access.key).await?.is_none() {
                    batch.access_tokens.push(access);
                    batch.refresh_tokens.extend(refresh);
                } else {
                    report.tokens.already_there += 1;
                }
            }
            // Expired tokens are the common case: counted, not listed.
            Err((_, reason)) if reason == EXPIRED => {
                report.tokens.skipped += 1;
                report.tokens_expired += 1;
            }
            Err((id, reason)) => skip(&mut report, "token", &id, reason),
        }
    }

    if options.dry_run {
        report.tokens.imported = batch.access_tokens.len() as u64;
        return Ok(report);
    }
    let event = actor.event(
        "import.flask_oauthlib",
        "flask-oauthlib",
        serde_json::json!({"skipped": report.skipped.len()}),
    );
    let total = (batch.users.len()
        + batch.clients.len()
        + batch.refresh_tokens.len()
        + batch.access_tokens.len()) as u64;
    let written = store
        .import(&batch, &event, &|done| progress(done, total))
        .await?;
    // Users and clients were looked up above; tokens are counted as the store wrote them.
    report.tokens.imported = written.access_tokens;
    report.tokens.already_there = batch.access_tokens.len() as u64 - written.access_tokens;
    report.users.imported = written.users;
    report.clients.imported = written.clients;
    Ok(report)
}

/// A source client as heliogate registers it, or why it cannot be.
/// A source client as heliogate stores it, and when it comes disabled, what was left out;
/// or why it cannot come at all.
async fn client_of(
    store: &dyn Store,
    source: &SourceClient,
    client_id: ClientId,
    owner: Option<UserName>,
    now: UnixTime,
) -> std::result::Result<(NewClient, Option<String>), String> {
    let public = !source.confidential || source.client_secret.is_none();
    let code = !source.redirect_uris.is_empty();
    let grant_types = match &source.grant_types {
        Some(types) => types.clone(),
        None if code => vec!["authorization_code".into(), "refresh_token".into()],
        None => vec!["client_credentials".into()],
    };
    let input = AddClient {
        name: source.client_id.clone(),
        redirect_uris: source.redirect_uris.clone(),
        public,
        grant_types,
        scopes: source.default_scopes.clone(),
        owner: None,
        // Flask-OAuthlib never sent PKCE: its confidential clients may go on without it.
        pkce_optional: !public && code,
        ..AddClient::default()
    };
    let (settings, left_out) = match checked_settings(store, &input).await {
        Ok(settings) => (settings, None),
        Err(refusal) => {
            let (reduced, left_out) = without_what_breaks_the_rules(store, &input).await?;
            if left_out.is_empty() {
                return Err(refusal.to_string());
            }
            let settings = checked_settings(store, &reduced)
                .await
                .map_err(|e| format!("{refusal}; and without what breaks the rules: {e}"))?;
            let reason = format!(
                "imported disabled, without {}: {refusal}; correct it with client set, then \
                 client enable",
                left_out.join(", ")
            );
            (settings, Some(reason))
        }
    };
    Ok((
        NewClient {
            client_id,
            secret_hash: (!public)
                .then(|| source.client_secret.as_deref().map(SecretHash::of))
                .flatten(),
            settings,
            owner,
            now,
        },
        left_out,
    ))
}

/// A client's settings without the redirect URIs and scopes that break heliogate's rules, and
/// what was left out, in words. Without a redirect URI left, the code flow's grants go too: a
/// confidential client then has client credentials alone until it is corrected.
async fn without_what_breaks_the_rules(
    store: &dyn Store,
    input: &AddClient,
) -> std::result::Result<(AddClient, Vec<String>), String> {
    let known = known_scopes(store).await.map_err(|e| e.to_string())?;
    let mut reduced = input.clone();
    let mut left_out = Vec::new();
    reduced.redirect_uris.retain(|uri| {
        let fits = RedirectUri::parse(uri).is_ok();
        if !fits {
            left_out.push(format!("the redirect URI {uri:?}"));
        }
        fits
    });
    reduced.scopes.retain(|scope| {
        let fits = known.contains(scope);
        if !fits {
            left_out.push(format!("the scope {scope:?}"));
        }
        fits
    });
    if reduced.redirect_uris.is_empty() && !input.redirect_uris.is_empty() {
        reduced
            .grant_types
            .retain(|g| g != "authorization_code" && g != "refresh_token");
        reduced.pkce_optional = false;
        left_out.push("the authorization code grant (no redirect URI is left)".into());
    }
    Ok((reduced, left_out))
}

/// A live source token as heliogate stores it (hashed), or why it is left out.
#[allow(clippy::result_large_err)] // answered at once, never carried far
fn token_of(
    source: &SourceToken,
    users: &HashMap<String, (String, UserName, ScopeSet)>,
    clients: &HashMap<String, Holder>,
    options: &ImportOptions,
    now: UnixTime,
) -> std::result::Result<Imported, (String, String)> {
    let Some(access) = source.access_token.as_deref() else {
        return Err(("-".into(), "no access token".into()));
    };
    let key = TokenKey::of(access);
    let shown = shown(&key);
    let refuse = |reason: &str| Err((shown.clone(), reason.to_owned()));
    let Some(expires) = source.expires else {
        return refuse("no expiry");
    };
    if expires <= now {
        return refuse(EXPIRED);
    }
    let Some((may_refresh, client_scopes)) = clients.get(&source.client_id) else {
        return refuse("its client was not imported");
    };
    let may_refresh = *may_refresh;
    // The source's scope strings are not trusted: a token keeps only what its user's roles
    // (or, for a client's own token, the client) hold in heliogate now.
    let (user, allowed) = match &source.user_id {
        Some(id) => match users.get(id) {
            Some((user_id, _, held)) => (Some(user_id.clone()), held.union(&oidc_scopes())),
            None => return refuse("its user was not imported"),
        },
        None => (None, client_scopes.clone()),
    };
    let scopes: std::result::Result<Vec<Scope>, _> =
        source.scopes.iter().map(|s| Scope::parse(s)).collect();
    let Ok(asked) = scopes.map(ScopeSet::from_iter) else {
        return refuse("a malformed scope");
    };
    let kept = asked.intersection(&allowed);
    if kept.is_empty() {
        return refuse("none of its scopes is held in heliogate by its user's roles or its client");
    }
    let dropped: Vec<String> = asked
        .iter()
        .filter(|s| !kept.contains(s.as_str()))
        .map(|s| format!("{:?}", s.as_str()))
        .collect();
    let scope = kept.to_string();
    let refresh = match (&source.refresh_token, &user) {
        (Some(token), Some(user_id)) if may_refresh => Some(NewRefreshToken {
            key: TokenKey::of(token),
            family_id: new_family_id(),
            client_id: source.client_id.clone(),
            user_id: user_id.clone(),
            scope: scope.clone(),
            auth_time: None,
            sid: None,
            amr: None,
            created_at: now,
            expires_at: now + options.refresh_token_ttl,
            jkt: None,
        }),
        _ => None,
    };
    let access = NewAccessToken {
        key,
        client_id: source.client_id.clone(),
        user_id: user,
        scope,
        family_id: refresh.as_ref().map(|r| r.family_id.clone()),
        audience: None,
        created_at: now,
        expires_at: expires,
        jkt: None,
        subject_key: None,
        act: None,
        sid: None,
    };
    Ok((access, refresh, dropped))
}

/// A token as the report names it: the last bytes of its hash.
fn shown(key: &TokenKey) -> String {
    key.as_bytes()
        .iter()
        .rev()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A token as stored, its refresh token, and the scopes (quoted) dropped from what the source
/// named.
type Imported = (NewAccessToken, Option<NewRefreshToken>, Vec<String>);

/// Whether a client may refresh, and the scopes it holds.
type Holder = (bool, ScopeSet);

/// Reads a `name,role[,role…]` file: roles by user name. Blank lines and `#` comments are
/// skipped.
pub fn roles_file(text: &str) -> Result<HashMap<String, Vec<String>>> {
    let mut roles = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(',').map(str::trim);
        let name = fields.next().unwrap_or_default().to_owned();
        let list: Vec<String> = fields
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if name.is_empty() || list.is_empty() {
            return Err(AppError::Invalid(format!(
                "line {}: expected name,role[,role…]",
                n + 1
            )));
        }
        roles.insert(name, list);
    }
    Ok(roles.into_iter().collect())
}
