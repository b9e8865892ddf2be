//! One module per command group; `run` wires configuration and storage.

mod actions;
mod admin;
mod backup;
mod completions;
mod credential;
mod role;
mod serve;

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{bail, Context};
use keygate_core::Catalog;
use keygate_store::Manager;

use crate::cli::{Cli, Command};
use crate::config;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // No configuration needed (packaging generates these on a build host).
    match &cli.command {
        Command::Completions { shell } => return completions::completions(*shell),
        Command::Man => return completions::man(),
        _ => {}
    }
    let settings = config::load(cli.config.as_deref(), cli.database_url.clone())?;
    let catalog = Arc::new(Catalog::with_custom(&settings.custom_actions)?);
    if let Command::Actions { category } = &cli.command {
        return actions::run(&catalog, category.as_deref(), cli.json);
    }
    let store = keygate_store::open(&settings.database_url).await?;
    let manager = Manager::new(store, catalog);
    match cli.command {
        Command::Serve => {
            let origin = serve::Origin {
                file: cli.config,
                database_url: cli.database_url,
            };
            serve::run(settings, manager, origin).await
        }
        Command::Admin(cmd) => admin::run(&manager, cmd, cli.json).await,
        Command::Role(cmd) => role::run(&manager, cmd, cli.json).await,
        Command::Credential(cmd) => credential::run(&manager, cmd, cli.json).await,
        Command::Export => backup::export(&manager).await,
        Command::Import { file } => backup::import(&manager, &file, cli.json).await,
        Command::Migrate { to } => {
            backup::migrate(&manager, &settings.database_url, &to, cli.json).await
        }
        Command::Actions { .. } | Command::Completions { .. } | Command::Man => {
            unreachable!("handled before opening the database")
        }
    }
}

/// The first line of standard input, without its line ending.
fn read_stdin_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let value = line.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(value)
}

/// A new password from stdin (`--password-stdin`) or an interactive prompt.
fn read_new_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        return read_stdin_line("password");
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: pass it with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat password: ")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}
