//! `keygate admin token …`: admin API tokens for the management API.

use keygate_core::model::{ApiToken, TokenId};
use keygate_store::{now_secs, Manager};
use serde_json::json;

use crate::cli::TokenCommand;
use crate::output;
use crate::when::parse_when;

/// Runs a token subcommand.
pub async fn run(manager: &Manager, command: TokenCommand, json: bool) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            user,
            description,
            expires,
        } => {
            let expires_at = expires
                .as_deref()
                .map(|text| parse_when(text, now_secs()))
                .transpose()?;
            let (made, token) = manager
                .create_token(&user, &description, expires_at)
                .await?;
            if json {
                return output::json(&json!({
                    "id": made.id,
                    "admin": made.admin,
                    "token": token.expose(),
                    "expires_at": made.expires_at,
                }));
            }
            println!("Created API token {} for admin {}.", made.id.0, made.admin);
            println!("  Token: {}", token.expose());
            println!(
                "Copy it now: it is never shown again. Send it as `Authorization: Bearer <token>`."
            );
        }
        TokenCommand::List { user } => {
            let tokens = manager.list_tokens(user.as_deref()).await?;
            if json {
                return output::json(&tokens);
            }
            if tokens.is_empty() {
                println!("No API tokens.");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = tokens.iter().map(row).collect();
            output::table(
                &[
                    "ID",
                    "ADMIN",
                    "TOKEN",
                    "DESCRIPTION",
                    "CREATED",
                    "EXPIRES",
                    "LAST USED",
                ],
                &rows,
            );
        }
        TokenCommand::Revoke { id } => {
            let token = manager.revoke_token(TokenId(id)).await?;
            if json {
                return output::json(&json!({"id": token.id, "revoked": true}));
            }
            println!(
                "Revoked API token {} ({}) of admin {}.",
                id, token.prefix, token.admin
            );
        }
    }
    Ok(())
}

fn row(token: &ApiToken) -> Vec<String> {
    vec![
        token.id.0.to_string(),
        token.admin.clone(),
        token.prefix.clone(),
        token.description.clone(),
        output::time(token.created_at),
        output::maybe_time(token.expires_at),
        output::maybe_time(token.last_used_at),
    ]
}
