//! Admin UI sessions: the SQL both backends share, written once in
//! [`crate::sessions_sql`] and stamped out here for PostgreSQL's types.

crate::sessions_sql::sessions_sql!(super::PostgresStore);
