//! The audit trail and usage counters: the SQL both backends share, written
//! once in [`crate::audit_sql`] and stamped out here for SQLite's types.

crate::audit_sql::audit_sql!(sqlx::Sqlite);
