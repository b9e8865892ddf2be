//! `keygate role …`

use keygate_core::model::Role;
use keygate_core::Catalog;
use keygate_store::{Manager, RoleEdit, RoleInput};
use serde_json::json;

use crate::cli::RoleCommand;
use crate::output;

/// Runs a role subcommand.
pub async fn run(manager: &Manager, command: RoleCommand, json: bool) -> anyhow::Result<()> {
    match command {
        RoleCommand::Create {
            name,
            description,
            actions,
        } => {
            let input = RoleInput {
                name,
                description: description.unwrap_or_default(),
                actions: actions.allow,
                categories: actions.allow_category,
            };
            let role = manager.create_role(input).await?;
            if json {
                return output::json(&role);
            }
            println!(
                "Created role {} with {} allowed actions.",
                role.name,
                role.actions.len()
            );
        }
        RoleCommand::List => {
            let roles = manager.list_roles().await?;
            if json {
                return output::json(&roles);
            }
            let rows: Vec<Vec<String>> = roles
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.actions.len().to_string(),
                        r.description.clone(),
                    ]
                })
                .collect();
            output::table(&["NAME", "ACTIONS", "DESCRIPTION"], &rows);
        }
        RoleCommand::Show { name } => {
            let role = manager.role(&name).await?;
            if json {
                return output::json(&role);
            }
            print_role(&role, &manager.catalog());
        }
        RoleCommand::Edit {
            name,
            new_name,
            description,
            actions,
            revoke,
            revoke_category,
        } => {
            let edit = RoleEdit {
                name: new_name,
                description,
                set_actions: None,
                allow: actions.allow,
                revoke,
                allow_categories: actions.allow_category,
                revoke_categories: revoke_category,
            };
            let role = manager.edit_role(&name, edit).await?;
            if json {
                return output::json(&role);
            }
            println!(
                "Updated role {} ({} allowed actions).",
                role.name,
                role.actions.len()
            );
        }
        RoleCommand::Delete { name } => {
            let role = manager.delete_role(&name).await?;
            if json {
                return output::json(&json!({ "name": role.name, "status": "deleted" }));
            }
            println!("Deleted role {}.", role.name);
        }
    }
    Ok(())
}

fn print_role(role: &Role, catalog: &Catalog) {
    println!("Name:        {}", role.name);
    println!("Description: {}", role.description);
    println!("Created:     {}", output::time(role.created_at));
    println!("Allowed actions ({}):", role.actions.len());
    for category in catalog.categories() {
        let allowed: Vec<&str> = catalog
            .actions_in(category)
            .map(|(_, a)| a.name.as_str())
            .filter(|name| role.actions.iter().any(|a| a == name))
            .collect();
        if !allowed.is_empty() {
            println!("  {category}: {}", allowed.join(", "));
        }
    }
    let unknown: Vec<&str> = role
        .actions
        .iter()
        .map(String::as_str)
        .filter(|a| catalog.resolve(a).is_none())
        .collect();
    if !unknown.is_empty() {
        println!(
            "  (no longer in the catalog, ignored): {}",
            unknown.join(", ")
        );
    }
}
