//! Admin API tokens in storage: a token acts as its admin until revoked,
//! expired, or the admin is disabled or removed; only its hash is stored;
//! making and revoking one is audited. Each body runs on SQLite and on
//! PostgreSQL.

#[macro_use]
mod common;

use common::TestDb;
use keygate_core::audit::Actor;
use keygate_core::token::TokenFormatError;
use keygate_store::{now_secs, AuditQuery, Error, TokenRefusal};

on_both_backends!(
    a_token_acts_as_its_admin_until_revoked,
    disabled_removed_and_expired_are_refused,
    malformed_tokens_are_refused_without_a_lookup,
);

async fn a_token_acts_as_its_admin_until_revoked(db: TestDb) {
    let m = db.manager().await.acting_as(Actor::cli("ops"));
    m.add_admin("alice", "password1").await.unwrap();
    let (made, token) = m.create_token("alice", "terraform", None).await.unwrap();
    assert_eq!(made.admin, "alice");
    assert_eq!(made.description, "terraform");
    assert!(made.prefix.starts_with("kgat_") && made.prefix.ends_with('…'));
    assert!(token.expose().starts_with(&made.prefix[..9]));

    let checked = m.authenticate_token(token.expose()).await.unwrap().unwrap();
    assert_eq!(checked.id, made.id);
    let listed = m.list_tokens(Some("alice")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some(), "use is recorded");
    assert!(
        !format!("{listed:?}").contains(&token.expose()[9..]),
        "never listed"
    );

    m.revoke_token(made.id).await.unwrap();
    assert_eq!(
        m.authenticate_token(token.expose()).await.unwrap(),
        Err(TokenRefusal::Unknown)
    );
    assert!(matches!(
        m.revoke_token(made.id).await,
        Err(Error::NotFound(_))
    ));

    let query = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    let events = m.audit_events(&query).await.unwrap().events;
    let verbs: Vec<&str> = events.iter().map(|e| e.verb.as_str()).collect();
    assert_eq!(verbs, ["token.revoke", "token.create", "admin.add"]);
    for event in &events {
        assert!(
            !event.changes.contains(&token.expose()[9..]),
            "no token in the trail"
        );
    }
}

async fn disabled_removed_and_expired_are_refused(db: TestDb) {
    let m = db.manager().await;
    m.add_admin("alice", "password1").await.unwrap();
    m.add_admin("bob", "password1").await.unwrap();
    let (_, alice) = m.create_token("alice", "", None).await.unwrap();
    let (_, bob) = m.create_token("bob", "", None).await.unwrap();
    let (soon, expiring) = m
        .create_token("alice", "", Some(now_secs() + 3600))
        .await
        .unwrap();
    assert!(matches!(
        m.create_token("alice", "", Some(now_secs() - 1)).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        m.create_token("nobody", "", None).await,
        Err(Error::NotFound(_))
    ));

    m.set_admin_enabled("alice", false).await.unwrap();
    assert_eq!(
        m.authenticate_token(alice.expose()).await.unwrap(),
        Err(TokenRefusal::AdminDisabled)
    );
    m.set_admin_enabled("alice", true).await.unwrap();
    assert!(m.authenticate_token(alice.expose()).await.unwrap().is_ok());

    m.remove_admin("bob").await.unwrap();
    assert_eq!(
        m.authenticate_token(bob.expose()).await.unwrap(),
        Err(TokenRefusal::Unknown)
    );

    // Expire the token as time passing would.
    let sql = format!(
        "UPDATE admin_tokens SET expires_at = {} WHERE id = {}",
        now_secs() - 1,
        soon.id.0
    );
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(&sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    assert_eq!(
        m.authenticate_token(expiring.expose()).await.unwrap(),
        Err(TokenRefusal::Expired)
    );
}

async fn malformed_tokens_are_refused_without_a_lookup(db: TestDb) {
    let m = db.manager().await;
    m.add_admin("alice", "password1").await.unwrap();
    let (_, token) = m.create_token("alice", "", None).await.unwrap();
    let cut = &token.expose()[..token.expose().len() - 1];
    let cases = [
        ("", TokenFormatError::Prefix),
        ("Bearer x", TokenFormatError::Prefix),
        (cut, TokenFormatError::Shape),
    ];
    for (text, reason) in cases {
        assert_eq!(
            m.authenticate_token(text).await.unwrap(),
            Err(TokenRefusal::Malformed(reason)),
            "{text:?}"
        );
    }
}
