//! Admin writes, the same SQL on both backends ([`crate::writes_sql`]);
//! the reads are in [`super::rows`].

crate::writes_sql::admin_writes!(sqlx::Postgres);
