//! Parsing the upstream URL into what every request needs.

use super::*;

fn target(url: &str) -> Target {
    Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e:#}"))
}

#[test]
fn urls_become_host_port_and_request_head() {
    let plain = target("http://127.0.0.1:8080/includes/api.php");
    assert_eq!(
        (plain.https, plain.host.as_str(), plain.port),
        (false, "127.0.0.1", 8080)
    );
    assert_eq!(plain.authority, "127.0.0.1:8080");
    let head = String::from_utf8(plain.request_head()).unwrap();
    assert_eq!(
        head,
        format!(
            "POST /includes/api.php HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: {USER_AGENT}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
        )
    );
    let tls = target("https://billing.example.com/whmcs/includes/api.php?x=1");
    assert_eq!(
        (tls.https, tls.host.as_str(), tls.port),
        (true, "billing.example.com", 443)
    );
    assert_eq!(tls.authority, "billing.example.com");
    assert_eq!(tls.path_and_query, "/whmcs/includes/api.php?x=1");
    let v6 = target("http://[::1]:9000/api.php");
    assert_eq!(
        (v6.host.as_str(), v6.port, v6.authority.as_str()),
        ("::1", 9000, "[::1]:9000")
    );
    assert_eq!(target("http://whmcs").path_and_query, "/");
    assert_eq!(target("http://whmcs").port, 80);
}

#[test]
fn user_information_becomes_basic_authentication() {
    let t = target("https://api%20user:p%40ss@whmcs.example/includes/api.php");
    assert_eq!(t.authority, "whmcs.example");
    // base64("api user:p@ss")
    assert_eq!(t.basic.as_deref(), Some("YXBpIHVzZXI6cEBzcw=="));
    let head = String::from_utf8(t.request_head()).unwrap();
    assert!(
        head.contains("\r\nAuthorization: Basic YXBpIHVzZXI6cEBzcw==\r\n"),
        "{head}"
    );
    assert_eq!(percent_decode("a%zz%4"), b"a%zz%4");
}

#[test]
fn other_urls_are_refused_with_a_reason() {
    for (url, reason) in [
        (
            "ftp://whmcs/includes/api.php",
            "must start with http:// or https://",
        ),
        ("/includes/api.php", "must start with http:// or https://"),
        ("http://", "is not a URL"),
        ("not a url", "is not a URL"),
    ] {
        let error = format!("{:#}", Target::parse(url).unwrap_err());
        assert!(error.contains(reason), "{url}: {error}");
    }
}
