//! `keygate credential …`

use anyhow::bail;
use keygate_core::model::Credential;
use keygate_store::Manager;
use serde_json::json;

use super::read_stdin_line;
use crate::cli::CredentialCommand;
use crate::output;

/// Runs a credential subcommand.
pub async fn run(manager: &Manager, command: CredentialCommand, json: bool) -> anyhow::Result<()> {
    match command {
        CredentialCommand::Generate {
            admin,
            description,
            roles,
        } => {
            let description = description.unwrap_or_default();
            let (credential, secret) = manager
                .generate_credential(&admin, &description, &roles)
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
            let rows: Vec<Vec<String>> = credentials
                .iter()
                .map(|c| {
                    vec![
                        c.identifier.clone(),
                        c.admin.clone(),
                        role_names(c),
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
                    "ROLES",
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
        } => {
            let roles = if no_roles {
                Some(Vec::new())
            } else if roles.is_empty() {
                None
            } else {
                Some(roles)
            };
            if description.is_none() && roles.is_none() {
                bail!("nothing to change: pass --description, --role or --no-roles");
            }
            let credential = manager
                .edit_credential(&identifier, description.as_deref(), roles.as_deref())
                .await?;
            if json {
                return output::json(&credential);
            }
            println!("Updated credential {}.", credential.identifier);
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
    println!("Identifier:  {}", c.identifier);
    println!("Admin:       {}", c.admin);
    println!("Description: {}", c.description);
    println!("Roles:       {}", role_names(c));
    println!("Last access: {}", output::maybe_time(c.last_access));
    println!("Created:     {}", output::time(c.created_at));
}
