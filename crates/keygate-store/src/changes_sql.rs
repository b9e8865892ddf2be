//! The change log's reads and pruning (migration 0009), written once for
//! both backends like [`crate::rows_sql`] and stamped out per backend by
//! [`changes_sql!`] into its `changes` module.
//!
//! Triggers log every admin, role and credential a write touches, at the
//! revision the write bumped to; a delta reads the keys logged after the
//! snapshot's revision and then only those rows, as they are now. A key
//! whose row is gone was deleted.

use keygate_core::model::{AdminId, RoleId};
use keygate_core::SnapshotDelta;

use crate::rows_sql::ChangeKind;

/// How many distinct keys to read at most for a delta of at most `limit`:
/// one more, so that "too many" shows without counting them all.
pub(crate) fn key_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
}

/// Whether a delta from `since` can be read when the log is complete after
/// `changes_from` and the store is at `revision`: `Some(true)` when there is
/// nothing to read, `None` when the log cannot answer (pruned past
/// `since`, or `since` is from the future, e.g. another database).
pub(crate) fn readable(since: i64, changes_from: i64, revision: i64) -> Option<bool> {
    if since < changes_from || since > revision {
        None
    } else {
        Some(since == revision)
    }
}

/// Puts each logged key whose row was not read (it no longer exists) into
/// the delta's `removed_*` lists. `None` for a malformed id key (which no
/// trigger writes): the caller then reads everything instead.
pub(crate) fn mark_removed(delta: &mut SnapshotDelta, keys: &[(String, String)]) -> Option<()> {
    use std::collections::HashSet;

    let admins: HashSet<i64> = delta.admins.iter().map(|a| a.id.0).collect();
    let roles: HashSet<i64> = delta.roles.iter().map(|r| r.id.0).collect();
    let credentials: HashSet<&str> = delta
        .credentials
        .iter()
        .map(|c| c.identifier.as_str())
        .collect();
    let mut removed_credentials = Vec::new();
    for (kind, key) in keys {
        match ChangeKind::parse(kind)? {
            ChangeKind::Admin => {
                let id: i64 = key.parse().ok()?;
                if !admins.contains(&id) {
                    delta.removed_admins.push(AdminId(id));
                }
            }
            ChangeKind::Role => {
                let id: i64 = key.parse().ok()?;
                if !roles.contains(&id) {
                    delta.removed_roles.push(RoleId(id));
                }
            }
            ChangeKind::Credential => {
                if !credentials.contains(key.as_str()) {
                    removed_credentials.push(key.clone());
                }
            }
        }
    }
    delta.removed_credentials = removed_credentials;
    Some(())
}

/// Defines, in the invoking backend's `changes` module, for one sqlx
/// database type: `delta` (run on one connection inside the caller's read
/// transaction, so the revision, the log and the rows are one state) and
/// `prune` (a quiet write: pruning changes no snapshot).
macro_rules! changes_sql {
    ($db:ty) => {
        use keygate_core::SnapshotDelta;
        use sqlx::{Database, Row};

        use super::rows::{self, EntryFilter};
        use super::tx;
        use crate::changes_sql::{key_limit, mark_removed, readable};
        use crate::Result;

        type Conn = <$db as Database>::Connection;
        type Pool = sqlx::Pool<$db>;

        /// What changed after revision `since`, if the log reaches back to
        /// it and names at most `limit` admins, roles and credentials.
        pub(super) async fn delta(
            conn: &mut Conn,
            since: i64,
            limit: usize,
        ) -> Result<Option<SnapshotDelta>> {
            let row = sqlx::query("SELECT value, changes_from FROM revision WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?;
            let revision: i64 = row.try_get("value")?;
            let changes_from: i64 = row.try_get("changes_from")?;
            let mut delta = SnapshotDelta {
                since,
                revision,
                ..SnapshotDelta::default()
            };
            match readable(since, changes_from, revision) {
                None => return Ok(None),
                Some(true) => return Ok(Some(delta)),
                Some(false) => {}
            }
            let keys = logged_keys(conn, since, revision, limit).await?;
            if keys.len() > limit {
                return Ok(None);
            }
            let filter = EntryFilter::Changed {
                since,
                until: revision,
            };
            delta.admins = rows::admin_entries(conn, filter).await?;
            delta.roles = rows::role_entries(conn, filter).await?;
            delta.credentials = rows::credential_entries(conn, filter).await?;
            if mark_removed(&mut delta, &keys).is_none() {
                tracing::warn!("malformed change-log key; reading the whole snapshot instead");
                return Ok(None);
            }
            Ok(Some(delta))
        }

        /// The distinct `(kind, key)` pairs logged after `since` up to
        /// `until`: at most `limit + 1` of them.
        async fn logged_keys(
            conn: &mut Conn,
            since: i64,
            until: i64,
            limit: usize,
        ) -> Result<Vec<(String, String)>> {
            sqlx::query(
                "SELECT DISTINCT kind, key FROM snapshot_changes \
                 WHERE revision > $1 AND revision <= $2 LIMIT $3",
            )
            .bind(since)
            .bind(until)
            .bind(key_limit(limit))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("kind")?, row.try_get("key")?)))
            .collect()
        }

        /// Deletes the log up to the last revision logged before `before`
        /// (unix seconds) and raises `changes_from` to it, so the log stays
        /// complete after `changes_from` even where times are not in
        /// revision order (a PostgreSQL write is timed when its
        /// transaction began, before it queued for the writers' lock).
        pub(super) async fn prune(pool: &Pool, before: i64) -> Result<u64> {
            let mut tx = tx::begin_quiet(pool).await?;
            let last: Option<i64> =
                sqlx::query_scalar("SELECT MAX(revision) FROM snapshot_changes WHERE at < $1")
                    .bind(before)
                    .fetch_one(&mut *tx)
                    .await?;
            let Some(last) = last else {
                tx.commit().await?;
                return Ok(0);
            };
            let deleted = sqlx::query("DELETE FROM snapshot_changes WHERE revision <= $1")
                .bind(last)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE revision SET changes_from = $1 WHERE id = 1 AND changes_from < $1")
                .bind(last)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(deleted)
        }
    };
}

pub(crate) use changes_sql;

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_core::snapshot::AdminEntry;

    #[test]
    fn the_log_answers_only_from_where_it_is_complete() {
        assert_eq!(readable(4, 5, 9), None);
        assert_eq!(readable(10, 5, 9), None);
        assert_eq!(readable(9, 5, 9), Some(true));
        assert_eq!(readable(5, 5, 9), Some(false));
    }

    #[test]
    fn the_key_limit_reads_one_more_without_overflowing() {
        assert_eq!(key_limit(0), 1);
        assert_eq!(key_limit(10), 11);
        assert_eq!(key_limit(usize::MAX), i64::MAX);
    }

    #[test]
    fn keys_without_rows_are_removed_and_malformed_ones_refused() {
        let mut delta = SnapshotDelta {
            admins: vec![AdminEntry {
                id: AdminId(1),
                username: "alice".into(),
                enabled: true,
            }],
            ..SnapshotDelta::default()
        };
        let keys = [
            ("admin".to_string(), "1".to_string()),
            ("admin".to_string(), "2".to_string()),
            ("role".to_string(), "3".to_string()),
            ("credential".to_string(), "gone".to_string()),
        ];
        assert_eq!(mark_removed(&mut delta, &keys), Some(()));
        assert_eq!(delta.removed_admins, vec![AdminId(2)]);
        assert_eq!(delta.removed_roles, vec![RoleId(3)]);
        assert_eq!(delta.removed_credentials, vec!["gone".to_string()]);
        let bad = [("role".to_string(), "x".to_string())];
        assert_eq!(mark_removed(&mut SnapshotDelta::default(), &bad), None);
    }
}
