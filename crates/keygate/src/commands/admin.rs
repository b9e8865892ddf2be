//! `keygate admin …`

use keygate_store::Manager;
use serde_json::json;

use super::read_new_password;
use crate::cli::AdminCommand;
use crate::output;

/// Runs an admin subcommand.
pub async fn run(manager: &Manager, command: AdminCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AdminCommand::Add {
            user,
            password_stdin,
        } => {
            let password = read_new_password(password_stdin)?;
            let admin = manager.add_admin(&user, &password).await?;
            if json {
                return output::json(&admin);
            }
            println!("Added admin {}.", admin.username);
        }
        AdminCommand::List => {
            let admins = manager.list_admins().await?;
            if json {
                return output::json(&admins);
            }
            let rows: Vec<Vec<String>> = admins
                .iter()
                .map(|a| {
                    let status = if a.enabled { "enabled" } else { "disabled" };
                    vec![
                        a.username.clone(),
                        status.into(),
                        output::time(a.created_at),
                    ]
                })
                .collect();
            output::table(&["USERNAME", "STATUS", "CREATED"], &rows);
        }
        AdminCommand::Passwd {
            user,
            password_stdin,
        } => {
            manager.admin(&user).await?;
            let password = read_new_password(password_stdin)?;
            manager.change_password(&user, &password).await?;
            done(json, &user, "password changed", "Changed the password of")?;
        }
        AdminCommand::Disable { user } => {
            let admin = manager.set_admin_enabled(&user, false).await?;
            done(json, &admin.username, "disabled", "Disabled admin")?;
        }
        AdminCommand::Enable { user } => {
            let admin = manager.set_admin_enabled(&user, true).await?;
            done(json, &admin.username, "enabled", "Enabled admin")?;
        }
        AdminCommand::Token(command) => return super::token::run(manager, command, json).await,
        AdminCommand::Remove { user } => {
            let admin = manager.remove_admin(&user).await?;
            done(json, &admin.username, "removed", "Removed admin")?;
        }
    }
    Ok(())
}

fn done(json: bool, username: &str, status: &str, text: &str) -> anyhow::Result<()> {
    if json {
        return output::json(&json!({ "username": username, "status": status }));
    }
    println!("{text} {username}.");
    Ok(())
}
