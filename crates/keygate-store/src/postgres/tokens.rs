//! Admin API tokens: the SQL both backends share, written once in
//! [`crate::tokens_sql`] and stamped out here for PostgreSQL's types.

crate::tokens_sql::tokens_sql!(sqlx::Postgres);
