//! The audit trail and usage counters, written once for both backends like
//! the other SQL ([`crate::rows_sql`]): [`audit_sql!`] stamps it out into
//! the backend's `audit` module. Appends and usage batches take the
//! writers' lock (`tx::begin_quiet`) without bumping the revision: neither
//! changes what a snapshot holds, and the lock keeps the hash chain linear
//! however many processes write.

/// Defines the audit and usage statements for one sqlx database type:
/// `append`, `list`, `chain`, `head`, `record_usage`, `usage`, `prune_usage`,
/// and for backups `all_on` and `insert_all`.
macro_rules! audit_sql {
    ($db:ty) => {
        use keygate_core::audit::{AuditEvent, NewAuditEvent};
        use keygate_core::model::CredentialId;
        use keygate_core::usage::{UsageBucket, UsageOutcome};
        use sqlx::{Database, Row};

        use super::tx;
        use crate::audit_sql::filter;
        use crate::store::{now_secs, AuditPage, AuditQuery, UsageCount};
        use crate::{Error, Result};

        type Pool = sqlx::Pool<$db>;
        type DbRow = <$db as Database>::Row;
        type Conn = <$db as Database>::Connection;

        /// Every column of an event, in the order [`event`] reads them.
        const EVENT_COLUMNS: &str = "id, at, actor, source, verb, target_kind, target_id, \
                                     target_name, changes, prev_hash, hash";

        fn event(row: &DbRow) -> Result<AuditEvent> {
            Ok(AuditEvent {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                source: row.try_get("source")?,
                verb: row.try_get("verb")?,
                target_kind: row.try_get("target_kind")?,
                target_id: row.try_get("target_id")?,
                target_name: row.try_get("target_name")?,
                changes: row.try_get("changes")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            })
        }

        /// Every event, ascending (for a backup), read on `conn`.
        pub(super) async fn all_on(conn: &mut Conn) -> Result<Vec<AuditEvent>> {
            sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY id"
            ))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(event)
            .collect()
        }

        /// Writes a backup's events as they are (ids, times and hashes
        /// kept, so the chain still verifies) and moves the head to the
        /// last; a database that already has an audit trail is refused.
        pub(super) async fn insert_all(tx: &mut tx::Tx, events: &[AuditEvent]) -> Result<()> {
            let Some(last) = events.last() else {
                return Ok(());
            };
            let head: i64 = sqlx::query_scalar("SELECT last_id FROM audit_head WHERE id = 1")
                .fetch_one(&mut **tx)
                .await?;
            if head != 0 {
                return Err(Error::Conflict(
                    "the database already has an audit trail: import a backup that holds one \
                     only into a new database"
                        .into(),
                ));
            }
            for event in events {
                insert(tx, event).await?;
            }
            sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1")
                .bind(last.id)
                .bind(&last.hash)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Inserts one event row as it is.
        async fn insert(tx: &mut tx::Tx, event: &AuditEvent) -> Result<()> {
            sqlx::query(&format!(
                "INSERT INTO audit_events ({EVENT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .bind(event.id)
            .bind(event.at)
            .bind(&event.actor)
            .bind(&event.source)
            .bind(&event.verb)
            .bind(&event.target_kind)
            .bind(&event.target_id)
            .bind(&event.target_name)
            .bind(&event.changes)
            .bind(&event.prev_hash)
            .bind(&event.hash)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Appends `new` after the chain's head, under the writers' lock.
        pub(super) async fn append(pool: &Pool, new: &NewAuditEvent) -> Result<AuditEvent> {
            let mut tx = tx::begin_quiet(pool).await?;
            let head = sqlx::query("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            let (last_id, last_hash): (i64, String) =
                (head.try_get("last_id")?, head.try_get("last_hash")?);
            let event = AuditEvent::chained(new, last_id + 1, now_secs(), &last_hash);
            insert(&mut tx, &event).await?;
            sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1")
                .bind(event.id)
                .bind(&event.hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(event)
        }

        /// The events `query` selects, newest first, and how many there are.
        pub(super) async fn list(pool: &Pool, query: &AuditQuery) -> Result<AuditPage> {
            let mut conn = pool.acquire().await?;
            let (total, rows) = super::lists::count_and_page(
                &mut conn,
                EVENT_COLUMNS,
                "FROM audit_events",
                filter(query),
                "id DESC",
                query.offset,
                query.limit,
            )
            .await?;
            let events = rows.iter().map(event).collect::<Result<Vec<_>>>()?;
            Ok(AuditPage { events, total })
        }

        /// Up to `limit` events after `after_id`, ascending: the chain in pages.
        pub(super) async fn chain(
            pool: &Pool,
            after_id: i64,
            limit: u32,
        ) -> Result<Vec<AuditEvent>> {
            sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2"
            ))
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(event)
            .collect()
        }

        /// The recorded head: last id and hash (`0`, empty before any event).
        pub(super) async fn head(pool: &Pool) -> Result<(i64, String)> {
            let row = sqlx::query("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
                .fetch_one(pool)
                .await?;
            Ok((row.try_get("last_id")?, row.try_get("last_hash")?))
        }

        /// Adds the counts in one transaction; a count for a credential
        /// deleted meanwhile is dropped.
        pub(super) async fn record_usage(pool: &Pool, counts: &[UsageCount]) -> Result<()> {
            if counts.is_empty() {
                return Ok(());
            }
            let mut tx = tx::begin_quiet(pool).await?;
            for count in counts {
                sqlx::query(
                    "INSERT INTO usage_counts (credential_id, hour, action, outcome, count) \
                     SELECT id, $2, $3, $4, $5 FROM credentials WHERE identifier = $1 \
                     ON CONFLICT (credential_id, hour, action, outcome) \
                     DO UPDATE SET count = usage_counts.count + excluded.count",
                )
                .bind(&count.identifier)
                .bind(count.hour)
                .bind(&count.action)
                .bind(count.outcome.as_str())
                .bind(i64::try_from(count.count).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// The credential's buckets from the hour holding `since` on,
        /// ascending by hour, then action and outcome.
        pub(super) async fn usage(
            pool: &Pool,
            credential: CredentialId,
            since: i64,
        ) -> Result<Vec<UsageBucket>> {
            sqlx::query(
                "SELECT hour, action, outcome, count FROM usage_counts \
                 WHERE credential_id = $1 AND hour >= $2 ORDER BY hour, action, outcome",
            )
            .bind(credential.0)
            .bind(keygate_core::usage::hour_of(since))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome")?;
                let count: i64 = row.try_get("count")?;
                Ok(UsageBucket {
                    hour: row.try_get("hour")?,
                    action: row.try_get("action")?,
                    outcome: UsageOutcome::parse(&outcome).ok_or_else(|| {
                        Error::Unavailable(format!("unknown usage outcome {outcome:?} stored"))
                    })?,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
        }

        /// Deletes the buckets of hours before `before`; how many went.
        pub(super) async fn prune_usage(pool: &Pool, before: i64) -> Result<u64> {
            let done = sqlx::query("DELETE FROM usage_counts WHERE hour < $1")
                .bind(before)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        }
    };
}

pub(crate) use audit_sql;

use crate::list_sql::{Bind, Filter};

/// The conditions selecting the events `query`'s filters name: since
/// (`at >=`), actor (ignoring case), target (its id, or its name ignoring
/// case). Only the given filters are in it, so each can use its index
/// (migration 0010): `$n IS NULL OR …` forms would scan every event.
pub(crate) fn filter(query: &crate::store::AuditQuery) -> Filter {
    let mut filter = Filter::default();
    if let Some(since) = query.since {
        let p = filter.bind(Bind::Int(since));
        filter.and(format!("at >= {p}"));
    }
    if let Some(actor) = &query.actor {
        let p = filter.bind(Bind::Text(actor.clone()));
        filter.and(format!("LOWER(actor) = LOWER({p})"));
    }
    if let Some(target) = &query.target {
        let p = filter.bind(Bind::Text(target.clone()));
        filter.and(format!(
            "(target_id = {p} OR LOWER(target_name) = LOWER({p}))"
        ));
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::filter;
    use crate::list_sql::Bind;
    use crate::store::AuditQuery;

    #[test]
    fn only_given_filters_are_in_the_query_numbered_in_order() {
        let none = filter(&AuditQuery::default());
        assert_eq!((none.clause(), none.binds.len()), (String::new(), 0));
        let target = filter(&AuditQuery {
            target: Some("abc".into()),
            ..AuditQuery::default()
        });
        assert_eq!(
            target.clause(),
            "WHERE (target_id = $1 OR LOWER(target_name) = LOWER($1))"
        );
        let all = filter(&AuditQuery {
            since: Some(5),
            actor: Some("alice".into()),
            target: Some("abc".into()),
            ..AuditQuery::default()
        });
        assert_eq!(
            all.clause(),
            "WHERE at >= $1 AND LOWER(actor) = LOWER($2) \
             AND (target_id = $3 OR LOWER(target_name) = LOWER($3))"
        );
        assert!(matches!(
            all.binds.as_slice(),
            [Bind::Int(5), Bind::Text(actor), Bind::Text(target)] if actor == "alice" && target == "abc"
        ));
    }
}
