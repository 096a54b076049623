//! `heliogate upstream …`: the identity providers users sign in with, and the identities
//! linked through them.

use anyhow::{bail, Context};
use heliogate_app::upstream::{self, AddUpstream, UpstreamView};
use heliogate_app::{Actor, App};

use crate::cli::UpstreamCommand;
use crate::commands::Io;
use crate::settings::Settings;

fn text(u: &UpstreamView, issuer: &str) -> String {
    let mut lines = vec![
        format!("name:          {}", u.name),
        format!("display name:  {}", u.display_name),
        format!("preset:        {}", u.preset),
        format!("issuer:        {}", u.issuer),
        format!("client_id:     {}", u.client_id),
        format!(
            "client secret: {}",
            if u.has_client_secret { "set" } else { "none" }
        ),
        format!("scopes:        {}", u.scopes.join(" ")),
        format!("provision:     {}", u.provision),
        format!("redirect URI:  {}", upstream::callback_uri(issuer, &u.name)),
    ];
    if !u.default_roles.is_empty() {
        lines.push(format!("default roles: {}", u.default_roles.join(" ")));
    }
    if let Some(claim) = &u.role_claim {
        lines.push(format!("role claim:    {claim}"));
        for (value, role) in &u.role_map {
            lines.push(format!("  {value} -> {role}"));
        }
    }
    if u.trust_mfa {
        lines.push("trusts its second factor".into());
    }
    lines.join("\n")
}

/// The first line of the input: a client secret.
fn read_secret(io: &mut Io<'_>) -> anyhow::Result<String> {
    let mut line = String::new();
    io.input
        .read_line(&mut line)
        .context("while reading the client secret from standard input")?;
    let secret = line.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        bail!("standard input held no client secret");
    }
    Ok(secret)
}

pub async fn run(
    app: &App,
    settings: &Settings,
    io: &mut Io<'_>,
    command: UpstreamCommand,
) -> anyhow::Result<()> {
    let store = app.store();
    let actor = Actor::cli();
    let issuer = settings.issuer(settings.listen);
    let kek = settings.key_encryption.as_ref();
    match command {
        UpstreamCommand::Add {
            name,
            issuer: upstream_issuer,
            client_id,
            client_secret_stdin,
            scopes,
            display_name,
            provision,
            default_roles,
            role_claim,
            role_map,
            trust_mfa,
            preset,
        } => {
            let client_secret = if client_secret_stdin {
                Some(read_secret(io)?)
            } else {
                None
            };
            let add = AddUpstream {
                name,
                preset: Some(preset),
                issuer: upstream_issuer,
                client_id,
                client_secret,
                scopes,
                display_name,
                provision: Some(provision),
                default_roles,
                role_claim,
                role_map: AddUpstream::role_map_of(&role_map)?,
                trust_mfa,
                managed_by: None,
            };
            let view = upstream::add_upstream(app, kek, &actor, &add).await?;
            io.print(&view, || text(&view, &issuer))
        }
        UpstreamCommand::List => {
            let list = upstream::list_upstreams(store).await?;
            io.print(&list, || {
                list.iter()
                    .map(|u| {
                        format!(
                            "{}  {}  {}  provision={}",
                            u.name, u.preset, u.issuer, u.provision
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        UpstreamCommand::Show { name } => {
            let view = upstream::show_upstream(store, &name).await?;
            io.print(&view, || text(&view, &issuer))
        }
        UpstreamCommand::Delete { name } => {
            upstream::delete_upstream(app, &actor, &name).await?;
            io.done(format!("upstream {name} deleted"))
        }
        UpstreamCommand::Link {
            name,
            user,
            subject,
        } => {
            let linked = upstream::link_identity(app, &actor, &user, &name, &subject).await?;
            io.print(&linked, || {
                format!("{user} signs in as {subject:?} at {name}")
            })
        }
        UpstreamCommand::Unlink {
            name,
            user,
            subject,
        } => {
            upstream::unlink_identity(app, &actor, &user, &name, &subject).await?;
            io.done(format!("{user}'s identity {subject:?} at {name} unlinked"))
        }
    }
}
