//! `keygate export`, `import` and `migrate`: the whole database as one
//! portable JSON file (see `keygate_store::backup`), loaded only into an
//! empty database, and a verified copy from one database into another.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};
use keygate_store::{now_secs, Backup, BackupCounts, Manager};

use crate::output;

/// Writes the whole database as JSON to stdout.
pub async fn export(manager: &Manager) -> anyhow::Result<()> {
    let backup = manager.export_backup().await?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(backup.to_json().as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the export to standard output")
}

/// Loads an export into this (empty) database.
pub async fn import(manager: &Manager, file: &Path, json: bool) -> anyhow::Result<()> {
    let text = read_file(file)?;
    let backup = Backup::from_json(&text)?;
    let counts = manager.import_backup(backup).await?;
    if json {
        return output::json(&counts);
    }
    println!("Imported {counts}.");
    Ok(())
}

/// The export's text from `file`, or from standard input for `-`.
fn read_file(file: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .context("cannot read the export from standard input")?;
    } else {
        text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    Ok(text)
}

/// Copies this database (at `from`) into the empty one at `to`, then checks
/// that the copy exports the same data.
pub async fn migrate(manager: &Manager, from: &str, to: &str, json: bool) -> anyhow::Result<()> {
    let to = to.trim();
    if same_database(from, to) {
        bail!(
            "--to names the database keygate is using ({}): give another, empty database",
            redact(to)
        );
    }
    let target = keygate_store::open(to)
        .await
        .with_context(|| format!("cannot open the target database {}", redact(to)))?;
    let target = Manager::new(target, manager.catalog()).acting_as(manager.actor().clone());
    let present = target.export_backup().await?.counts();
    if present != BackupCounts::default() {
        bail!(
            "the target database {} is not empty (it holds {present}): migrate only into a new, \
             empty database",
            redact(to)
        );
    }
    let backup = manager.export_backup().await?;
    let counts = target
        .import_backup(backup.clone())
        .await
        .context("cannot copy into the target database")?;
    verify(backup, &target).await?;
    if json {
        return output::json(&Migrated {
            counts,
            verified: true,
        });
    }
    println!("Copied {counts} to {}; verified.", redact(to));
    println!("Next: point keygate at it (--database-url, KEYGATE_DATABASE_URL or database_url in the config) and restart it.");
    Ok(())
}

/// `migrate --json`: what was copied, and that the copy was verified.
#[derive(serde::Serialize)]
struct Migrated {
    #[serde(flatten)]
    counts: BackupCounts,
    verified: bool,
}

/// Re-exports the target and compares it with what was copied (old
/// secrets that stopped meanwhile aside).
async fn verify(mut expected: Backup, target: &Manager) -> anyhow::Result<()> {
    let mut copied = target.export_backup().await?;
    // The copy's trail ends with the event recording the import itself.
    copied.drop_audit_after(expected.audit.len());
    let now = now_secs();
    expected.drop_ended_old_secrets(now);
    copied.drop_ended_old_secrets(now);
    if let Some(difference) = expected.difference(&copied) {
        bail!(
            "verification failed: {difference} in the target database after the copy; \
             do not use it (empty it and run migrate again)"
        );
    }
    Ok(())
}

/// Whether two database URLs name the same database: the same SQLite file
/// (however the path is spelled) or the same PostgreSQL host, port and
/// database (whoever connects).
fn same_database(a: &str, b: &str) -> bool {
    match (sqlite_path(a), sqlite_path(b)) {
        (Some(a), Some(b)) => file_identity(&a) == file_identity(&b),
        (None, None) => postgres_target(a) == postgres_target(b),
        _ => false,
    }
}

/// The file of a `sqlite:` URL, without its options.
fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.trim().strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Some(rest.split('?').next().unwrap_or(rest).to_string())
}

/// The file's canonical path when it exists, else its absolute path
/// without `.` components.
fn file_identity(path: &str) -> PathBuf {
    let path = Path::new(path);
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return canonical;
    }
    let absolute = std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path));
    absolute
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// `host:port/database` of a PostgreSQL URL (the port defaulted, the
/// credentials dropped), with any `host`, `port` or `dbname` options.
fn postgres_target(url: &str) -> String {
    let url = url.trim();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:5432")
    };
    let mut options: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            ["host=", "port=", "dbname="]
                .iter()
                .any(|k| pair.starts_with(k))
        })
        .collect();
    options.sort_unstable();
    format!(
        "{authority}/{}?{}",
        database.trim_end_matches('/'),
        options.join("&")
    )
}

/// The URL with any password replaced, fit to print.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') && !host.contains('@') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_database_sees_through_spelling() {
        let same = [
            ("sqlite://keygate.db", "sqlite:keygate.db"),
            ("sqlite://./keygate.db", "sqlite://keygate.db?mode=rwc"),
            ("postgres://a@h/db", "postgresql://b:pw@h:5432/db"),
            (
                "postgres://h:6000/db?sslmode=disable",
                "postgres://h:6000/db",
            ),
        ];
        for (a, b) in same {
            assert!(same_database(a, b), "{a} {b}");
        }
        let different = [
            ("sqlite://a.db", "sqlite://b.db"),
            ("sqlite://keygate.db", "postgres://h/keygate"),
            ("postgres://h/db", "postgres://h/other"),
            ("postgres://h:6000/db", "postgres://h/db"),
            ("postgres:///db?host=/run/a", "postgres:///db?host=/run/b"),
        ];
        for (a, b) in different {
            assert!(!same_database(a, b), "{a} {b}");
        }
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://keygate.db"), "sqlite://keygate.db");
    }
}
