//! Reading rows into domain records: the SQL both backends share, written
//! once in [`crate::rows_sql`] and stamped out here for PostgreSQL's types.

crate::rows_sql::rows_sql!(sqlx::Postgres);
