//! One module per command group; `run` wires configuration and storage.

mod actions;
mod admin;
mod audit;
mod backup;
mod completions;
mod credential;
mod role;
mod serve;
mod token;
mod usage;

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{bail, Context};
use keygate_core::audit::Actor;
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
    let manager = Manager::new(store, catalog).acting_as(Actor::cli(&unix_user()));
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
        Command::Audit(args) => audit::run(&manager, args, cli.json).await,
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

/// The unix user running the CLI, named in the audit trail as `cli:USER`
/// (the effective user's login name, its uid when it has none).
fn unix_user() -> String {
    // SAFETY: geteuid cannot fail; getpwuid_r writes only into the buffers
    // handed to it and `result` points into `entry` or is null.
    unsafe {
        let uid = libc::geteuid();
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut buffer = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let status = libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        );
        if status == 0 && !result.is_null() && !entry.pw_name.is_null() {
            if let Ok(name) = std::ffi::CStr::from_ptr(entry.pw_name).to_str() {
                return name.to_string();
            }
        }
        format!("uid{uid}")
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
