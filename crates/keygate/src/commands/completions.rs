//! `keygate completions SHELL` and `keygate man`, generated from the clap
//! definition so they never drift from the real command line.

use crate::cli::Shell;

/// Prints the completion script for `shell`.
pub fn completions(_shell: Shell) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

/// Prints the man page (roff).
pub fn man() -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
