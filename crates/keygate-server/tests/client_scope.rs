//! DESIGN.md "Client scope" through a real server on port 0 and a stateful
//! fake WHMCS (`fake_whmcs`) holding two clients, A (12) and B (40): every
//! row of the compiled-in rules table, the ownership lookups (cache, expiry,
//! failures), the response check, unscoped and multi-client credentials,
//! 10,000 concurrent mixed calls, and the sidecar's `params`.

mod fake_whmcs;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fake_whmcs::{
    mentions, object, Call, FakeWhmcs, Fault, Kind, A, B, MASTER_ID, MASTER_SECRET, NOBODY, TAG,
};
use futures::stream::{self, StreamExt};
use keygate_core::catalog::CustomAction;
use keygate_core::model::{ClientId, Lifecycle};
use keygate_core::scope::{builtin_rows, Scope, ScopeRule};
use keygate_core::Catalog;
use keygate_server::config::ClientScopeConfig;
use keygate_store::RoleInput;
use keygate_testkit::app::{answer, TestApp};
use serde_json::{json, Value};

/// The role every test credential holds: every catalog action.
const ROLE: &str = "Everything";

const JSON_REQUIRED: &str = "Client-scoped credentials must request responsetype=json";

fn not_available(action: &str) -> String {
    format!(
        "Invalid Permissions: API action \"{}\" is not available to client-scoped credentials",
        action.to_lowercase()
    )
}

fn outside(param: &str) -> String {
    format!("Invalid Permissions: {param} is outside this credential's client scope")
}

fn object_required(param: &str) -> String {
    format!("Parameter {param} is required for client-scoped credentials")
}

fn client_required(param: &str) -> String {
    format!("Parameter {param} is required: this credential is scoped to several clients")
}

#[derive(Clone)]
struct Cred {
    id: String,
    secret: String,
}

/// A fake WHMCS, a server forwarding to it, and credentials scoped to A,
/// to B, to both, and not scoped.
struct Env {
    fake: FakeWhmcs,
    app: TestApp,
    a: Cred,
    b: Cred,
    ab: Cred,
    open: Cred,
}

async fn env() -> Env {
    env_with(ClientScopeConfig::default()).await
}

async fn env_with(config: ClientScopeConfig) -> Env {
    let fake = FakeWhmcs::start().await;
    let app = TestApp::builder()
        .upstream(&fake.url)
        .client_scope(config)
        .start()
        .await;
    let [a, b, ab, open] = credentials(&app).await;
    Env {
        fake,
        app,
        a,
        b,
        ab,
        open,
    }
}

/// An admin, the role allowing everything, and credentials scoped to
/// [A], [B], [A, B] and nothing.
async fn credentials(app: &TestApp) -> [Cred; 4] {
    app.manager.add_admin("alice", "password1").await.unwrap();
    let actions = app
        .manager
        .catalog()
        .actions()
        .map(|(_, action)| action.name.clone())
        .collect();
    let role = RoleInput {
        name: ROLE.into(),
        actions,
        ..RoleInput::default()
    };
    app.manager.create_role(role).await.unwrap();
    [
        scoped(app, &[A]).await,
        scoped(app, &[B]).await,
        scoped(app, &[A, B]).await,
        scoped(app, &[]).await,
    ]
}

async fn scoped(app: &TestApp, clients: &[i64]) -> Cred {
    let lifecycle = Lifecycle {
        client_ids: clients.iter().copied().map(ClientId).collect(),
        ..Lifecycle::default()
    };
    let (credential, secret) = app
        .manager
        .generate_credential("alice", "scoped", &[ROLE.into()], lifecycle)
        .await
        .unwrap();
    assert_eq!(credential.lifecycle.client_ids.len(), clients.len());
    Cred {
        id: credential.identifier,
        secret: secret.expose().to_string(),
    }
}

type Params = Vec<(String, String)>;

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// `action` with `pairs` and `responsetype=json`.
fn json_call(action: &str, pairs: &[(&str, &str)]) -> Params {
    let mut out = params(&[("action", action)]);
    out.extend(params(pairs));
    out.push(("responsetype".into(), "json".into()));
    out
}

static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// What the client got back for one tagged call.
#[derive(Debug)]
struct Reply {
    tag: String,
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().into()
    }
}

/// POSTs `params` with the credential and a fresh tag to the gateway.
async fn call(app: &TestApp, cred: &Cred, params: &[(String, String)]) -> Reply {
    let tag = format!("t{}", NEXT_TAG.fetch_add(1, Ordering::Relaxed));
    let mut form: Vec<(&str, &str)> = vec![("identifier", &cred.id), ("secret", &cred.secret)];
    form.extend(params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    form.push((TAG, &tag));
    let answer = app.gateway_form(&form).await;
    Reply {
        tag,
        status: answer.status,
        body: answer.body,
    }
}

/// What a call should come to.
#[derive(Clone, Debug)]
enum Expect {
    /// Forwarded with these parameters added (a client parameter keygate
    /// set), answered with the fake's answer.
    Forward(Params),
    /// Refused with this status and message; never forwarded.
    Refuse(u16, String),
}

fn refuse(status: u16, message: impl Into<String>) -> Expect {
    Expect::Refuse(status, message.into())
}

fn forward(added: &[(&str, String)]) -> Expect {
    Expect::Forward(
        added
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect(),
    )
}

/// The tagged calls the fake received, by tag (each at most once).
fn forwarded_by_tag(fake: &FakeWhmcs) -> HashMap<String, Call> {
    let mut by_tag = HashMap::new();
    for call in fake.calls().into_iter().filter(|c| !c.is_lookup()) {
        let tag = call.tag().unwrap().to_string();
        assert!(
            by_tag.insert(tag.clone(), call).is_none(),
            "{tag} forwarded twice"
        );
    }
    by_tag
}

/// Checks one call's outcome against `expect`: the status, the message or
/// the forwarded form (exactly the sent parameters, plus the added ones,
/// with the master credential) and the answer passed through.
fn verify(
    fake: &FakeWhmcs,
    forwarded: &HashMap<String, Call>,
    sent: &[(String, String)],
    reply: &Reply,
    expect: &Expect,
) -> Result<(), String> {
    let call = forwarded.get(&reply.tag);
    match expect {
        Expect::Forward(added) => {
            if reply.status != 200 {
                return Err(format!("expected forwarding, got {reply:?}"));
            }
            let call = call.ok_or("answered 200 but not forwarded")?;
            let mut expected: Params = sent.to_vec();
            expected.extend(added.iter().cloned());
            expected.extend(params(&[
                (TAG, &reply.tag),
                ("identifier", MASTER_ID),
                ("secret", MASTER_SECRET),
            ]));
            expected.sort();
            if call.sorted() != expected {
                return Err(format!(
                    "forwarded {:?}, expected {expected:?}",
                    call.sorted()
                ));
            }
            if reply.json() != fake.answer_to(&call.form) {
                return Err(format!("answer changed on the way: {}", reply.body));
            }
        }
        Expect::Refuse(status, message) => {
            if let Some(call) = call {
                return Err(format!("refused call reached WHMCS: {call:?}"));
            }
            let json = sent.iter().any(|(n, v)| n == "responsetype" && v == "json");
            let message_ok = if json {
                reply.json() == json!({"result": "error", "message": message})
            } else {
                reply.body.contains(message.as_str())
            };
            if reply.status != *status || !message_ok {
                return Err(format!("expected {status} {message:?}, got {reply:?}"));
            }
        }
    }
    Ok(())
}

/// One case of the matrix.
struct Case {
    label: String,
    params: Params,
    expect: Expect,
}

/// The object kind and ids (A's two, B's one) an object rule's lookup reads.
fn objects(action: &str, lookup_action: &str) -> (Kind, [String; 3]) {
    let (kind, _) = Kind::of_lookup(lookup_action)
        .unwrap_or_else(|| panic!("{action}: the fake does not answer lookup {lookup_action}"));
    let ids = [
        object(kind, A, 1).to_string(),
        object(kind, A, 2).to_string(),
        object(kind, B, 1).to_string(),
    ];
    (kind, ids)
}

/// Ways of sending an id that are not one canonical decimal value.
fn unclear_ids(id: &str) -> Vec<String> {
    vec![
        format!("0{id}"),
        format!("+{id}"),
        format!("{id} "),
        format!(" {id}"),
        format!("-{id}"),
        format!("{id}.0"),
        format!("{id}abc"),
        "0".into(),
        String::new(),
    ]
}

/// Every case the matrix runs for one row, for a credential scoped to A.
fn cases_for(action: &str, rule: &ScopeRule) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |label: String, params: Params, expect: Expect| {
        cases.push(Case {
            label: format!("{action}: {label}"),
            params,
            expect,
        })
    };
    let a = A.to_string();
    let b = B.to_string();
    let (client_param, object) = match &rule.scope {
        Scope::Deny => {
            let refused = refuse(403, not_available(action));
            add("plain".into(), json_call(action, &[]), refused.clone());
            add(
                "with A's client id".into(),
                json_call(action, &[("clientid", &a), ("userid", &a)]),
                refused.clone(),
            );
            add(
                "without responsetype".into(),
                params(&[("action", action)]),
                refused,
            );
            return cases;
        }
        Scope::Public => {
            add("json".into(), json_call(action, &[]), forward(&[]));
            add(
                "any format".into(),
                params(&[("action", action)]),
                forward(&[]),
            );
            return cases;
        }
        Scope::ClientParam { param } => (Some(param.to_string()), None),
        Scope::Object { param, lookup } => {
            let (_, ids) = objects(action, &lookup.action);
            (None, Some((param.to_string(), ids, true)))
        }
        Scope::ClientParamAndObject {
            client_param,
            object_param,
            lookup,
        } => {
            let (_, ids) = objects(action, &lookup.action);
            (
                Some(client_param.to_string()),
                Some((object_param.to_string(), ids, false)),
            )
        }
    };
    // The smallest call the rule admits (the client parameter absent).
    let base: Vec<(String, String)> = match &object {
        Some((param, ids, true)) => vec![(param.clone(), ids[0].clone())],
        _ => vec![],
    };
    let with = |extra: &[(&str, &str)]| {
        let mut pairs: Vec<(&str, &str)> = base.iter().map(|(n, v)| (&**n, &**v)).collect();
        pairs.extend_from_slice(extra);
        json_call(action, &pairs)
    };
    let injected: Vec<(&str, String)> = client_param
        .iter()
        .map(|param| (param.as_str(), a.clone()))
        .collect();
    let forwarded = forward(&injected);

    add("smallest call".into(), with(&[]), forwarded.clone());
    let mut text = with(&[]);
    text.retain(|(n, _)| n != "responsetype");
    add(
        "without responsetype".into(),
        text,
        refuse(400, JSON_REQUIRED),
    );
    let mut xml = with(&[]);
    xml.retain(|(n, _)| n != "responsetype");
    xml.push(("responsetype".into(), "xml".into()));
    add("responsetype=xml".into(), xml, refuse(400, JSON_REQUIRED));

    // Names that could point at a client: refused whatever they say.
    let generic = ["clientid", "userid", "client_id"]
        .into_iter()
        .filter(|name| client_param.as_deref() != Some(*name))
        .map(str::to_string);
    let indirect: BTreeSet<String> = rule
        .indirect
        .iter()
        .map(|n| n.to_string())
        .chain(generic)
        .collect();
    for name in &indirect {
        for value in [&*a, &*b, "x@example.com"] {
            add(
                format!("indirect {name}={value}"),
                with(&[(name, value)]),
                refuse(403, outside(name)),
            );
        }
    }

    if let Some(param) = &client_param {
        add(format!("{param}=A"), with(&[(param, &a)]), forward(&[]));
        add(
            format!("{param}=B"),
            with(&[(param, &b)]),
            refuse(403, outside(param)),
        );
        add(
            format!("{param}=nobody"),
            with(&[(param, &NOBODY.to_string())]),
            refuse(403, outside(param)),
        );
        for value in unclear_ids(&a) {
            add(
                format!("{param}={value:?}"),
                with(&[(param, &value)]),
                refuse(403, outside(param)),
            );
        }
        add(
            format!("{param}[]=A"),
            with(&[(&format!("{param}[]"), &a)]),
            refuse(403, outside(param)),
        );
        add(
            format!("{param} in another case"),
            with(&[(&param.to_uppercase(), &a)]),
            refuse(403, outside(param)),
        );
    }

    if let Some((param, ids, required)) = &object {
        let [own, own2, foreign] = ids;
        if *required {
            let mut absent = with(&[]);
            absent.retain(|(n, _)| n != param);
            add(
                format!("{param} absent"),
                absent,
                refuse(400, object_required(param)),
            );
        }
        // `with` already names A's first object for `object` rules; the
        // parameter is replaced (the last value wins) for the others.
        let object_call = |value: &str, extra: &[(&str, &str)]| {
            let mut pairs = with(extra);
            pairs.retain(|(n, _)| n != param);
            let at = pairs.len() - 1;
            pairs.insert(at, (param.clone(), value.to_string()));
            pairs
        };
        add(
            format!("{param}=A's"),
            object_call(own, &[]),
            forwarded.clone(),
        );
        add(
            format!("{param}=A's second"),
            object_call(own2, &[]),
            forwarded.clone(),
        );
        add(
            format!("{param}=B's"),
            object_call(foreign, &[]),
            refuse(403, outside(param)),
        );
        add(
            format!("{param}=unknown"),
            object_call("999999", &[]),
            refuse(403, outside(param)),
        );
        for value in unclear_ids(own) {
            add(
                format!("{param}={value:?}"),
                object_call(&value, &[]),
                refuse(403, outside(param)),
            );
        }
        let mut array = object_call(own, &[]);
        array.retain(|(n, _)| n != param);
        array.insert(1, (format!("{param}[]"), own.clone()));
        add(format!("{param}[]"), array, refuse(403, outside(param)));
        let mut other_case = object_call(own, &[]);
        other_case.retain(|(n, _)| n != param);
        other_case.insert(1, (param.to_uppercase(), own.clone()));
        add(
            format!("{param} in another case"),
            other_case,
            refuse(403, outside(param)),
        );
        if let Some(client) = &client_param {
            add(
                format!("{client}=A, {param}=A's"),
                object_call(own, &[(client, &a)]),
                forward(&[]),
            );
            add(
                format!("{client}=A, {param}=B's"),
                object_call(foreign, &[(client, &a)]),
                refuse(403, outside(param)),
            );
            add(
                format!("{client}=B, {param}=A's"),
                object_call(own, &[(client, &b)]),
                refuse(403, outside(client)),
            );
        }
    }
    cases
}

/// Every lookup keygate made is one of the rules' lookups, sent as
/// `action`, the lookup parameter with a canonical id, `responsetype=json`
/// and the master credential, nothing else.
fn assert_lookups_well_formed(fake: &FakeWhmcs) {
    let lookups: BTreeSet<(String, String)> = builtin_rows()
        .map(Result::unwrap)
        .filter_map(|(_, rule)| match rule.scope {
            Scope::Object { lookup, .. } | Scope::ClientParamAndObject { lookup, .. } => {
                Some((lookup.action.to_string(), lookup.param.to_string()))
            }
            _ => None,
        })
        .collect();
    for call in fake.calls().iter().filter(|c| c.is_lookup()) {
        let names: BTreeSet<&str> = call.form.iter().map(|(n, _)| n.as_str()).collect();
        let param = names
            .iter()
            .find(|n| !["action", "responsetype", "identifier", "secret"].contains(n))
            .copied()
            .unwrap_or_default();
        assert!(
            lookups.contains(&(call.action().to_string(), param.to_string())),
            "not a rule's lookup: {call:?}"
        );
        assert_eq!(call.form.len(), 5, "{call:?}");
        assert_eq!(names.len(), 5, "{call:?}");
        assert_eq!(call.get("responsetype"), Some("json"));
        assert_eq!(call.get("identifier"), Some(MASTER_ID));
        assert_eq!(call.get("secret"), Some(MASTER_SECRET));
        let id = call.get(param).unwrap();
        assert!(
            id.parse::<u64>()
                .is_ok_and(|n| n > 0 && n.to_string() == id),
            "{call:?}"
        );
    }
}

#[tokio::test]
async fn every_rule_row_scopes_a_credential_of_client_a() {
    let env = env().await;
    let rows: Vec<(&str, ScopeRule)> = builtin_rows().map(Result::unwrap).collect();
    let catalog = Catalog::builtin();
    assert_eq!(
        rows.len(),
        catalog.len() + catalog.aliases().count(),
        "one rule per action and alias"
    );
    let mut kinds = BTreeMap::new();
    let mut cases = Vec::new();
    for (action, rule) in &rows {
        let kind = match rule.scope {
            Scope::Deny => "deny",
            Scope::Public => "public",
            Scope::ClientParam { .. } => "client_param",
            Scope::Object { .. } => "object",
            Scope::ClientParamAndObject { .. } => "client_param+object",
        };
        *kinds.entry(kind).or_insert(0) += 1;
        cases.extend(cases_for(action, rule));
    }
    assert_eq!(kinds.len(), 5, "every kind of rule is in the table");
    let total = cases.len();
    let app = &env.app;
    let a = &env.a;
    let replies: Vec<(Case, Reply)> = stream::iter(cases)
        .map(|case| async move {
            let reply = call(app, a, &case.params).await;
            (case, reply)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let forwarded = forwarded_by_tag(&env.fake);
    let failures: Vec<String> = replies
        .iter()
        .filter_map(|(case, reply)| {
            verify(&env.fake, &forwarded, &case.params, reply, &case.expect)
                .err()
                .map(|e| format!("{}: {e}", case.label))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every A object a rule admitted was looked up (cached afterwards).
    for (action, rule) in &rows {
        if let Scope::Object { lookup, .. } | Scope::ClientParamAndObject { lookup, .. } =
            &rule.scope
        {
            let (_, [own, ..]) = objects(action, &lookup.action);
            let asked = env.fake.calls().iter().any(|c| {
                c.is_lookup()
                    && c.action() == &*lookup.action
                    && c.get(&lookup.param) == Some(own.as_str())
            });
            assert!(asked, "{action}: no lookup of {own}");
        }
    }
    assert_lookups_well_formed(&env.fake);
    eprintln!("{total} cases over {} rows: {kinds:?}", rows.len());
}

#[tokio::test]
async fn lookups_are_cached_shared_and_expire() {
    let ttl = Duration::from_millis(300);
    let env = env_with(ClientScopeConfig {
        lookup_ttl: ttl,
        ..ClientScopeConfig::default()
    })
    .await;
    let (fake, app) = (&env.fake, &env.app);
    let invoice = object(Kind::Invoice, A, 1).to_string();
    let get = json_call("GetInvoice", &[("invoiceid", &invoice)]);
    assert_eq!(call(app, &env.a, &get).await.status, 200);
    assert_eq!(fake.lookups("GetInvoice"), 1);
    // Same object, same lookup action: no second lookup, whatever the
    // action or the credential.
    assert_eq!(call(app, &env.a, &get).await.status, 200);
    let pay = json_call(
        "AddInvoicePayment",
        &[("invoiceid", &invoice), ("transid", "T1")],
    );
    assert_eq!(call(app, &env.a, &pay).await.status, 200);
    let refused = call(app, &env.b, &get).await;
    assert_eq!(
        (refused.status, refused.message()),
        (403, outside("invoiceid"))
    );
    assert_eq!(fake.lookups("GetInvoice"), 1);
    // Another object is looked up on its own.
    let other = json_call(
        "GetInvoice",
        &[("invoiceid", &object(Kind::Invoice, A, 2).to_string())],
    );
    assert_eq!(call(app, &env.a, &other).await.status, 200);
    assert_eq!(fake.lookups("GetInvoice"), 2);
    // Client parameters need no lookup.
    assert_eq!(
        call(app, &env.a, &json_call("GetInvoices", &[]))
            .await
            .status,
        200
    );
    assert_eq!(fake.lookup_count(), 2);

    // Past the TTL the owner is asked again.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(call(app, &env.a, &get).await.status, 200);
    assert_eq!(fake.lookups("GetInvoice"), 3);

    // The invoice moves to B. Within the TTL keygate still believes A, but
    // the answer names B and is withheld; after it, A is refused and B
    // served.
    fake.set_owner(Kind::Invoice, object(Kind::Invoice, A, 1), B);
    let stale = call(app, &env.a, &get).await;
    assert_eq!(
        (stale.status, stale.message()),
        (502, "Upstream response outside client scope".into())
    );
    assert!(!mentions(&stale.body, B));
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let moved = call(app, &env.a, &get).await;
    assert_eq!((moved.status, moved.message()), (403, outside("invoiceid")));
    assert!(!forwarded_by_tag(fake).contains_key(&moved.tag));
    let now_b = call(app, &env.b, &get).await;
    assert_eq!(now_b.status, 200, "{now_b:?}");
    assert_eq!(now_b.json()["userid"], json!(B.to_string()));
    assert_eq!(fake.lookups("GetInvoice"), 4);
    assert_lookups_well_formed(fake);
}

#[tokio::test]
async fn a_zero_ttl_asks_every_time() {
    let env = env_with(ClientScopeConfig {
        lookup_ttl: Duration::ZERO,
        ..ClientScopeConfig::default()
    })
    .await;
    let domain = object(Kind::Domain, A, 1).to_string();
    let epp = json_call("DomainRequestEPP", &[("domainid", &domain)]);
    for _ in 0..3 {
        assert_eq!(call(&env.app, &env.a, &epp).await.status, 200);
    }
    assert_eq!(env.fake.lookups("GetClientsDomains"), 3);
}

#[tokio::test]
async fn failed_lookups_are_upstream_unavailable() {
    let env = env().await;
    let (fake, app) = (&env.fake, &env.app);
    let unavailable = json!({"result": "error", "message": "Upstream unavailable"});
    for fault in [Fault::Status(500), Fault::Status(404), Fault::Html] {
        fake.fail_lookups(Some(fault));
        for (action, param, kind) in [
            ("GetInvoice", "invoiceid", Kind::Invoice),
            ("ModuleSuspend", "serviceid", Kind::Service),
            ("GetTicket", "ticketid", Kind::Ticket),
        ] {
            let id = object(kind, A, 1).to_string();
            let reply = call(app, &env.a, &json_call(action, &[(param, &id)])).await;
            assert_eq!(
                (reply.status, reply.json()),
                (502, unavailable.clone()),
                "{fault:?} {action}"
            );
            assert!(!forwarded_by_tag(fake).contains_key(&reply.tag));
        }
        // Client parameters need no lookup: still served.
        let list = call(app, &env.a, &json_call("GetInvoices", &[])).await;
        assert_eq!(list.status, 200);
    }
    // Failures are not cached: once WHMCS answers again, so does keygate.
    fake.fail_lookups(None);
    let id = object(Kind::Invoice, A, 1).to_string();
    let get = json_call("GetInvoice", &[("invoiceid", &id)]);
    assert_eq!(call(app, &env.a, &get).await.status, 200);
    assert_eq!(fake.lookups("GetInvoice"), 4);

    // WHMCS down: the lookup fails the same way.
    let dead = TestApp::builder()
        .upstream("http://127.0.0.1:9/includes/api.php")
        .timeout(Duration::from_secs(2))
        .start()
        .await;
    let [a, ..] = credentials(&dead).await;
    let reply = call(&dead, &a, &get).await;
    assert_eq!((reply.status, reply.json()), (502, unavailable));
}

#[tokio::test]
async fn answers_naming_another_client_are_withheld() {
    let env = env().await;
    let (fake, app) = (&env.fake, &env.app);
    fake.forge(Some(B));
    let blocked = json!({"result": "error", "message": "Upstream response outside client scope"});
    let invoice = object(Kind::Invoice, A, 1).to_string();
    let domain = object(Kind::Domain, A, 1).to_string();
    let forged = [
        json_call("GetInvoices", &[]),
        json_call("GetInvoice", &[("invoiceid", &invoice)]),
        json_call("GetClientsDomains", &[("domainid", &domain)]),
        json_call("GetClientsDetails", &[]),
        json_call("GetTickets", &[]),
        json_call("DomainRequestEPP", &[("domainid", &domain)]),
        json_call("AddClientNote", &[("notes", "hi")]),
    ];
    for sent in &forged {
        let reply = call(app, &env.a, sent).await;
        assert_eq!(
            (reply.status, reply.json()),
            (502, blocked.clone()),
            "{sent:?}"
        );
        assert!(!mentions(&reply.body, B));
        // It was forwarded: the answer is what is withheld.
        assert!(forwarded_by_tag(fake).contains_key(&reply.tag));
    }
    // Public rules' answers are not client data and are not read.
    let products = call(app, &env.a, &json_call("GetProducts", &[])).await;
    assert_eq!(products.status, 200);
    // Unscoped credentials get WHMCS's answer as it is.
    let open = call(app, &env.open, &json_call("GetInvoices", &[])).await;
    assert_eq!(open.status, 200);
    assert!(mentions(&open.body, B) && mentions(&open.body, A));
    // A credential scoped to both clients may see both.
    let both = call(app, &env.ab, &json_call("GetInvoices", &[("userid", "12")])).await;
    assert_eq!(both.status, 200);
    fake.forge(None);
    for sent in &forged {
        let reply = call(app, &env.a, sent).await;
        assert_eq!(reply.status, 200, "{sent:?}: {}", reply.body);
        assert!(!mentions(&reply.body, B));
    }
}

#[tokio::test]
async fn unscoped_credentials_are_forwarded_as_before() {
    let env = env().await;
    let (fake, app) = (&env.fake, &env.app);
    let b_invoice = object(Kind::Invoice, B, 1).to_string();
    let b_domain = object(Kind::Domain, B, 1).to_string();
    let b_service = object(Kind::Service, B, 1).to_string();
    let calls = [
        params(&[("action", "GetInvoice"), ("invoiceid", &b_invoice)]),
        json_call("GetInvoices", &[]),
        json_call("GetInvoices", &[("userid", "40"), ("clientid", "12")]),
        params(&[
            ("action", "DomainRequestEPP"),
            ("domainid", &b_domain),
            ("responsetype", "xml"),
        ]),
        json_call(
            "ModuleSuspend",
            &[("serviceid", &b_service), ("accountid", "1")],
        ),
        json_call("GetClients", &[("search", "beta")]),
        json_call("GetClientsDetails", &[("email", "bob@beta.example")]),
        json_call("GetInvoice", &[("invoiceid", "0999")]),
        json_call(
            "AddClient",
            &[("firstname", "Eve"), ("email", "eve@example.com")],
        ),
        json_call("GetProducts", &[]),
    ];
    for sent in &calls {
        let reply = call(app, &env.open, sent).await;
        assert_eq!(reply.status, 200, "{sent:?}: {}", reply.body);
        let forwarded = forwarded_by_tag(fake)
            .remove(&reply.tag)
            .expect("forwarded");
        // Exactly the form keygate always sent: action, the other
        // parameters in order, responsetype, the master credential.
        let mut expected = vec![("action".to_string(), sent[0].1.clone())];
        expected.extend(
            sent[1..]
                .iter()
                .filter(|(n, _)| n != "responsetype")
                .cloned(),
        );
        expected.push((TAG.into(), reply.tag.clone()));
        expected.extend(sent.iter().filter(|(n, _)| n == "responsetype").cloned());
        expected.extend(params(&[
            ("identifier", MASTER_ID),
            ("secret", MASTER_SECRET),
        ]));
        assert_eq!(forwarded.form, expected);
        assert_eq!(reply.body, fake.answer_to(&forwarded.form).to_string());
    }
    assert_eq!(fake.lookup_count(), 0);
}

#[tokio::test]
async fn credentials_scoped_to_several_clients_name_the_client() {
    let env = env().await;
    let (fake, app) = (&env.fake, &env.app);
    let forwarded = |reply: &Reply| forwarded_by_tag(fake).remove(&reply.tag);
    for (action, param) in [
        ("GetInvoices", "userid"),
        ("GetClientsDetails", "clientid"),
        ("GetOrders", "userid"),
        ("GetClientsDomains", "clientid"),
    ] {
        let reply = call(app, &env.ab, &json_call(action, &[])).await;
        assert_eq!(
            (reply.status, reply.message()),
            (400, client_required(param)),
            "{action}"
        );
        assert!(forwarded(&reply).is_none());
        for client in [A, B] {
            let id = client.to_string();
            let reply = call(app, &env.ab, &json_call(action, &[(param, &id)])).await;
            assert_eq!(reply.status, 200, "{action} {client}: {}", reply.body);
            assert_eq!(forwarded(&reply).unwrap().get(param), Some(id.as_str()));
            assert!(!mentions(&reply.body, if client == A { B } else { A }));
        }
        let reply = call(app, &env.ab, &json_call(action, &[(param, "99")])).await;
        assert_eq!((reply.status, reply.message()), (403, outside(param)));
    }
    // A client parameter's check does not stand in for an object's.
    let b_order = object(Kind::Order, B, 1).to_string();
    let reply = call(app, &env.ab, &json_call("GetOrders", &[("id", &b_order)])).await;
    assert_eq!(
        (reply.status, reply.message()),
        (400, client_required("userid"))
    );
    for client in [A, B] {
        for kind in [Kind::Invoice, Kind::Ticket, Kind::Project] {
            let (action, param) = match kind {
                Kind::Invoice => ("GetInvoice", "invoiceid"),
                Kind::Ticket => ("GetTicket", "ticketid"),
                _ => ("GetProject", "projectid"),
            };
            let id = object(kind, client, 2).to_string();
            let reply = call(app, &env.ab, &json_call(action, &[(param, &id)])).await;
            assert_eq!(reply.status, 200, "{action} {id}: {}", reply.body);
        }
    }
    // Both clients' records in one answer are within this scope.
    let orders = call(
        app,
        &env.ab,
        &json_call("GetOrders", &[("userid", "40"), ("id", &b_order)]),
    )
    .await;
    assert_eq!(orders.status, 200);
    let a_order = object(Kind::Order, A, 1).to_string();
    let mixed = call(
        app,
        &env.ab,
        &json_call("GetOrders", &[("userid", "40"), ("id", &a_order)]),
    )
    .await;
    // A's order asked under B's id: both are in this scope, so it is
    // forwarded (and WHMCS, ANDing the filters, finds nothing).
    assert_eq!(mixed.status, 200);
    assert_eq!(mixed.json()["totalresults"], 0);
}

#[tokio::test]
async fn the_query_and_the_body_are_read_as_whmcs_reads_them() {
    let env = env().await;
    let (fake, app) = (&env.fake, &env.app);
    let send = |query: &[(&str, &str)], body: &[(&str, &str)]| {
        let tag = format!("t{}", NEXT_TAG.fetch_add(1, Ordering::Relaxed));
        let mut form = vec![
            ("identifier".to_string(), env.a.id.clone()),
            ("secret".to_string(), env.a.secret.clone()),
            (TAG.to_string(), tag.clone()),
        ];
        form.extend(params(body));
        let request = app
            .client
            .post(app.url("/includes/api.php"))
            .query(query)
            .form(&form);
        async move {
            let answer = answer(request.send().await.unwrap()).await;
            Reply {
                tag,
                status: answer.status,
                body: answer.body,
            }
        }
    };
    let json = ("responsetype", "json");
    // The body wins: B's id in the query is overridden and not forwarded.
    let reply = send(
        &[("userid", "40")],
        &[("action", "GetInvoices"), ("userid", "12"), json],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let forwarded = forwarded_by_tag(fake).remove(&reply.tag).unwrap();
    assert_eq!(
        forwarded
            .form
            .iter()
            .filter(|(n, _)| n == "userid")
            .collect::<Vec<_>>(),
        [&("userid".to_string(), "12".to_string())]
    );
    let reply = send(
        &[("userid", "12")],
        &[("action", "GetInvoices"), ("userid", "40"), json],
    )
    .await;
    assert_eq!((reply.status, reply.message()), (403, outside("userid")));
    // Names as PHP reads them: ` userid` (a leading space) is `userid`.
    let reply = send(&[], &[("action", "GetInvoices"), (" userid", "40"), json]).await;
    assert_eq!((reply.status, reply.message()), (403, outside("userid")));
    let b_invoice = object(Kind::Invoice, B, 1).to_string();
    let reply = send(
        &[("invoiceid", &b_invoice)],
        &[("action", "GetInvoice"), json],
    )
    .await;
    assert_eq!((reply.status, reply.message()), (403, outside("invoiceid")));
    let reply = send(
        &[("action", "GetInvoice"), json],
        &[("invoice id", &b_invoice)],
    )
    .await;
    // `invoice id` is `invoice_id`: not the object parameter, so the
    // object parameter is missing.
    assert_eq!(
        (reply.status, reply.message()),
        (400, object_required("invoiceid"))
    );
    // A GET with everything in the query is checked the same way.
    let get = app
        .gateway_get(&[
            ("identifier", &env.a.id),
            ("secret", &env.a.secret),
            ("action", "GetInvoice"),
            ("invoiceid", &b_invoice),
            ("responsetype", "json"),
        ])
        .await;
    assert_eq!(get.status, 403);
    assert_eq!(fake.forwarded_count(), 1);
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
    }
}

/// What one random call names: its expected outcome follows from it.
struct Mixed {
    caller: i64,
    sent: Params,
    /// `None`: forwarded; `Some(param)`: refused naming it.
    refused: Option<String>,
    client_param: Option<String>,
    object: Option<(String, Kind)>,
}

fn mixed_call(rng: &mut Rng, rules: &[(&str, ScopeRule)]) -> Mixed {
    let caller = if rng.below(2) == 0 { A } else { B };
    let other = if caller == A { B } else { A };
    let (action, rule) = &rules[rng.below(rules.len() as u64) as usize];
    let (client_param, target) = match &rule.scope {
        Scope::ClientParam { param } => (Some(param.to_string()), None),
        Scope::Object { param, lookup } => (
            None,
            Some((
                param.to_string(),
                Kind::of_lookup(&lookup.action).unwrap().0,
                true,
            )),
        ),
        Scope::ClientParamAndObject {
            client_param,
            object_param,
            lookup,
        } => (
            Some(client_param.to_string()),
            Some((
                object_param.to_string(),
                Kind::of_lookup(&lookup.action).unwrap().0,
                false,
            )),
        ),
        Scope::Deny | Scope::Public => unreachable!("only scoped rules are mixed"),
    };
    let mut sent = params(&[("action", action)]);
    let mut refused = None;
    if let Some(param) = &client_param {
        match rng.below(3) {
            0 => {}
            1 => sent.push((param.clone(), caller.to_string())),
            _ => {
                sent.push((param.clone(), other.to_string()));
                refused = Some(param.clone());
            }
        }
    }
    if let Some((param, kind, required)) = &target {
        let choice = rng.below(if *required { 2 } else { 3 });
        let n = 1 + rng.below(2);
        match choice {
            0 => sent.push((param.clone(), object(*kind, caller, n).to_string())),
            1 => {
                sent.push((param.clone(), object(*kind, other, n).to_string()));
                refused.get_or_insert(param.clone());
            }
            _ => {}
        }
    }
    sent.push(("responsetype".into(), "json".into()));
    Mixed {
        caller,
        sent,
        refused,
        client_param,
        object: target.map(|(param, kind, _)| (param, kind)),
    }
}

/// Every value under an owner key, anywhere in `json`.
fn owner_values(json: &Value, out: &mut Vec<Value>) {
    match json {
        Value::Object(members) => {
            for (key, member) in members {
                if ["userid", "clientid", "client_id"].contains(&key.as_str()) {
                    out.push(member.clone());
                }
                owner_values(member, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| owner_values(item, out)),
        _ => {}
    }
}

fn names_client(value: &Value, client: i64) -> bool {
    match value {
        Value::Number(n) => n.as_i64() == Some(client) || n.as_i64() == Some(0),
        Value::String(s) => s.is_empty() || *s == client.to_string() || s == "0",
        Value::Null => true,
        _ => false,
    }
}

#[tokio::test]
async fn ten_thousand_concurrent_mixed_calls_never_cross_clients() {
    let env = env().await;
    let chosen = [
        "GetInvoice",
        "GetInvoices",
        "UpdateInvoice",
        "GetClientsDomains",
        "DomainRequestEPP",
        "GetClientsProducts",
        "ModuleSuspend",
        "GetTicket",
        "AddTicketReply",
        "GetOrders",
        "AcceptQuote",
        "GetQuotes",
        "GetProject",
        "GetClientsDetails",
        "GetTickets",
    ];
    let rules: Vec<(&str, ScopeRule)> = builtin_rows()
        .map(Result::unwrap)
        .filter(|(action, _)| chosen.contains(action))
        .collect();
    assert_eq!(rules.len(), chosen.len());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mixed: Vec<Mixed> = (0..10_000).map(|_| mixed_call(&mut rng, &rules)).collect();
    let (app, a, b) = (&env.app, &env.a, &env.b);
    let replies: Vec<(Mixed, Reply)> = stream::iter(mixed)
        .map(|m| async move {
            let cred = if m.caller == A { a } else { b };
            let reply = call(app, cred, &m.sent).await;
            (m, reply)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let forwarded = forwarded_by_tag(&env.fake);
    let mut callers = HashMap::new();
    let (mut served, mut refused) = (0, 0);
    for (m, reply) in &replies {
        callers.insert(reply.tag.clone(), m.caller);
        let other = if m.caller == A { B } else { A };
        assert!(
            !mentions(&reply.body, other),
            "{:?} leaked: {}",
            m.sent,
            reply.body
        );
        match &m.refused {
            Some(param) => {
                refused += 1;
                assert_eq!(
                    (reply.status, reply.message()),
                    (403, outside(param)),
                    "{:?}",
                    m.sent
                );
                assert!(!forwarded.contains_key(&reply.tag), "{:?}", m.sent);
            }
            None => {
                served += 1;
                assert_eq!(reply.status, 200, "{:?}: {}", m.sent, reply.body);
                let call = &forwarded[&reply.tag];
                if let Some(param) = &m.client_param {
                    assert_eq!(call.get(param), Some(&*m.caller.to_string()));
                }
                if let Some((param, kind)) = &m.object {
                    if let Some(id) = call.get(param) {
                        let own = [object(*kind, m.caller, 1), object(*kind, m.caller, 2)];
                        assert!(own.iter().any(|o| o.to_string() == id), "{call:?}");
                    }
                }
                let mut values = Vec::new();
                owner_values(&reply.json(), &mut values);
                assert!(
                    values.iter().all(|v| names_client(v, m.caller)),
                    "{:?} answered {}",
                    m.sent,
                    reply.body
                );
            }
        }
    }
    // Every call that reached WHMCS touched only its caller's objects.
    for (tag, call) in &forwarded {
        let caller = callers[tag];
        let rule = &rules.iter().find(|(a, _)| *a == call.action()).unwrap().1;
        let (client_param, target) = match &rule.scope {
            Scope::ClientParam { param } => (Some(param), None),
            Scope::Object { param, lookup } => (None, Some((param, lookup))),
            Scope::ClientParamAndObject {
                client_param,
                object_param,
                lookup,
            } => (Some(client_param), Some((object_param, lookup))),
            _ => unreachable!(),
        };
        if let Some(param) = client_param {
            assert_eq!(call.get(param), Some(&*caller.to_string()), "{call:?}");
        }
        if let Some((param, lookup)) = target {
            if let Some(id) = call.get(param) {
                let kind = Kind::of_lookup(&lookup.action).unwrap().0;
                let own = [object(kind, caller, 1), object(kind, caller, 2)];
                assert!(own.iter().any(|o| o.to_string() == id), "{call:?}");
            }
        }
    }
    assert!(
        served > 2_000 && refused > 2_000,
        "{served} served, {refused} refused"
    );
    assert_eq!(forwarded.len(), served);
    assert_lookups_well_formed(&env.fake);
    // Owners are cached: a handful of lookups, not one per call.
    assert!(
        env.fake.lookup_count() <= 100,
        "{}",
        env.fake.lookup_count()
    );
}

#[tokio::test]
async fn the_sidecar_checks_params() {
    let env = env().await;
    let (fake, app) = (&env.fake, &env.app);
    let authorize = |cred: &Cred, action: &str, params: Option<Value>| {
        let mut body = json!({"identifier": cred.id, "secret": cred.secret, "action": action});
        if let Some(params) = params {
            body["params"] = params;
        }
        app.authorize(body)
    };
    let a_invoice = object(Kind::Invoice, A, 1);
    let b_invoice = object(Kind::Invoice, B, 1);
    let allowed = |action: &str| {
        json!({"allowed": true, "action": action, "identifier": env.a.id, "admin": "alice",
               "roles": [ROLE], "client_ids": [A]})
    };
    assert_eq!(
        authorize(&env.a, "GetInvoice", Some(json!({"invoiceid": a_invoice}))).await,
        (200, allowed("GetInvoice"))
    );
    assert_eq!(fake.lookups("GetInvoice"), 1);
    let as_text = json!({"invoiceid": a_invoice.to_string(), "responsetype": "json"});
    assert_eq!(
        authorize(&env.a, "getinvoice", Some(as_text)).await,
        (200, allowed("GetInvoice"))
    );
    assert_eq!(fake.lookups("GetInvoice"), 1, "cached");

    let mut with_set = allowed("GetInvoices");
    with_set["set_params"] = json!({"userid": "12"});
    assert_eq!(
        authorize(&env.a, "GetInvoices", Some(json!({}))).await,
        (200, with_set.clone())
    );
    assert_eq!(
        authorize(&env.a, "GetInvoices", None).await,
        (200, with_set)
    );
    assert_eq!(
        authorize(&env.a, "GetInvoices", Some(json!({"userid": 12}))).await,
        (200, allowed("GetInvoices"))
    );

    for (action, params, param) in [
        ("GetInvoice", json!({"invoiceid": b_invoice}), "invoiceid"),
        ("GetInvoice", json!({"invoiceid": 999_999}), "invoiceid"),
        ("GetInvoices", json!({"userid": B}), "userid"),
        ("GetInvoices", json!({"clientid": A}), "clientid"),
        (
            "GetClientsDetails",
            json!({"email": "bob@beta.example"}),
            "email",
        ),
        (
            "GetClientsDomains",
            json!({"domainid": object(Kind::Domain, B, 1)}),
            "domainid",
        ),
    ] {
        let (status, answer) = authorize(&env.a, action, Some(params.clone())).await;
        assert_eq!(status, 403, "{action} {params}");
        assert_eq!(answer["allowed"], false);
        assert_eq!(answer["reason"], "client_scope");
        assert_eq!(answer["param"], param, "{action} {params}");
    }
    let (status, answer) = authorize(&env.a, "GetClients", None).await;
    assert_eq!((status, &answer["reason"]), (403, &json!("client_scope")));
    // Several clients: the parameter must be named.
    let (status, answer) = authorize(&env.ab, "GetInvoices", Some(json!({}))).await;
    assert_eq!((status, &answer["reason"]), (403, &json!("client_scope")));
    assert_eq!(answer["param"], "userid");
    let (status, answer) = authorize(&env.ab, "GetInvoices", Some(json!({"userid": B}))).await;
    assert_eq!((status, &answer["client_ids"]), (200, &json!([A, B])));
    // Unscoped: as before, no client_ids, no lookups.
    let before = fake.lookup_count();
    let (status, answer) = authorize(
        &env.open,
        "GetInvoice",
        Some(json!({"invoiceid": b_invoice})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(answer.get("client_ids").is_none() && answer.get("set_params").is_none());
    assert_eq!(fake.lookup_count(), before);
    // The sidecar never forwards anything.
    assert_eq!(fake.forwarded_count(), 0);

    // Without an upstream, object rules cannot be checked: refused.
    let bare = TestApp::builder().start().await;
    let [a, ..] = credentials(&bare).await;
    let (status, answer) = bare
        .authorize(
            json!({"identifier": a.id, "secret": a.secret, "action": "GetInvoice",
                          "params": {"invoiceid": a_invoice}}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        (&answer["reason"], &answer["param"]),
        (&json!("client_scope"), &json!("invoiceid"))
    );
    let (status, answer) = bare
        .authorize(json!({"identifier": a.id, "secret": a.secret, "action": "GetInvoices"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["set_params"], json!({"userid": "12"}));
}

#[tokio::test]
async fn custom_actions_declare_their_rule() {
    let custom = |action: &str, scope: Option<&str>| CustomAction {
        category: "Custom".into(),
        action: action.into(),
        scope: scope.map(Into::into),
    };
    let catalog = Catalog::with_custom(&[
        custom(
            "GetInvoicesDetails",
            Some("object:invoiceid:GetInvoice:userid"),
        ),
        custom("ClientReport", Some("client_param:clientid")),
        custom("SystemReport", Some("deny")),
        custom("PriceList", Some("public")),
        custom("Unruled", None),
    ])
    .unwrap();
    let fake = FakeWhmcs::start().await;
    let app = TestApp::builder()
        .upstream(&fake.url)
        .catalog(catalog)
        .start()
        .await;
    let [a, ..] = credentials(&app).await;
    let a_invoice = object(Kind::Invoice, A, 1).to_string();
    let b_invoice = object(Kind::Invoice, B, 1).to_string();
    let cases = [
        (
            json_call("GetInvoicesDetails", &[("invoiceid", &a_invoice)]),
            forward(&[]),
        ),
        (
            json_call("GetInvoicesDetails", &[("invoiceid", &b_invoice)]),
            refuse(403, outside("invoiceid")),
        ),
        (
            json_call("GetInvoicesDetails", &[]),
            refuse(400, object_required("invoiceid")),
        ),
        (
            json_call("ClientReport", &[]),
            forward(&[("clientid", "12".into())]),
        ),
        (
            json_call("ClientReport", &[("clientid", "40")]),
            refuse(403, outside("clientid")),
        ),
        (
            json_call("SystemReport", &[]),
            refuse(403, not_available("SystemReport")),
        ),
        (json_call("PriceList", &[]), forward(&[])),
        (
            json_call("Unruled", &[]),
            refuse(403, not_available("Unruled")),
        ),
    ];
    for (sent, expect) in &cases {
        let reply = call(&app, &a, sent).await;
        let forwarded = forwarded_by_tag(&fake);
        if let Err(e) = verify(&fake, &forwarded, sent, &reply, expect) {
            panic!("{sent:?}: {e}");
        }
    }
    assert_lookups_well_formed_for(&fake, &[("GetInvoice", "invoiceid")]);
}

/// Like [`assert_lookups_well_formed`] for a given set of lookups.
fn assert_lookups_well_formed_for(fake: &FakeWhmcs, allowed: &[(&str, &str)]) {
    for call in fake.calls().iter().filter(|c| c.is_lookup()) {
        assert!(
            allowed
                .iter()
                .any(|(action, param)| call.action() == *action && call.get(param).is_some()),
            "{call:?}"
        );
        assert_eq!(call.form.len(), 5, "{call:?}");
    }
}

/// A custom rule may find owners through a built-in lookup action with
/// another parameter (GetTicket takes a ticket id or a ticket number): the
/// owner found for one id must never be taken for the other.
#[tokio::test]
async fn owners_found_through_different_lookup_parameters_are_kept_apart() {
    let catalog = Catalog::with_custom(&[CustomAction {
        category: "Custom".into(),
        action: "GetTicketByNumber".into(),
        scope: Some("object:ticketnum:GetTicket:userid".into()),
    }])
    .unwrap();
    let fake = FakeWhmcs::start().await;
    let app = TestApp::builder()
        .upstream(&fake.url)
        .catalog(catalog)
        .start()
        .await;
    let [a, ..] = credentials(&app).await;
    let by_number = |number: &str| json_call("GetTicketByNumber", &[("ticketnum", number)]);
    let by_id = |action: &str, id: &str| json_call(action, &[("ticketid", id)]);

    // A's ticket's number is B's ticket's id.
    let (a_ticket, b_ticket) = (object(Kind::Ticket, A, 1), object(Kind::Ticket, B, 1));
    fake.set_ticket_number(a_ticket, &b_ticket.to_string());
    let own = call(&app, &a, &by_number(&b_ticket.to_string())).await;
    assert_eq!(own.status, 200, "{}", own.body);
    let delete = call(&app, &a, &by_id("DeleteTicket", &b_ticket.to_string())).await;
    assert!(
        !forwarded_by_tag(&fake).contains_key(&delete.tag),
        "B's ticket {b_ticket} deleted by A's credential"
    );
    assert_eq!(
        (delete.status, delete.message()),
        (403, outside("ticketid"))
    );

    // The other way round: B's ticket's number is A's ticket's id.
    let (a_ticket, b_ticket) = (object(Kind::Ticket, A, 2), object(Kind::Ticket, B, 2));
    fake.set_ticket_number(b_ticket, &a_ticket.to_string());
    let own = call(&app, &a, &by_id("GetTicket", &a_ticket.to_string())).await;
    assert_eq!(own.status, 200, "{}", own.body);
    let foreign = call(&app, &a, &by_number(&a_ticket.to_string())).await;
    assert!(
        !forwarded_by_tag(&fake).contains_key(&foreign.tag),
        "B's ticket numbered {a_ticket} reached by A's credential"
    );
    assert_eq!(
        (foreign.status, foreign.message()),
        (403, outside("ticketnum"))
    );
    assert_lookups_well_formed_for(
        &fake,
        &[("GetTicket", "ticketid"), ("GetTicket", "ticketnum")],
    );
}
