//! A stateful stand-in for WHMCS for the client-scope tests: two clients,
//! A (id 12) and B (id 40), each with two invoices, domains, services,
//! tickets, orders, quotes, contacts and projects (distinct ids), answering
//! the ownership lookup actions of the rules TSV with the JSON shapes of the
//! WHMCS API reference, and recording every call.
//!
//! Lookups and forwarded calls both carry the master credential (keygate
//! forwards every allowed call with it), so the tests mark the calls they
//! send with [`TAG`]: keygate forwards it untouched, and its lookups never
//! carry it. A call without the tag is therefore one of keygate's own
//! ownership lookups.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// Client A.
pub const A: i64 = 12;
/// Client B.
pub const B: i64 = 40;
/// A client id no object belongs to.
pub const NOBODY: i64 = 99;
/// The parameter the tests put on every call they send (never a lookup's).
pub const TAG: &str = "kgtest_tag";
/// The master credential the test app forwards with.
pub const MASTER_ID: &str = "MASTER-ID";
pub const MASTER_SECRET: &str = "MASTER-SECRET";

/// The kinds of client objects the fake holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Invoice,
    Domain,
    Service,
    Ticket,
    Order,
    Quote,
    Contact,
    Project,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Invoice,
        Kind::Domain,
        Kind::Service,
        Kind::Ticket,
        Kind::Order,
        Kind::Quote,
        Kind::Contact,
        Kind::Project,
    ];

    fn base(self) -> u64 {
        match self {
            Kind::Invoice => 1000,
            Kind::Domain => 2000,
            Kind::Service => 3000,
            Kind::Ticket => 4000,
            Kind::Order => 5000,
            Kind::Quote => 6000,
            Kind::Contact => 7000,
            Kind::Project => 8000,
        }
    }

    /// The kind of object a lookup action (as named in the rules TSV)
    /// reads, and the request parameter that action filters by.
    pub fn of_lookup(action: &str) -> Option<(Kind, &'static str)> {
        Some(match action {
            "GetInvoice" => (Kind::Invoice, "invoiceid"),
            "GetClientsDomains" => (Kind::Domain, "domainid"),
            "GetClientsProducts" => (Kind::Service, "serviceid"),
            "GetTicket" => (Kind::Ticket, "ticketid"),
            "GetOrders" => (Kind::Order, "id"),
            "GetQuotes" => (Kind::Quote, "quoteid"),
            "GetProject" => (Kind::Project, "projectid"),
            _ => return None,
        })
    }
}

/// The id of `client`'s `n`th (1 or 2) object of `kind`: A's are
/// 1001, 1002 (invoices), 2001, 2002 (domains), …; B's 1401, 1402, ….
pub fn object(kind: Kind, client: i64, n: u64) -> u64 {
    assert!(
        (1..=2).contains(&n),
        "each client has two objects of a kind"
    );
    let offset = match client {
        A => 0,
        B => 400,
        other => panic!("the fake has no client {other}"),
    };
    kind.base() + offset + n
}

/// A word that appears in every record of `client` (names, emails,
/// domains): a response for one client must never contain the other's.
pub fn marker(client: i64) -> &'static str {
    match client {
        A => "alpha",
        B => "beta",
        other => panic!("the fake has no client {other}"),
    }
}

/// Whether `body` mentions `client` (its marker, in any case).
pub fn mentions(body: &str, client: i64) -> bool {
    body.to_ascii_lowercase().contains(marker(client))
}

/// One call the fake received: the decoded form, in order.
#[derive(Clone, Debug)]
pub struct Call {
    pub form: Vec<(String, String)>,
}

impl Call {
    /// The last value sent under `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn action(&self) -> &str {
        self.get("action").unwrap_or("")
    }

    /// The test's mark: `None` for keygate's own lookups.
    pub fn tag(&self) -> Option<&str> {
        self.get(TAG)
    }

    pub fn is_lookup(&self) -> bool {
        self.tag().is_none()
    }

    /// The form's pairs, sorted (for comparisons that ignore order).
    pub fn sorted(&self) -> Vec<(String, String)> {
        let mut form = self.form.clone();
        form.sort();
        form
    }
}

/// How the fake misbehaves on lookups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer every lookup with this HTTP status and an error page.
    Status(u16),
    /// Answer every lookup 200 with an HTML page instead of JSON.
    Html,
}

#[derive(Default)]
struct Shared {
    calls: Mutex<Vec<Call>>,
    owners: Mutex<BTreeMap<(Kind, u64), i64>>,
    fault: Mutex<Option<Fault>>,
    /// Mix this client's records into every tagged call's answer.
    forge: Mutex<Option<i64>>,
    /// Ticket numbers (`tid`, the client-facing mask) set by a test;
    /// others are [`ticket_number`].
    ticket_numbers: Mutex<BTreeMap<u64, String>>,
}

/// The running fake.
pub struct FakeWhmcs {
    pub url: String,
    shared: Arc<Shared>,
}

impl FakeWhmcs {
    /// Starts on 127.0.0.1:0 with A's and B's objects.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        {
            let mut owners = shared.owners.lock().unwrap();
            for kind in Kind::ALL {
                for client in [A, B] {
                    for n in 1..=2 {
                        owners.insert((kind, object(kind, client, n)), client);
                    }
                }
            }
        }
        let router = axum::Router::new()
            .route("/includes/api.php", axum::routing::post(api))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            url: format!("http://{addr}/includes/api.php"),
            shared,
        }
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The forwarded call carrying `tag`, if it reached the fake.
    pub fn forwarded(&self, tag: &str) -> Option<Call> {
        let calls = self.shared.calls.lock().unwrap();
        let mut found = calls.iter().filter(|c| c.tag() == Some(tag));
        let first = found.next().cloned();
        assert!(found.next().is_none(), "tag {tag} forwarded twice");
        first
    }

    /// How many calls keygate forwarded (tagged calls).
    pub fn forwarded_count(&self) -> usize {
        let calls = self.shared.calls.lock().unwrap();
        calls.iter().filter(|c| !c.is_lookup()).count()
    }

    /// How many ownership lookups of `action` keygate made.
    pub fn lookups(&self, action: &str) -> usize {
        let calls = self.shared.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.is_lookup() && c.action() == action)
            .count()
    }

    /// How many ownership lookups keygate made in all.
    pub fn lookup_count(&self) -> usize {
        let calls = self.shared.calls.lock().unwrap();
        calls.iter().filter(|c| c.is_lookup()).count()
    }

    /// Gives an object to another client (WHMCS admins can move objects).
    pub fn set_owner(&self, kind: Kind, id: u64, client: i64) {
        self.shared
            .owners
            .lock()
            .unwrap()
            .insert((kind, id), client);
    }

    /// Gives ticket `id` the ticket number (`tid`) `number`.
    pub fn set_ticket_number(&self, id: u64, number: &str) {
        let mut numbers = self.shared.ticket_numbers.lock().unwrap();
        numbers.insert(id, number.to_string());
    }

    /// Makes lookups fail (`None`: answer them again).
    pub fn fail_lookups(&self, fault: Option<Fault>) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    /// Mixes `client`'s records into every forwarded call's answer, as a
    /// buggy WHMCS or module might (`None`: answer faithfully).
    pub fn forge(&self, client: Option<i64>) {
        *self.shared.forge.lock().unwrap() = client;
    }

    /// The answer the fake gives (now) to `form`, without recording it.
    pub fn answer_to(&self, form: &[(String, String)]) -> Value {
        let call = Call {
            form: form.to_vec(),
        };
        answer(&self.shared, &call)
    }
}

async fn api(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let call = Call { form };
    shared.calls.lock().unwrap().push(call.clone());
    if call.is_lookup() {
        let fault = *shared.fault.lock().unwrap();
        match fault {
            Some(Fault::Status(status)) => {
                let status = StatusCode::from_u16(status).unwrap();
                let page = "<html><body>Internal Server Error</body></html>";
                return (status, [("content-type", "text/html")], page).into_response();
            }
            Some(Fault::Html) => {
                let page = "<html><body>Maintenance</body></html>";
                return (StatusCode::OK, [("content-type", "text/html")], page).into_response();
            }
            None => {}
        }
    }
    let body = answer(&shared, &call).to_string();
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

/// A request parameter as WHMCS's `(int)` reads it for filtering: absent
/// or empty means "no filter".
fn filter(call: &Call, name: &str) -> Option<u64> {
    call.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| v.trim().parse().unwrap_or(0))
}

fn answer(shared: &Shared, call: &Call) -> Value {
    let owners = shared.owners.lock().unwrap().clone();
    let forge = if call.is_lookup() {
        None
    } else {
        *shared.forge.lock().unwrap()
    };
    let list = |kind: Kind, outer: &str, inner: &str, client: &str, id: Option<&str>| {
        let client = filter(call, client);
        let id = id.and_then(|name| filter(call, name));
        let mut records: Vec<Value> = owners
            .iter()
            .filter(|((k, object), owner)| {
                *k == kind
                    && client.is_none_or(|c| c == **owner as u64)
                    && id.is_none_or(|i| i == *object)
            })
            .map(|((_, object), owner)| record(kind, *object, *owner))
            .collect();
        if let Some(foreign) = forge {
            records.extend(
                owners
                    .iter()
                    .filter(|((k, _), owner)| *k == kind && **owner == foreign)
                    .map(|((_, object), owner)| record(kind, *object, *owner)),
            );
        }
        let mut answer = json!({
            "result": "success",
            "totalresults": records.len(),
            "startnumber": 0,
            "numreturned": records.len(),
        });
        if !records.is_empty() {
            answer[outer] = json!({ inner: records });
        }
        answer
    };
    let single = |kind: Kind, id: u64, what: &str| match owners.get(&(kind, id)) {
        Some(owner) => {
            let owner = forge.unwrap_or(*owner);
            let mut answer = json!({"result": "success"});
            merge(&mut answer, details(kind, id, owner));
            answer
        }
        None => json!({"result": "error", "message": format!("{what} ID Not Found")}),
    };
    match call.action().to_ascii_lowercase().as_str() {
        // Single objects (lookups, and reads a client may forward).
        "getinvoice" => single(Kind::Invoice, id(call, "invoiceid"), "Invoice"),
        "getproject" => single(Kind::Project, id(call, "projectid"), "Project"),
        // By ticket id, or else by the ticket number (`ticketnum`, the
        // client-facing `tid`).
        "getticket" => {
            let numbers = shared.ticket_numbers.lock().unwrap().clone();
            let number_of = |id: u64| numbers.get(&id).cloned().unwrap_or(ticket_number(id));
            let id = match (filter(call, "ticketid"), call.get("ticketnum")) {
                (Some(id), _) => id,
                (None, Some(number)) => owners
                    .keys()
                    .find(|(kind, id)| *kind == Kind::Ticket && number_of(*id) == number)
                    .map_or(0, |(_, id)| *id),
                (None, None) => 0,
            };
            let mut answer = single(Kind::Ticket, id, "Ticket");
            if answer["result"] == "success" {
                answer["tid"] = json!(number_of(id));
            }
            answer
        }
        // Lists, filtered by the client and object parameters they carry
        // (WHMCS ignores parameters it does not know: no filter).
        "getclientsdomains" => {
            let mut answer = list(
                Kind::Domain,
                "domains",
                "domain",
                "clientid",
                Some("domainid"),
            );
            answer["clientid"] = echo(call, "clientid");
            answer["domainid"] = echo(call, "domainid");
            answer
        }
        "getclientsproducts" => {
            let mut answer = list(
                Kind::Service,
                "products",
                "product",
                "clientid",
                Some("serviceid"),
            );
            answer["clientid"] = echo(call, "clientid");
            answer["serviceid"] = echo(call, "serviceid");
            answer["pid"] = Value::Null;
            answer["domain"] = Value::Null;
            answer
        }
        "getorders" => list(Kind::Order, "orders", "order", "userid", Some("id")),
        "getquotes" => list(Kind::Quote, "quotes", "quote", "userid", Some("quoteid")),
        "getinvoices" => list(Kind::Invoice, "invoices", "invoice", "userid", None),
        "gettickets" => list(Kind::Ticket, "tickets", "ticket", "clientid", None),
        "getcontacts" => list(Kind::Contact, "contacts", "contact", "userid", None),
        "getprojects" => list(Kind::Project, "projects", "project", "userid", None),
        "getclientsdetails" | "getclientsdata" | "getclientsdatabyemail" => {
            match filter(call, "clientid").map(|id| id as i64) {
                Some(client @ (A | B)) => client_details(forge.unwrap_or(client)),
                _ => json!({"result": "error", "message": "Client Not Found"}),
            }
        }
        _ => match forge {
            // A buggy answer naming another client.
            Some(foreign) => json!({"result": "success", "userid": foreign.to_string()}),
            None => json!({"result": "success"}),
        },
    }
}

/// A single object's id parameter (absent: 0, which names nothing).
fn id(call: &Call, name: &str) -> u64 {
    filter(call, name).unwrap_or(0)
}

/// The default ticket number of ticket `id` (WHMCS's default mask is six
/// random digits).
pub fn ticket_number(id: u64) -> String {
    (700_000 + id).to_string()
}

/// The value sent under `name`, echoed as WHMCS does (null when absent).
fn echo(call: &Call, name: &str) -> Value {
    call.get(name).map_or(Value::Null, |v| json!(v))
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

fn name(client: i64) -> (&'static str, &'static str) {
    match client {
        A => ("Ada", "Alpha"),
        _ => ("Bob", "Beta"),
    }
}

fn email(client: i64) -> String {
    format!(
        "{}@{}.example",
        name(client).0.to_lowercase(),
        marker(client)
    )
}

/// One object as listed by its list action.
fn record(kind: Kind, id: u64, owner: i64) -> Value {
    let (first, last) = name(owner);
    let mark = marker(owner);
    match kind {
        Kind::Invoice => json!({
            "id": id.to_string(), "userid": owner.to_string(), "firstname": first,
            "lastname": last, "companyname": format!("{last} Ltd"), "invoicenum": "",
            "date": "2024-01-10", "duedate": "2024-01-24", "datepaid": "0000-00-00 00:00:00",
            "subtotal": "10.00", "credit": "0.00", "tax": "0.00", "tax2": "0.00",
            "total": "10.00", "taxrate": "0.00", "taxrate2": "0.00", "status": "Unpaid",
            "paymentmethod": "banktransfer", "notes": "", "currencycode": "USD",
            "currencyprefix": "$", "currencysuffix": " USD",
        }),
        Kind::Domain => json!({
            "id": id, "userid": owner, "orderid": object(Kind::Order, owner, 1),
            "regtype": "Register", "domainname": format!("d{id}.{mark}.example"),
            "registrar": "enom", "regperiod": 1, "firstpaymentamount": "9.95",
            "recurringamount": "9.95", "paymentmethod": "banktransfer",
            "paymentmethodname": "Bank Transfer", "regdate": "2024-01-10",
            "expirydate": "2025-01-10", "nextduedate": "2025-01-10", "status": "Active",
            "subscriptionid": "", "promoid": 0, "dnsmanagement": 0, "emailforwarding": 0,
            "idprotection": 0, "donotrenew": 0, "notes": "",
        }),
        Kind::Service => json!({
            "id": id, "clientid": owner, "orderid": object(Kind::Order, owner, 1),
            "ordernumber": format!("{id}"), "pid": 1, "regdate": "2024-01-10",
            "name": "Starter Hosting", "translated_name": "Starter Hosting",
            "groupname": "Hosting", "domain": format!("s{id}.{mark}.example"),
            "dedicatedip": "", "serverid": 1, "servername": "web1",
            "firstpaymentamount": "5.00", "recurringamount": "5.00",
            "paymentmethod": "banktransfer", "paymentmethodname": "Bank Transfer",
            "billingcycle": "Monthly", "nextduedate": "2024-02-10", "status": "Active",
            "username": format!("{mark}{id}"), "password": "", "subscriptionid": "",
            "promoid": 0, "overideautosuspend": 0, "notes": "",
        }),
        Kind::Ticket => json!({
            "id": id.to_string(), "tid": ticket_number(id), "deptid": "1",
            "userid": owner.to_string(), "name": format!("{first} {last}"),
            "email": email(owner), "cc": "", "c": format!("c{id}"),
            "date": "2024-01-10 10:00:00", "subject": format!("Help {mark}"),
            "status": "Open", "priority": "Medium", "admin": "", "attachment": "",
            "lastreply": "2024-01-10 10:00:00", "flag": "0", "service": "",
        }),
        Kind::Order => json!({
            "id": id, "ordernum": 1_000_000 + id, "userid": owner, "contactid": 0,
            "requestor_id": owner, "admin_requestor_id": 0, "date": "2024-01-10 10:00:00",
            "nameservers": "", "transfersecret": "", "renewals": "", "promocode": "",
            "promotype": "", "promovalue": "", "orderdata": "[]", "amount": "5.00",
            "paymentmethod": "banktransfer", "invoiceid": object(Kind::Invoice, owner, 1),
            "status": "Pending", "ipaddress": "192.0.2.1", "fraudmodule": "",
            "fraudoutput": "", "notes": "", "paymentmethodname": "Bank Transfer",
            "paymentstatus": "Unpaid", "name": format!("{first} {last}"),
            "currencyprefix": "$", "currencysuffix": " USD", "frauddata": "",
            "validationdata": "",
            "lineitems": {"lineitem": [{
                "type": "product", "relid": object(Kind::Service, owner, 1),
                "producttype": "Hosting Account", "product": "Starter Hosting",
                "domain": format!("s{}.{mark}.example", object(Kind::Service, owner, 1)),
                "billingcycle": "Monthly", "amount": "$5.00 USD", "status": "Pending",
            }]},
        }),
        Kind::Quote => json!({
            "id": id, "subject": format!("Quote for {last}"), "stage": "Draft",
            "validuntil": "2024-02-10", "userid": owner, "firstname": first,
            "lastname": last, "companyname": "", "email": email(owner),
            "address1": "", "address2": "", "city": "", "state": "", "postcode": "",
            "country": "US", "phonenumber": "", "currency": 1, "subtotal": "100.00",
            "tax1": "0.00", "tax2": "0.00", "total": "100.00", "proposal": "",
            "customernotes": "", "adminnotes": "", "datecreated": "2024-01-10",
            "lastmodified": "2024-01-10", "datesent": "0000-00-00",
            "dateaccepted": "0000-00-00",
            "items": {"item": [{
                "id": id * 10, "quoteid": id, "description": "Consulting",
                "quantity": "1", "unitprice": "100.00", "discount": "0.00", "taxable": 0,
            }]},
        }),
        Kind::Contact => json!({
            "id": id, "userid": owner, "firstname": "Cora", "lastname": last,
            "companyname": "", "email": format!("cora@{mark}.example"), "address1": "",
            "address2": "", "city": "", "state": "", "postcode": "", "country": "US",
            "phonenumber": "", "permissions": "", "email_preferences": {},
        }),
        Kind::Project => json!({
            "id": id, "userid": owner, "title": format!("Site for {last}"),
            "ticketids": "", "invoiceids": "", "notes": "", "adminid": 1,
            "status": "Pending", "created": "2024-01-10", "duedate": "2024-03-10",
            "completed": 0, "lastmodified": "2024-01-10 10:00:00",
        }),
    }
}

/// One object as its single-object action answers (without `result`).
fn details(kind: Kind, id: u64, owner: i64) -> Value {
    let (first, last) = name(owner);
    let mark = marker(owner);
    match kind {
        Kind::Invoice => json!({
            "invoiceid": id.to_string(), "invoicenum": "", "userid": owner.to_string(),
            "date": "2024-01-10", "duedate": "2024-01-24",
            "datepaid": "0000-00-00 00:00:00", "lastcaptureattempt": "0000-00-00 00:00:00",
            "subtotal": "10.00", "credit": "0.00", "tax": "0.00", "tax2": "0.00",
            "total": "10.00", "balance": "10.00", "taxrate": "0.00", "taxrate2": "0.00",
            "status": "Unpaid", "paymentmethod": "banktransfer", "notes": "",
            "ccgateway": false,
            "items": {"item": [{
                "id": (id * 10).to_string(), "type": "Hosting",
                "relid": object(Kind::Service, owner, 1).to_string(),
                "description": format!("Starter Hosting - s{}.{mark}.example",
                    object(Kind::Service, owner, 1)),
                "amount": "10.00", "taxed": "0",
            }]},
            "transactions": "",
        }),
        Kind::Ticket => json!({
            "ticketid": id.to_string(), "tid": ticket_number(id), "c": format!("c{id}"),
            "deptid": "1", "deptname": "Support", "userid": owner.to_string(),
            "contactid": "0", "name": format!("{first} {last}"), "email": email(owner),
            "cc": "", "date": "2024-01-10 10:00:00", "subject": format!("Help {mark}"),
            "status": "Open", "priority": "Medium", "admin": "",
            "lastreply": "2024-01-10 10:00:00", "flag": "0", "service": "",
            "replies": {"reply": [
                {"replyid": "0", "userid": owner.to_string(), "contactid": "0",
                 "name": format!("{first} {last}"), "email": email(owner),
                 "date": "2024-01-10 10:00:00", "message": "It is broken",
                 "attachment": "", "attachments_removed": false, "admin": "", "rating": "0"},
                {"replyid": (id * 10).to_string(), "userid": "0", "contactid": "0",
                 "name": "", "email": "", "date": "2024-01-10 11:00:00",
                 "message": "Looking into it", "attachment": "",
                 "attachments_removed": false, "admin": "Staff", "rating": "0"},
            ]},
            "notes": "",
        }),
        Kind::Project => json!({
            "projectinfo": record(Kind::Project, id, owner),
            "tasks": {"task": [{
                "id": id * 10, "projectid": id, "adminid": 1, "task": "Design",
                "notes": "", "completed": 0, "created": "2024-01-10",
                "duedate": "2024-02-10", "billed": 0,
            }]},
            "messages": {"message": [{
                "id": id * 10, "date": "2024-01-10", "message": format!("Kickoff {mark}"),
                "adminid": 1,
            }]},
        }),
        other => record(other, id, owner),
    }
}

/// GetClientsDetails' answer for `client` (the legacy flat keys and the
/// `client` object).
fn client_details(client: i64) -> Value {
    let (first, last) = name(client);
    let details = json!({
        "userid": client, "client_id": client, "id": client, "uuid": format!("uuid-{client}"),
        "firstname": first, "lastname": last, "fullname": format!("{first} {last}"),
        "companyname": format!("{last} Ltd"), "email": email(client),
        "address1": "1 Main St", "city": "Springfield", "state": "", "postcode": "00000",
        "country": "US", "phonenumber": "", "currency": 1, "status": "Active",
    });
    let mut answer = Map::new();
    answer.insert("result".into(), json!("success"));
    if let Value::Object(flat) = details.clone() {
        answer.extend(flat);
    }
    answer.insert("client".into(), details);
    answer.insert("stats".into(), json!({"numactiveservices": 1}));
    Value::Object(answer)
}
