//! The change log's reads and pruning: the SQL both backends share, written
//! once in [`crate::changes_sql`] and stamped out here for SQLite's types.

crate::changes_sql::changes_sql!(sqlx::Sqlite);
