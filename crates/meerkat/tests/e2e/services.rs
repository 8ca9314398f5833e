//! Item 6: services: disco (XEP-0030), ping (XEP-0199), version (XEP-0092), time (XEP-0202),
//! last activity (XEP-0012), in-band registration (XEP-0077).

use crate::common::client::{assert_stanza_error, xml};
use crate::common::{ns, Client, Mech, TestServer, User, DOMAIN};
use std::time::{Duration, Instant};

fn features_of(result: &meerkat_xml::Element) -> Vec<String> {
    result
        .get_child("query", ns::DISCO_INFO)
        .map(|q| {
            q.children()
                .filter(|f| f.is("feature", ns::DISCO_INFO))
                .filter_map(|f| f.attr("var").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn has_identity(result: &meerkat_xml::Element, category: &str, typ: &str) -> bool {
    result.get_child("query", ns::DISCO_INFO).is_some_and(|q| {
        q.children().any(|i| {
            i.is("identity", ns::DISCO_INFO)
                && i.attr("category") == Some(category)
                && i.attr("type") == Some(typ)
        })
    })
}

#[tokio::test]
async fn disco_info_of_the_server() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice
        .iq_result("get", Some(DOMAIN), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    assert_eq!(r.attr("from"), Some(DOMAIN), "{}", xml(&r));
    assert!(has_identity(&r, "server", "im"), "no identity server/im: {}", xml(&r));
    let f = features_of(&r);
    for want in [
        ns::DISCO_INFO,
        ns::DISCO_ITEMS,
        ns::PING,
        ns::VERSION,
        ns::TIME,
        ns::LAST,
        ns::REGISTER,
        ns::MSGOFFLINE,
    ] {
        assert!(f.iter().any(|x| x == want), "feature {want} missing: {}", xml(&r));
    }
}

/// Module features are advertised exactly when the module is enabled: on by default, absent
/// from the server's and the account's disco#info once the configuration turns them off.
#[tokio::test]
async fn disco_advertises_only_enabled_modules() {
    const MODULES: [(&str, &str, bool); 8] = [
        ("carbons", "urn:xmpp:carbons:2", false),
        ("mam", "urn:xmpp:sid:0", false),
        ("mam", "urn:xmpp:mam:2", false),
        ("mam", "urn:xmpp:mam:2", true),
        ("blocking", "urn:xmpp:blocking", false),
        ("vcard", "vcard-temp", false),
        ("private", "jabber:iq:private", false),
        ("adhoc", "http://jabber.org/protocol/commands", false),
    ];
    let disco = "<query xmlns='http://jabber.org/protocol/disco#info'/>";
    let off: String = ["carbons", "mam", "blocking", "vcard", "private", "adhoc"]
        .iter()
        .map(|m| format!("[modules.{m}]\nenabled = false\n"))
        .collect();
    for (config, enabled) in [(String::new(), true), (off, false)] {
        let server = TestServer::with(&config).await;
        let a = server.new_user("alice").await;
        let mut alice = server.login(&a, "r").await;
        let on_server = features_of(&alice.iq_result("get", Some(DOMAIN), disco).await);
        let on_account = features_of(&alice.iq_result("get", Some(&a.bare()), disco).await);
        for (module, var, account_only) in MODULES {
            let f = if account_only { &on_account } else { &on_server };
            assert_eq!(
                f.iter().any(|x| x == var),
                enabled,
                "{module} {var} (enabled: {enabled}): {f:?}"
            );
        }
    }
}

#[tokio::test]
async fn disco_info_of_own_account() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice
        .iq_result("get", Some(&a.bare()), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    assert!(
        has_identity(&r, "account", "registered"),
        "no identity account/registered: {}",
        xml(&r)
    );
}

#[tokio::test]
async fn disco_items_of_the_server() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice
        .iq_result("get", Some(DOMAIN), "<query xmlns='http://jabber.org/protocol/disco#items'/>")
        .await;
    assert!(r.has_child("query", ns::DISCO_ITEMS), "{}", xml(&r));
}

#[tokio::test]
async fn ping_the_server() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice.iq_result("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("from"), Some(DOMAIN), "{}", xml(&r));
    assert!(r.children().next().is_none(), "ping result must be empty: {}", xml(&r));
}

#[tokio::test]
async fn server_pings_a_silent_client_and_disconnects_it() {
    let server = TestServer::with("[modules.ping]\ninterval_ms = 1000\ntimeout_ms = 1000\n").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let start = Instant::now();
    let ping = alice
        .try_recv_where(Duration::from_secs(4), |e| e.name == "iq" && e.has_child("ping", ns::PING))
        .await
        .unwrap_or_else(|| panic!("no server ping within 4 s with interval_ms = 1000"));
    assert_eq!(ping.attr("type"), Some("get"), "{}", xml(&ping));
    assert_eq!(ping.attr("from"), Some(DOMAIN), "{}", xml(&ping));
    // Not answered: the node must drop us soon.
    alice.expect_stream_end(Duration::from_secs(5)).await;
    assert!(start.elapsed() < Duration::from_secs(8), "disconnect took {:?}", start.elapsed());
}

#[tokio::test]
async fn client_answering_server_pings_stays_connected() {
    let server = TestServer::with("[modules.ping]\ninterval_ms = 1000\ntimeout_ms = 1000\n").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let until = Instant::now() + Duration::from_millis(4500);
    let mut answered = 0;
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        if let Some(p) =
            alice.try_recv_where(left, |e| e.name == "iq" && e.has_child("ping", ns::PING)).await
        {
            alice.reply_result(&p).await;
            answered += 1;
        }
    }
    assert!(answered >= 1, "expected server pings within 4.5 s");
    alice.sync().await;
}

#[tokio::test]
async fn software_version() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice.iq_result("get", Some(DOMAIN), "<query xmlns='jabber:iq:version'/>").await;
    let q = r.get_child("query", ns::VERSION).unwrap_or_else(|| panic!("{}", xml(&r)));
    assert_eq!(
        q.get_child("name", ns::VERSION).map(|n| n.text()).as_deref(),
        Some("Meerkat"),
        "{}",
        xml(&r)
    );
    let v = q.get_child("version", ns::VERSION).map(|n| n.text()).unwrap_or_default();
    assert!(!v.is_empty(), "empty version: {}", xml(&r));
}

#[tokio::test]
async fn entity_time() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice.iq_result("get", Some(DOMAIN), "<time xmlns='urn:xmpp:time'/>").await;
    let t = r.get_child("time", ns::TIME).unwrap_or_else(|| panic!("{}", xml(&r)));
    let tzo = t.get_child("tzo", ns::TIME).map(|x| x.text()).unwrap_or_default();
    let utc = t.get_child("utc", ns::TIME).map(|x| x.text()).unwrap_or_default();
    let tzo_ok = tzo == "Z"
        || (tzo.len() == 6
            && (tzo.starts_with('+') || tzo.starts_with('-'))
            && tzo.as_bytes()[3] == b':');
    assert!(tzo_ok, "tzo {tzo:?} is not [+-]hh:mm or Z: {}", xml(&r));
    assert!(
        utc.ends_with('Z') && utc.len() >= 20 && utc.as_bytes()[10] == b'T',
        "utc {utc:?}: {}",
        xml(&r)
    );
}

#[tokio::test]
async fn last_activity_of_the_server_is_its_uptime() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice.iq_result("get", Some(DOMAIN), "<query xmlns='jabber:iq:last'/>").await;
    let q = r.get_child("query", ns::LAST).unwrap_or_else(|| panic!("{}", xml(&r)));
    let secs: u64 = q
        .attr("seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("seconds missing or not a number: {}", xml(&r)));
    assert!(secs < 600, "uptime of a fresh node: {secs}");
}

#[tokio::test]
async fn last_activity_of_an_offline_contact() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    // alice subscribes to bob's presence (bob approves).
    alice.send(&format!("<presence to='{}' type='subscribe'/>", b.bare())).await;
    bob.recv_where("subscribe", |e| e.attr("type") == Some("subscribe")).await;
    bob.send(&format!("<presence to='{}' type='subscribed'/>", a.bare())).await;
    alice.recv_where("subscribed", |e| e.attr("type") == Some("subscribed")).await;
    bob.send("<presence type='unavailable'><status>gone fishing</status></presence>").await;
    bob.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = alice.iq_result("get", Some(&b.bare()), "<query xmlns='jabber:iq:last'/>").await;
    assert_eq!(r.attr("from"), Some(b.bare().as_str()), "{}", xml(&r));
    let q = r.get_child("query", ns::LAST).unwrap_or_else(|| panic!("{}", xml(&r)));
    let secs: u64 = q
        .attr("seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("seconds missing or not a number: {}", xml(&r)));
    assert!(secs < 60, "bob logged out just now, got {secs} s: {}", xml(&r));
}

#[tokio::test]
async fn last_activity_of_a_non_contact_is_forbidden() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    server.login(&b, "r").await.close().await;
    let r = alice.iq("get", Some(&b.bare()), "<query xmlns='jabber:iq:last'/>").await;
    // XEP-0012 §4: only entities with a subscription may see it.
    assert_stanza_error(&r, "iq", &["forbidden", "service-unavailable", "not-authorized"]);
}

#[tokio::test]
async fn registration_form_then_register_then_login() {
    let server = TestServer::start().await;
    let mut c = Client::connect(server.port(), "newbie").await;
    c.open_stream().await;
    let form = c.iq_result("get", None, "<query xmlns='jabber:iq:register'/>").await;
    let q = form.get_child("query", ns::REGISTER).unwrap_or_else(|| panic!("{}", xml(&form)));
    assert!(q.has_child("username", ns::REGISTER), "form without <username/>: {}", xml(&form));
    assert!(q.has_child("password", ns::REGISTER), "form without <password/>: {}", xml(&form));
    assert!(!q.has_child("registered", ns::REGISTER), "{}", xml(&form));

    let u = User { name: crate::common::unique("newbie"), password: "s3cret".into() };
    c.register_in_band(&u.name, &u.password).await;

    let mut again = Client::connect(server.port(), "again").await;
    again.open_stream().await;
    let r = again
        .iq("set", None, &format!(
            "<query xmlns='jabber:iq:register'><username>{}</username><password>x</password></query>",
            u.name
        ))
        .await;
    assert_stanza_error(&r, "iq", &["conflict"]);

    let mut me = server.login(&u, "r").await;
    me.sync().await;
}

#[tokio::test]
async fn password_change_by_logged_in_user() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    alice
        .iq_result(
            "set",
            None,
            &format!(
                "<query xmlns='jabber:iq:register'><username>{}</username><password>n3w-pass</password></query>",
                a.name
            ),
        )
        .await;
    let new = User { name: a.name.clone(), password: "n3w-pass".into() };
    let mut c = Client::connect(server.port(), "new").await;
    c.open_stream().await;
    c.auth(Mech::ScramSha256, &new.name, &new.password)
        .await
        .unwrap_or_else(|f| panic!("login with the new password failed: {}", xml(&f)));
    let mut c = Client::connect(server.port(), "old").await;
    c.open_stream().await;
    let f = c.auth(Mech::Plain, &a.name, &a.password).await.unwrap_err();
    assert!(f.has_child("not-authorized", ns::SASL), "{}", xml(&f));
}

#[tokio::test]
async fn registration_refused_from_a_disallowed_address() {
    let server = TestServer::with("[modules.register]\nallowed_ips = [\"10.0.0.0/8\"]\n").await;
    let mut c = Client::connect(server.port(), "newbie").await;
    c.open_stream().await;
    let name = crate::common::unique("newbie");
    let r = c
        .iq("set", None, &format!(
            "<query xmlns='jabber:iq:register'><username>{name}</username><password>pw</password></query>"
        ))
        .await;
    assert_stanza_error(&r, "iq", &["not-allowed", "forbidden"]);
    // And the account does not exist.
    let mut c = Client::connect(server.port(), "check").await;
    c.open_stream().await;
    let f = c.auth(Mech::Plain, &name, "pw").await.unwrap_err();
    assert!(f.has_child("not-authorized", ns::SASL), "{}", xml(&f));
}

#[tokio::test]
async fn account_removal() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let id = alice.new_id();
    alice
        .send(&format!(
            "<iq type='set' id='{id}'><query xmlns='jabber:iq:register'><remove/></query></iq>"
        ))
        .await;
    // XEP-0077 §3.2: a result, after which the server may close the stream (not-authorized).
    let r = alice
        .try_recv_where(Duration::from_secs(5), |e| {
            e.attr("id") == Some(id.as_str()) || e.is("error", ns::STREAM)
        })
        .await;
    match r {
        Some(r) if r.name == "iq" => assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r)),
        Some(_stream_error) => {}
        None => panic!("no answer to <remove/> within 5 s"),
    }
    let mut c = Client::connect(server.port(), "check").await;
    c.open_stream().await;
    let f = c.auth(Mech::Plain, &a.name, &a.password).await.unwrap_err();
    assert!(
        f.has_child("not-authorized", ns::SASL),
        "removed account can still log in: {}",
        xml(&f)
    );
}
