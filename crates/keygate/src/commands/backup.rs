//! `keygate export`, `import` and `migrate`.

use std::path::Path;

use keygate_store::Manager;

/// Writes the whole database as JSON to stdout.
pub async fn export(_manager: &Manager) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

/// Loads an export into this (empty) database.
pub async fn import(_manager: &Manager, _file: &Path, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

/// Copies this database into the empty one at `to`.
pub async fn migrate(_manager: &Manager, _to: &str, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
