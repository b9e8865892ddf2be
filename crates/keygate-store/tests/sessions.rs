//! Admin UI sessions in storage: a session started through one store is
//! live through another (another instance), ends when idle, at its
//! absolute lifetime, at logout, and when its admin is disabled, removed or
//! given a new password; expired ones are pruned; one-time messages are
//! taken once; the database never holds the token, the CSRF token or a new
//! secret in the clear. Each body runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use common::TestDb;
use keygate_store::{Manager, NewSecret, SecretKind, SECRET_TTL, SESSION_IDLE, SESSION_LIFETIME};

on_both_backends!(
    a_session_is_shared_and_ends_at_logout,
    sessions_expire_when_idle_and_absolutely,
    admin_changes_end_its_sessions,
    messages_are_taken_once,
    the_database_holds_no_token_or_secret,
);

/// Runs `sql` on the test database directly, as time passing or someone
/// reading the database would.
async fn exec(db: &TestDb, sql: &str) {
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

/// Every stored session row's bytes, concatenated.
async fn rows_bytes(db: &TestDb) -> Vec<u8> {
    let sql = "SELECT token_sha256, flash, secret_sealed FROM admin_sessions";
    let mut out = Vec::new();
    macro_rules! collect {
        ($pool:expr) => {{
            use sqlx::Row;
            for row in sqlx::query(sql).fetch_all(&$pool).await.unwrap() {
                let hash: Vec<u8> = row.get(0);
                let flash: Option<String> = row.get(1);
                let sealed: Option<Vec<u8>> = row.get(2);
                out.extend(hash);
                out.extend(flash.unwrap_or_default().into_bytes());
                out.extend(sealed.unwrap_or_default());
            }
        }};
    }
    if db.url.starts_with("sqlite:") {
        collect!(sqlx::SqlitePool::connect(&db.url).await.unwrap());
    } else {
        collect!(sqlx::PgPool::connect(&db.url).await.unwrap());
    }
    out
}

async fn count(db: &TestDb) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM admin_sessions").await
}

async fn scalar(db: &TestDb, sql: &str) -> i64 {
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

async fn with_alice(db: &TestDb) -> (Manager, keygate_core::model::AdminId) {
    let m = db.manager().await;
    let alice = m.add_admin("alice", "password1").await.unwrap();
    (m, alice.id)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn a_session_is_shared_and_ends_at_logout(db: TestDb) {
    let (one, alice) = with_alice(&db).await;
    let other = db.manager().await;
    let token = one.start_session(alice).await.unwrap();
    let live = other.live_session(&token).await.unwrap().expect("live");
    assert_eq!(live.admin_id, alice);
    assert_eq!(live.username, "alice");
    assert_eq!(
        live.csrf,
        one.live_session(&token).await.unwrap().unwrap().csrf
    );
    assert!(other.live_session("not-a-session").await.unwrap().is_none());

    let second = one.start_session(alice).await.unwrap();
    assert_ne!(token, second);
    let csrf_second = other.live_session(&second).await.unwrap().unwrap().csrf;
    assert_ne!(live.csrf, csrf_second, "a CSRF token per session");

    other.end_session(&token).await.unwrap();
    assert!(
        one.live_session(&token).await.unwrap().is_none(),
        "logged out"
    );
    assert!(
        one.live_session(&second).await.unwrap().is_some(),
        "others stay"
    );
}

async fn sessions_expire_when_idle_and_absolutely(db: TestDb) {
    let (m, alice) = with_alice(&db).await;
    let idle = SESSION_IDLE.as_secs() as i64;
    let lifetime = SESSION_LIFETIME.as_secs() as i64;

    let token = m.start_session(alice).await.unwrap();
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET last_seen_at = last_seen_at - {}",
            idle - 30
        ),
    )
    .await;
    assert!(
        m.live_session(&token).await.unwrap().is_some(),
        "not idle long enough"
    );
    // That request was written down (more than a minute after the last).
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET last_seen_at = last_seen_at - {}",
            idle - 30
        ),
    )
    .await;
    assert!(
        m.live_session(&token).await.unwrap().is_some(),
        "use keeps it alive"
    );
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET last_seen_at = last_seen_at - {}",
            idle + 1
        ),
    )
    .await;
    assert!(
        m.live_session(&token).await.unwrap().is_none(),
        "idle too long"
    );
    assert_eq!(
        count(&db).await,
        0,
        "an expired session is deleted when met"
    );

    let busy = m.start_session(alice).await.unwrap();
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET created_at = created_at - {}",
            lifetime - 60
        ),
    )
    .await;
    assert!(m.live_session(&busy).await.unwrap().is_some());
    exec(
        &db,
        &format!("UPDATE admin_sessions SET created_at = created_at - {}", 61),
    )
    .await;
    assert!(
        m.live_session(&busy).await.unwrap().is_none(),
        "absolute lifetime"
    );

    // Pruning deletes expired sessions nobody comes back to.
    let stale = m.start_session(alice).await.unwrap();
    let old = m.start_session(alice).await.unwrap();
    let fresh = m.start_session(alice).await.unwrap();
    let (h_stale, h_old) = (mark(&m, &stale, "stale").await, mark(&m, &old, "old").await);
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET last_seen_at = last_seen_at - {} WHERE {h_stale}",
            idle + 1
        ),
    )
    .await;
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET created_at = created_at - {} WHERE {h_old}",
            lifetime + 1
        ),
    )
    .await;
    assert_eq!(m.prune_sessions().await.unwrap(), 2);
    assert_eq!(count(&db).await, 1);
    assert!(m.live_session(&fresh).await.unwrap().is_some());
}

/// A SQL condition selecting the session of `token`, marked through its
/// flash as `label` (the test cannot compute the stored hash in SQL).
async fn mark(m: &Manager, token: &str, label: &str) -> String {
    m.set_session_flash(token, label).await.unwrap();
    format!("flash = '{label}'")
}

async fn admin_changes_end_its_sessions(db: TestDb) {
    let (m, alice) = with_alice(&db).await;
    let bob = m.add_admin("bob", "password1").await.unwrap().id;
    let bobs = m.start_session(bob).await.unwrap();

    let a = m.start_session(alice).await.unwrap();
    let b = m.start_session(alice).await.unwrap();
    m.change_password("alice", "password2").await.unwrap();
    assert!(m.live_session(&a).await.unwrap().is_none());
    assert!(m.live_session(&b).await.unwrap().is_none());

    let c = m.start_session(alice).await.unwrap();
    m.set_admin_enabled("alice", false).await.unwrap();
    m.set_admin_enabled("alice", true).await.unwrap();
    assert!(m.live_session(&c).await.unwrap().is_none(), "stays ended");

    let d = m.start_session(alice).await.unwrap();
    m.remove_admin("alice").await.unwrap();
    m.add_admin("alice", "password1").await.unwrap();
    assert!(
        m.live_session(&d).await.unwrap().is_none(),
        "same name, new admin"
    );

    assert!(
        m.live_session(&bobs).await.unwrap().is_some(),
        "bob untouched"
    );
    assert_eq!(count(&db).await, 1);
}

async fn messages_are_taken_once(db: TestDb) {
    let (m, alice) = with_alice(&db).await;
    let other = db.manager().await;
    let token = m.start_session(alice).await.unwrap();
    m.set_session_flash(&token, "Role saved.").await.unwrap();
    assert_eq!(
        other.take_session_flash(&token).await.unwrap().as_deref(),
        Some("Role saved.")
    );
    assert_eq!(m.take_session_flash(&token).await.unwrap(), None);

    let new = NewSecret {
        identifier: "ID123".into(),
        secret: "S3cretValue".into(),
        kind: SecretKind::Rotated { old_until: Some(5) },
    };
    m.put_session_secret(&token, &new).await.unwrap();
    let someone_else = m.start_session(alice).await.unwrap();
    assert!(other
        .take_session_secret(&someone_else)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        other.take_session_secret(&token).await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        m.take_session_secret(&token).await.unwrap(),
        None,
        "shown once"
    );

    // Ten minutes unshown: gone, by pruning or when met.
    let ttl = SECRET_TTL.as_secs() as i64;
    m.put_session_secret(&token, &new).await.unwrap();
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET secret_at = secret_at - {}",
            ttl + 1
        ),
    )
    .await;
    assert_eq!(m.take_session_secret(&token).await.unwrap(), None);
    m.put_session_secret(&token, &new).await.unwrap();
    exec(
        &db,
        &format!(
            "UPDATE admin_sessions SET secret_at = secret_at - {}",
            ttl + 1
        ),
    )
    .await;
    m.prune_sessions().await.unwrap();
    let waiting = "SELECT COUNT(*) FROM admin_sessions WHERE secret_sealed IS NOT NULL";
    assert_eq!(scalar(&db, waiting).await, 0, "pruned");
    assert_eq!(count(&db).await, 2, "the sessions stay");
}

async fn the_database_holds_no_token_or_secret(db: TestDb) {
    let (m, alice) = with_alice(&db).await;
    let token = m.start_session(alice).await.unwrap();
    let csrf = m.live_session(&token).await.unwrap().unwrap().csrf;
    let new = NewSecret {
        identifier: "ID123".into(),
        secret: "S3cretValueInTheClear".into(),
        kind: SecretKind::Generated,
    };
    m.put_session_secret(&token, &new).await.unwrap();
    let stored = rows_bytes(&db).await;
    assert!(!stored.is_empty());
    for clear in [
        token.as_str(),
        csrf.as_str(),
        "S3cretValueInTheClear",
        "ID123",
    ] {
        assert!(
            !contains(&stored, clear.as_bytes()),
            "{clear} is not stored"
        );
    }
    // Whoever reads the database cannot take the session's place: the
    // stored hash used as a token names no session.
    let hash: String = stored[..32].iter().map(|b| format!("{b:02x}")).collect();
    assert!(m.live_session(&hash).await.unwrap().is_none());
    assert!(m.take_session_secret(&hash).await.unwrap().is_none());
    assert_eq!(m.take_session_secret(&token).await.unwrap(), Some(new));
}
