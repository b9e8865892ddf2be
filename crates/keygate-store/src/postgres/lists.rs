//! The admin lists' pages and counts: the SQL both backends share, written
//! once in [`crate::list_sql`] and stamped out here for PostgreSQL's types.
//! A repeatable-read transaction reads one snapshot, so a page and its
//! count agree.

crate::list_sql::list_sql!(
    sqlx::Postgres,
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
);
