//! `keygate credential …`

use anyhow::{bail, Context};
use keygate_core::model::{ClientId, Credential, Lifecycle};
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_store::{now_secs, CredentialEdit, Manager};
use serde_json::json;

use super::read_stdin_line;
use crate::cli::CredentialCommand;
use crate::{output, when};

/// Runs a credential subcommand.
pub async fn run(manager: &Manager, command: CredentialCommand, json: bool) -> anyhow::Result<()> {
    match command {
        CredentialCommand::Generate {
            admin,
            description,
            roles,
            expires,
            allow_ips,
            rate_limit,
            clients,
        } => {
            let description = description.unwrap_or_default();
            let lifecycle = Lifecycle {
                expires_at: expires.as_deref().map(parse_expiry).transpose()?,
                allow_ips: parse_nets(&allow_ips)?,
                rate_limit: rate_limit.as_deref().map(parse_rate).transpose()?,
                client_ids: parse_client_ids(&clients)?,
                ..Lifecycle::default()
            };
            let (credential, secret) = manager
                .generate_credential(&admin, &description, &roles, lifecycle)
                .await?;
            if json {
                return output::json(&json!({
                    "identifier": credential.identifier,
                    "secret": secret.expose(),
                }));
            }
            println!("Identifier: {}", credential.identifier);
            println!("Secret:     {}", secret.expose());
            eprintln!(
                "Copy the secret now: it is stored only as a hash and will not be shown again."
            );
        }
        CredentialCommand::List { admin } => {
            let credentials = manager.list_credentials(admin.as_deref()).await?;
            if json {
                return output::json(&credentials);
            }
            let now = now_secs();
            let rows: Vec<Vec<String>> = credentials
                .iter()
                .map(|c| {
                    vec![
                        c.identifier.clone(),
                        c.admin.clone(),
                        status(c, now).into(),
                        role_names(c),
                        client_list(&c.lifecycle, ","),
                        output::maybe_time(c.lifecycle.expires_at),
                        output::maybe_time(c.last_access),
                        output::time(c.created_at),
                        c.description.clone(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "IDENTIFIER",
                    "ADMIN",
                    "STATUS",
                    "ROLES",
                    "CLIENTS",
                    "EXPIRES",
                    "LAST ACCESS",
                    "CREATED",
                    "DESCRIPTION",
                ],
                &rows,
            );
        }
        CredentialCommand::Show { identifier } => {
            let credential = manager.credential(&identifier).await?;
            if json {
                return output::json(&credential);
            }
            print_credential(&credential);
        }
        CredentialCommand::Edit {
            identifier,
            description,
            roles,
            no_roles,
            expires,
            no_expiry,
            allow_ips,
            any_ip,
            rate_limit,
            no_rate_limit,
            clients,
            no_client,
        } => {
            let roles = if no_roles {
                Some(Vec::new())
            } else if roles.is_empty() {
                None
            } else {
                Some(roles)
            };
            let expires_at = match (expires, no_expiry) {
                (Some(w), _) => Some(Some(parse_expiry(&w)?)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let allow_ips = if any_ip {
                Some(Vec::new())
            } else if allow_ips.is_empty() {
                None
            } else {
                Some(parse_nets(&allow_ips)?)
            };
            let rate_limit = match (rate_limit, no_rate_limit) {
                (Some(r), _) => Some(Some(parse_rate(&r)?)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let client_ids = if no_client {
                Some(Vec::new())
            } else if clients.is_empty() {
                None
            } else {
                Some(parse_client_ids(&clients)?)
            };
            let edit = CredentialEdit {
                description,
                roles,
                enabled: None,
                expires_at,
                allow_ips,
                rate_limit,
                client_ids,
            };
            if edit.is_empty() {
                bail!(
                    "nothing to change: pass --description, --role, --no-roles, --expires, \
                     --no-expiry, --allow-ip, --any-ip, --rate-limit, --no-rate-limit, \
                     --client or --no-client"
                );
            }
            let credential = manager.edit_credential(&identifier, edit).await?;
            if json {
                return output::json(&credential);
            }
            println!("Updated credential {}.", credential.identifier);
        }
        CredentialCommand::Disable { identifier } => {
            let credential = manager.set_credential_enabled(&identifier, false).await?;
            done(json, &credential, "disabled", "Disabled credential")?;
        }
        CredentialCommand::Enable { identifier } => {
            let credential = manager.set_credential_enabled(&identifier, true).await?;
            done(json, &credential, "enabled", "Enabled credential")?;
        }
        CredentialCommand::Rotate {
            identifier,
            overlap,
        } => {
            let overlap = when::parse_duration("overlap", &overlap)?;
            let (credential, secret, old_until) =
                manager.rotate_credential(&identifier, overlap).await?;
            if json {
                // In the contract's order (json! would sort the keys).
                return output::json(&Rotated {
                    identifier: &credential.identifier,
                    secret: secret.expose(),
                    old_secret_valid_until: old_until,
                });
            }
            println!("Identifier: {}", credential.identifier);
            println!("Secret:     {}", secret.expose());
            match old_until {
                Some(until) => eprintln!(
                    "The old secret keeps working until {}.",
                    output::time(until)
                ),
                None => eprintln!("The old secret no longer works."),
            }
            eprintln!(
                "Copy the secret now: it is stored only as a hash and will not be shown again."
            );
        }
        CredentialCommand::Delete { identifier } => {
            let credential = manager.delete_credential(&identifier).await?;
            if json {
                return output::json(
                    &json!({ "identifier": credential.identifier, "status": "deleted" }),
                );
            }
            println!("Deleted credential {}.", credential.identifier);
        }
        CredentialCommand::Usage { identifier, days } => {
            return super::usage::usage(manager, &identifier, days, json).await;
        }
        CredentialCommand::Tighten {
            identifier,
            days,
            apply,
        } => {
            return super::usage::tighten(manager, &identifier, days, apply, json).await;
        }
        CredentialCommand::Import {
            admin,
            identifier,
            secret_stdin: _,
            description,
        } => {
            let secret = read_stdin_line("secret")?;
            let description = description.unwrap_or_default();
            let credential = manager
                .import_credential(&admin, &identifier, &secret, &description)
                .await?;
            if json {
                return output::json(&credential);
            }
            println!(
                "Imported credential {} with role {}.",
                credential.identifier,
                role_names(&credential)
            );
        }
    }
    Ok(())
}

fn role_names(credential: &Credential) -> String {
    if credential.roles.is_empty() {
        return "-".into();
    }
    credential
        .roles
        .iter()
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_credential(c: &Credential) {
    let lifecycle = &c.lifecycle;
    println!("Identifier:  {}", c.identifier);
    println!("Admin:       {}", c.admin);
    println!("Description: {}", c.description);
    println!("Roles:       {}", role_names(c));
    println!("Status:      {}", status(c, now_secs()));
    println!("Expires:     {}", output::maybe_time(lifecycle.expires_at));
    println!("Allowed IPs: {}", allowed_ips(lifecycle));
    println!(
        "Rate limit:  {}",
        lifecycle
            .rate_limit
            .map_or_else(|| "default".into(), |r| r.to_string())
    );
    println!(
        "Clients:     {}",
        if lifecycle.client_ids.is_empty() {
            "any (not scoped)".into()
        } else {
            client_list(lifecycle, ", ")
        }
    );
    println!(
        "Old secret:  {}",
        c.old_secret_valid_until.map_or_else(
            || "none".into(),
            |until| format!("valid until {}", output::time(until))
        )
    );
    println!("Last access: {}", output::maybe_time(c.last_access));
    println!("Created:     {}", output::time(c.created_at));
}

/// `enabled`, `disabled` or `expired` (a disabled credential says
/// disabled whatever its expiry).
fn status(c: &Credential, now: i64) -> &'static str {
    if !c.lifecycle.enabled {
        "disabled"
    } else if c.lifecycle.expired_at(now) {
        "expired"
    } else {
        "enabled"
    }
}

fn allowed_ips(lifecycle: &Lifecycle) -> String {
    if lifecycle.allow_ips.is_empty() {
        return "any".into();
    }
    lifecycle
        .allow_ips
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The client scope's ids joined by `separator`; `-` when not scoped.
fn client_list(lifecycle: &Lifecycle, separator: &str) -> String {
    if lifecycle.client_ids.is_empty() {
        return "-".into();
    }
    lifecycle
        .client_ids
        .iter()
        .map(|id| id.0.to_string())
        .collect::<Vec<_>>()
        .join(separator)
}

/// `--client` values as client ids; the first that is not an integer is
/// the error (the manager checks that each is positive, and the count).
fn parse_client_ids(values: &[String]) -> anyhow::Result<Vec<ClientId>> {
    values
        .iter()
        .map(|v| {
            v.trim().parse::<i64>().map(ClientId).map_err(|_| {
                anyhow::anyhow!(
                    "--client: invalid client id {:?}: client id must be a positive integer",
                    v.trim()
                )
            })
        })
        .collect()
}

/// `--allow-ip` values as networks; the first bad one is the error.
fn parse_nets(values: &[String]) -> anyhow::Result<Vec<IpNet>> {
    values
        .iter()
        .map(|v| v.parse::<IpNet>().context("--allow-ip"))
        .collect()
}

/// An `--expires` value as unix seconds.
fn parse_expiry(value: &str) -> anyhow::Result<i64> {
    when::parse_when(value, now_secs()).context("--expires")
}

/// A `--rate-limit` value.
fn parse_rate(value: &str) -> anyhow::Result<Rate> {
    value.parse::<Rate>().context("--rate-limit")
}

/// `rotate --json`: the new secret, once, and when the old one stops
/// (unix seconds like every time in `--json` output; `null`: it already has).
#[derive(serde::Serialize)]
struct Rotated<'a> {
    identifier: &'a str,
    secret: &'a str,
    old_secret_valid_until: Option<i64>,
}

/// Prints the outcome of disable/enable.
fn done(json: bool, credential: &Credential, status: &str, text: &str) -> anyhow::Result<()> {
    if json {
        return output::json(&json!({ "identifier": credential.identifier, "status": status }));
    }
    println!("{text} {}.", credential.identifier);
    Ok(())
}
