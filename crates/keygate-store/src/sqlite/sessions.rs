//! Admin UI sessions: the SQL both backends share, written once in
//! [`crate::sessions_sql`] and stamped out here for SQLite's types.

crate::sessions_sql::sessions_sql!(super::SqliteStore);
