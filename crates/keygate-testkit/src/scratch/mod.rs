//! Throwaway PostgreSQL databases for tests (the store's and the end-to-end
//! tests of the binary): each gets a unique name on the test server and is
//! dropped on drop, so also when the test panics. Where no server is
//! reachable the tests skip loudly, never silently.

mod link;

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

pub use link::Link;

/// The test server unless [`URL_ENV`] names another.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// Environment variable overriding [`DEFAULT_URL`].
pub const URL_ENV: &str = "KEYGATE_TEST_POSTGRES_URL";
/// When set (as in CI), an unreachable server fails the tests instead.
pub const REQUIRED_ENV: &str = "KEYGATE_TEST_POSTGRES_REQUIRED";

/// A database created for one test and dropped with this value.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// A fresh database on the test server; `None` after printing
    /// "SKIPPED: PostgreSQL not reachable at …" when there is no server.
    pub async fn create_or_skip() -> Option<Self> {
        let server = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.into());
        let mut conn = match connect(&server).await {
            Ok(conn) => conn,
            Err(e) if std::env::var_os(REQUIRED_ENV).is_some() => {
                panic!("PostgreSQL not reachable at {server} ({REQUIRED_ENV} is set): {e}")
            }
            Err(e) => {
                // Straight to the stream: the test harness swallows eprintln!
                // of passing tests, and a skip must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: PostgreSQL not reachable at {server}: {e}"
                );
                return None;
            }
        };
        let name = unique_name();
        conn.execute(&*format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
        let url = with_database(&server, &name);
        Some(Self { server, name, url })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A relay to this database that the test can cut (see [`Link`]).
    pub async fn link(&self) -> std::io::Result<Link> {
        let options = PgConnectOptions::from_str(&self.url).map_err(std::io::Error::other)?;
        let target = format!("{}:{}", options.get_host(), options.get_port());
        Link::start(target, &self.url).await
    }

    /// Ends every session on this database with `pg_terminate_backend`, as
    /// a failover or an operator would; returns how many were ended.
    pub async fn terminate_connections(&self) -> sqlx::Result<i64> {
        let mut conn = connect(&self.server).await?;
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .fetch_one(&mut conn)
        .await?;
        let _ = conn.close().await;
        Ok(ended)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Drop may run inside or outside a runtime, so use a thread of our own.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = connect(&server).await?;
                conn.execute(&*format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: test database {} was not dropped",
                self.name
            );
        }
    }
}

async fn connect(url: &str) -> sqlx::Result<PgConnection> {
    tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(url))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
}

/// `keygate_test_<pid>_<random>`: unique across concurrent test processes.
fn unique_name() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "keygate_test_{}_{:016x}",
        std::process::id(),
        hasher.finish()
    )
}

/// `url` with its database (path) replaced by `name`, keeping any query.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_replace_the_path() {
        let cases = [
            ("postgres://u@h:5432", "postgres://u@h:5432/db"),
            ("postgres://u@h/postgres", "postgres://u@h/db"),
            (
                "postgres://u:p@h/x?sslmode=disable",
                "postgres://u:p@h/db?sslmode=disable",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(super::with_database(url, "db"), expected);
        }
    }
}
