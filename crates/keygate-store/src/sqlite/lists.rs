//! The admin lists' pages and counts: the SQL both backends share, written
//! once in [`crate::list_sql`] and stamped out here for SQLite's types. A
//! deferred transaction reads one WAL snapshot, so a page and its count
//! agree.

crate::list_sql::list_sql!(sqlx::Sqlite, "BEGIN DEFERRED");
