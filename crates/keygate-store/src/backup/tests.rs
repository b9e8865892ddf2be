use keygate_core::secret::hex;
use keygate_core::{password, Catalog, SecretHashes};

use super::check::normalize;
use super::*;

fn sample() -> Backup {
    let hashes = SecretHashes::of("secret");
    let old = SecretHashes::of("old secret");
    let mut backup = Backup::new(1_700_000_000);
    backup.admins.push(BackupAdmin {
        username: "alice".into(),
        enabled: true,
        password_hash: password::hash_password("password1"),
        created_at: 1,
    });
    backup.roles.push(BackupRole {
        name: "Support".into(),
        description: "Tickets".into(),
        actions: vec!["OpenTicket".into(), "GetClients".into()],
        created_at: 2,
    });
    backup.credentials.push(BackupCredential {
        identifier: "ABC".into(),
        admin: "alice".into(),
        description: String::new(),
        roles: vec!["support".into()],
        secret_sha256: hex(hashes.direct()),
        secret_md5_sha256: hex(hashes.md5()),
        old_secret: Some(BackupOldSecret {
            secret_sha256: hex(old.direct()),
            secret_md5_sha256: hex(old.md5()),
            until: i64::MAX,
        }),
        enabled: false,
        expires_at: Some(5),
        allow_ips: vec!["10.1.2.3/8".into(), "10.0.0.0/8".into()],
        rate_limit: Some("600/m".into()),
        client_ids: vec![40, 12, 40],
        created_at: 3,
        last_access: None,
    });
    backup
}

fn message(result: Result<Backup>) -> String {
    match result {
        Err(Error::Invalid(message)) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn check(backup: Backup) -> Result<Backup> {
    normalize(backup, &Catalog::builtin(), 100)
}

#[test]
fn json_round_trips_byte_for_byte() {
    let backup = check(sample()).unwrap();
    let text = backup.to_json();
    assert!(text.ends_with("}\n"));
    assert!(text.contains("\"format\": \"keygate-export\""));
    let parsed = Backup::from_json(&text).unwrap();
    assert_eq!(parsed, backup);
    assert_eq!(parsed.to_json(), text);
}

#[test]
fn normalize_makes_values_canonical() {
    let backup = check(sample()).unwrap();
    let credential = &backup.credentials[0];
    assert_eq!(credential.roles, ["Support"]);
    assert_eq!(credential.allow_ips, ["10.0.0.0/8"]);
    assert_eq!(credential.client_ids, [12, 40]);
    assert_eq!(backup.roles[0].actions, ["GetClients", "OpenTicket"]);
    assert!(credential.old_secret.is_some());
}

#[test]
fn an_ended_old_secret_is_dropped() {
    let mut backup = sample();
    backup.credentials[0].old_secret.as_mut().unwrap().until = 100;
    assert_eq!(check(backup).unwrap().credentials[0].old_secret, None);
}

#[test]
fn broken_files_say_what_is_wrong() {
    let text = check(sample()).unwrap().to_json();
    let cases: [(&str, &str); 7] = [
        ("", "empty or truncated"),
        (&text[..text.len() / 2], "empty or truncated"),
        ("{\"format\": \"keygate-export\",,}", "not valid JSON"),
        ("[1, 2]", "not a keygate export"),
        (
            "{\"format\": \"other\", \"version\": 1}",
            "format is \"other\"",
        ),
        ("{\"version\": 1}", "not a keygate export"),
        (
            "{\"format\": \"keygate-export\", \"version\": 2}",
            "unsupported keygate export version 2",
        ),
    ];
    for (input, expected) in cases {
        let got = message(Backup::from_json(input));
        assert!(got.contains(expected), "{input:?}: {got}");
        assert!(!got.contains('\n'), "one line: {got}");
    }
    let missing = text.replace("\"enabled\": false,", "");
    assert!(message(Backup::from_json(&missing)).contains("missing field `enabled`"));
    let unknown = text.replace("\"enabled\": false,", "\"enabled\": false, \"extra\": 1,");
    assert!(message(Backup::from_json(&unknown)).contains("unknown field `extra`"));
}

#[test]
fn invalid_contents_are_refused() {
    type Damage = fn(&mut Backup);
    let cases: [(Damage, &str); 12] = [
        (
            |b| b.admins[0].password_hash = "plain".into(),
            "not an argon2 password hash",
        ),
        (
            |b| b.admins[0].username = "a b".into(),
            "username may contain",
        ),
        (
            |b| b.admins.push(b.admins[0].clone()),
            "admin \"alice\" appears more than once",
        ),
        (
            |b| {
                let mut twin = b.roles[0].clone();
                twin.name = "SUPPORT".into();
                b.roles.push(twin);
            },
            "role \"SUPPORT\" appears more than once",
        ),
        (
            |b| b.roles[0].actions.push("NoSuchAction".into()),
            "unknown action \"NoSuchAction\"",
        ),
        (
            |b| b.credentials[0].roles.push("Ghost".into()),
            "unknown role \"Ghost\"",
        ),
        (
            |b| b.credentials[0].admin = "bob".into(),
            "admin \"bob\" is not among",
        ),
        (
            |b| b.credentials[0].secret_sha256.truncate(10),
            "secret_sha256 must be 64",
        ),
        (
            |b| b.credentials[0].secret_md5_sha256 = "Z".repeat(64),
            "secret_md5_sha256 must be 64",
        ),
        (
            |b| b.credentials.push(b.credentials[0].clone()),
            "credential \"ABC\" appears more than once",
        ),
        (
            |b| b.credentials[0].allow_ips.push("nowhere".into()),
            "allow_ips",
        ),
        (|b| b.credentials[0].client_ids.push(0), "client_ids"),
    ];
    for (damage, expected) in cases {
        let mut backup = sample();
        damage(&mut backup);
        let got = message(check(backup));
        assert!(got.contains(expected), "expected {expected:?} in {got}");
    }
}

#[test]
fn differences_name_the_first_record() {
    let a = check(sample()).unwrap();
    let mut b = a.clone();
    b.exported_at += 10;
    assert_eq!(a.difference(&b), None);
    b.credentials[0].enabled = true;
    assert_eq!(
        a.difference(&b).as_deref(),
        Some("credential \"ABC\" differs")
    );
    b.credentials.clear();
    assert!(a.difference(&b).unwrap().contains("number of credentials"));
}

#[test]
fn counts_read_naturally() {
    let counts = sample().counts();
    assert_eq!(counts.to_string(), "1 admin, 1 role and 1 credential");
    assert_eq!(
        Backup::new(0).counts().to_string(),
        "0 admins, 0 roles and 0 credentials"
    );
}
