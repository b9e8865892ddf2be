//! The client scope as tables: the compiled-in rule table is whole and
//! well formed, and the request and response checks decide as DESIGN.md's
//! "Client scope" says.

use super::*;
use crate::catalog::Catalog;
use crate::model::ClientId;
use crate::params::{urlencoded, CanonicalParams};

fn params(form: &str) -> CanonicalParams {
    CanonicalParams::from_sources(&urlencoded::parse(form.as_bytes()), &[]).unwrap()
}

fn rule(action: &str) -> &'static ScopeRule {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG
        .get_or_init(Catalog::builtin)
        .scope_rule(action)
        .unwrap_or_else(|| panic!("no rule for {action}"))
}

const A: ClientId = ClientId(12);
const B: ClientId = ClientId(40);

#[test]
fn every_catalog_action_and_alias_has_exactly_one_well_formed_rule() {
    let catalog = Catalog::builtin();
    let rows: Vec<_> = builtin_rows().collect::<Result<_, _>>().unwrap();
    let names: Vec<&str> = rows.iter().map(|(action, _)| *action).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "an action has two rows");
    for (_, def) in catalog.actions() {
        assert!(
            names.contains(&def.name.as_str()),
            "{} has no rule",
            def.name
        );
    }
    for (alias, _) in catalog.aliases() {
        assert!(names.contains(&alias), "alias {alias} has no rule");
    }
    for (action, rule) in &rows {
        assert!(
            catalog.resolve(action).is_some(),
            "{action} is not in the catalog"
        );
        if let Scope::Object { lookup, .. } | Scope::ClientParamAndObject { lookup, .. } =
            &rule.scope
        {
            assert!(
                catalog.resolve(&lookup.action).is_some(),
                "{action}: lookup {} is not in the catalog",
                lookup.action
            );
        }
    }
}

#[test]
fn staff_and_global_actions_are_denied_and_catalog_data_is_public() {
    for action in [
        "AddClient",
        "DeleteClient",
        "GetClients",
        "GetAdminUsers",
        "DecryptPassword",
        "CreateSsoToken",
        "SendAdminEmail",
        "GetUsers",
    ] {
        assert_eq!(rule(action).scope, Scope::Deny, "{action}");
    }
    for action in ["GetProducts", "GetCurrencies"] {
        assert_eq!(rule(action).scope, Scope::Public, "{action}");
    }
}

#[test]
fn request_checks_decide_as_the_contract_says() {
    use ScopeRefusal::*;
    let json = "responsetype=json";
    type Expect = Result<(Option<(&'static str, ClientId)>, Option<u64>), ScopeRefusal<'static>>;
    let cases: &[(&str, &[ClientId], String, Expect)] = &[
        // client_param: set when absent with one client, checked when sent.
        (
            "GetInvoices",
            &[A],
            json.to_string(),
            Ok((Some(("userid", A)), None)),
        ),
        (
            "GetInvoices",
            &[A],
            format!("{json}&userid=12"),
            Ok((None, None)),
        ),
        (
            "GetInvoices",
            &[A, B],
            format!("{json}&userid=40"),
            Ok((None, None)),
        ),
        (
            "GetInvoices",
            &[A],
            format!("{json}&userid=40"),
            Err(OutsideScope("userid")),
        ),
        (
            "GetInvoices",
            &[A, B],
            json.into(),
            Err(ClientRequired("userid")),
        ),
        // Only canonical ids: everything else may read differently in PHP/SQL.
        (
            "GetInvoices",
            &[A],
            format!("{json}&userid=012"),
            Err(OutsideScope("userid")),
        ),
        (
            "GetInvoices",
            &[A],
            format!("{json}&userid=12abc"),
            Err(OutsideScope("userid")),
        ),
        (
            "GetInvoices",
            &[A],
            format!("{json}&userid=%2012"),
            Err(OutsideScope("userid")),
        ),
        (
            "GetInvoices",
            &[A],
            format!("{json}&userid=1.2e1"),
            Err(OutsideScope("userid")),
        ),
        (
            "GetInvoices",
            &[A],
            format!("{json}&userid[]=12"),
            Err(OutsideScope("userid")),
        ),
        (
            "GetInvoices",
            &[A],
            format!("{json}&UserID=40"),
            Err(OutsideScope("userid")),
        ),
        // Other client names are refused unless the rule checks them.
        (
            "GetInvoices",
            &[A],
            format!("{json}&clientid=40"),
            Err(OutsideScope("clientid")),
        ),
        // object: required, canonical, looked up.
        (
            "GetInvoice",
            &[A],
            format!("{json}&invoiceid=7"),
            Ok((None, Some(7))),
        ),
        (
            "GetInvoice",
            &[A],
            json.into(),
            Err(ObjectRequired("invoiceid")),
        ),
        (
            "GetInvoice",
            &[A],
            format!("{json}&invoiceid=-7"),
            Err(OutsideScope("invoiceid")),
        ),
        (
            "GetInvoice",
            &[A],
            format!("{json}&invoiceid[a]=7"),
            Err(OutsideScope("invoiceid")),
        ),
        // client_param+object: the object is optional.
        (
            "GetClientsDomains",
            &[A],
            json.into(),
            Ok((Some(("clientid", A)), None)),
        ),
        (
            "GetClientsDomains",
            &[A],
            format!("{json}&domainid=3"),
            Ok((Some(("clientid", A)), Some(3))),
        ),
        // indirect parameters.
        (
            "GetClientsDetails",
            &[A],
            format!("{json}&email=b%40x.test"),
            Err(OutsideScope("email")),
        ),
        (
            "GetClientsDataByEmail",
            &[A],
            format!("{json}&email=x"),
            Err(OutsideScope("email")),
        ),
        // deny, public, formats.
        ("GetClients", &[A], json.into(), Err(NotAvailable)),
        (
            "GetProducts",
            &[A],
            "responsetype=xml".into(),
            Ok((None, None)),
        ),
        (
            "GetInvoices",
            &[A],
            "responsetype=xml".into(),
            Err(JsonRequired),
        ),
        ("GetInvoices", &[A], "userid=12".into(), Err(JsonRequired)),
    ];
    for (action, clients, form, expected) in cases {
        let params = params(form);
        let got = check(Some(rule(action)), clients, &params)
            .map(|plan| (plan.set, plan.lookup.map(|l| l.object_id)));
        assert_eq!(&got, expected, "{action} {clients:?} {form}");
    }
    assert_eq!(check(None, &[A], &params(json)), Err(NotAvailable));
}

#[test]
fn custom_rules_read_from_the_config() {
    let object = ScopeRule::from_config("object:widgetid:GetWidget:widget.owner").unwrap();
    let Scope::Object { param, lookup } = &object.scope else {
        panic!("{object:?}")
    };
    assert_eq!(&**param, "widgetid");
    assert_eq!(&*lookup.action, "GetWidget");
    assert_eq!(
        lookup.answer(br#"{"result":"success","widget":{"owner":"12"}}"#),
        LookupAnswer::Owner(A)
    );
    assert!(matches!(
        ScopeRule::from_config("client_param:userid").unwrap().scope,
        Scope::ClientParam { .. }
    ));
    for bad in [
        "",
        "nope",
        "object:x",
        "client_param:a b",
        "object:x:Bad Action:y",
    ] {
        assert!(ScopeRule::from_config(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn lookup_answers() {
    let Scope::ClientParamAndObject { lookup, .. } = &rule("GetClientsDomains").scope else {
        panic!()
    };
    let cases: &[(&str, LookupAnswer)] = &[
        (
            r#"{"result":"success","domains":{"domain":[{"id":3,"userid":12}]}}"#,
            LookupAnswer::Owner(A),
        ),
        (
            r#"{"result":"success","domains":{"domain":[{"id":3,"userid":"40"}]}}"#,
            LookupAnswer::Owner(B),
        ),
        (
            r#"{"result":"success","totalresults":0,"domains":[]}"#,
            LookupAnswer::NotFound,
        ),
        (
            r#"{"result":"error","message":"Domain ID Not Found"}"#,
            LookupAnswer::NotFound,
        ),
        (
            r#"{"result":"success","domains":{"domain":[{"userid":0}]}}"#,
            LookupAnswer::NotFound,
        ),
        (
            r#"{"result":"success","domains":{"domain":[{"userid":"12x"}]}}"#,
            LookupAnswer::NotFound,
        ),
        ("<html>", LookupAnswer::Unreadable),
    ];
    for (body, expected) in cases {
        assert_eq!(lookup.answer(body.as_bytes()), *expected, "{body}");
    }
}

#[test]
fn responses_with_other_clients_records_are_caught_at_any_depth() {
    let ok = |body: &str, clients: &[ClientId]| check_response(body.as_bytes(), &[], clients);
    assert_eq!(ok(r#"{"result":"success","userid":12}"#, &[A]), Ok(()));
    assert_eq!(
        ok(
            r#"{"invoices":{"invoice":[{"userid":"12"},{"userid":0}]}}"#,
            &[A]
        ),
        Ok(())
    );
    assert_eq!(ok(r#"{"a":[{"b":{"ClientID":""}}]}"#, &[A]), Ok(()));
    assert!(matches!(
        ok(
            r#"{"invoices":{"invoice":[{"userid":"12"},{"userid":"40"}]}}"#,
            &[A]
        ),
        Err(ResponseViolation::ForeignOwner { .. })
    ));
    assert!(matches!(
        ok(r#"{"x":[[{"client_id":40}]]}"#, &[A]),
        Err(ResponseViolation::ForeignOwner { .. })
    ));
    assert!(matches!(
        ok(r#"{"userid":"12 "}"#, &[A]),
        Err(ResponseViolation::ForeignOwner { .. })
    ));
    assert_eq!(
        ok("result=success;userid=40", &[A]),
        Err(ResponseViolation::NotJson)
    );
    assert_eq!(ok(r#"{"userid":40}"#, &[A, B]), Ok(()));
    // Escaped names are names; trailing bytes or a cut-off document are
    // not JSON; a rule's own keys count too.
    assert!(matches!(
        ok(r#"{"user\u0069d":40}"#, &[A]),
        Err(ResponseViolation::ForeignOwner { .. })
    ));
    assert_eq!(
        ok(r#"{"userid":12} x"#, &[A]),
        Err(ResponseViolation::NotJson)
    );
    assert_eq!(ok(r#"{"a":[1,2"#, &[A]), Err(ResponseViolation::NotJson));
    assert!(ok(r#"{"userid":{"id":12}}"#, &[A]).is_err());
    let owner: Box<[Box<str>]> = [Box::from("owner_id")].into();
    assert!(check_response(br#"{"x":{"owner_id":"40"}}"#, &owner, &[A]).is_err());
    assert_eq!(
        check_response(br#"{"x":{"owner_id":"12"}}"#, &owner, &[A]),
        Ok(())
    );
}
