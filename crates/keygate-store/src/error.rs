//! The one error type of management operations. Each variant maps to one
//! answer: the CLI prints it after `error:`, HTTP maps it to a status.

/// Why a management operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input broke a rule (HTTP 400 / 422).
    #[error("{0}")]
    Invalid(String),
    /// A named admin, role or credential does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A unique name or identifier is taken (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be opened or reached (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else from the database (HTTP 500; cause logged, not shown).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// Result of a management operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<keygate_core::validate::Invalid> for Error {
    fn from(e: keygate_core::validate::Invalid) -> Self {
        Error::Invalid(e.0)
    }
}

impl Error {
    /// Maps a database error, naming `conflict` for unique violations.
    pub(crate) fn from_db(e: sqlx::Error, conflict: impl FnOnce() -> String) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(conflict()),
            _ => Error::from(e),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut => Error::Unavailable(
                "database unavailable: no connection within the timeout (is the server up and reachable?)"
                    .into(),
            ),
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Error::Unavailable(format!("database unavailable: {e}"))
            }
            sqlx::Error::Database(db) if is_connection_lost(db.as_ref()) => {
                Error::Unavailable(format!("database unavailable: {}", db.message()))
            }
            sqlx::Error::Database(db) if db.code().as_deref() == Some("25006") => {
                Error::Unavailable("the database is read-only (a PostgreSQL standby?)".into())
            }
            sqlx::Error::Database(db) if is_read_only(db.as_ref()) => Error::Unavailable(
                "the database is read-only: check the file's permissions and the URL's mode".into(),
            ),
            _ => Error::Database(e),
        }
    }
}

fn is_read_only(db: &dyn sqlx::error::DatabaseError) -> bool {
    // SQLITE_READONLY (8) and its extended codes.
    let code = db.code().unwrap_or_default();
    code == "8" || code.parse::<i32>().is_ok_and(|c| c & 0xff == 8)
}

/// PostgreSQL's connection exceptions (class 08) and the server ending or
/// refusing sessions (57P01 admin shutdown, e.g. `pg_terminate_backend`;
/// 57P02 crash shutdown; 57P03 cannot connect now): the database is away,
/// not the request wrong.
fn is_connection_lost(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code().unwrap_or_default();
    code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
}
