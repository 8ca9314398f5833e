//! Item 2: SASL (RFC 6120 §6, RFC 4616, RFC 5802, RFC 7677), failure rate limit, resource
//! binding (RFC 6120 §7), resource conflict (§7.7.2.2, §4.9.3.3), whitespace keepalive (§4.6.1).

use crate::common::client::{xml, LoginOpts};
use crate::common::{ns, Client, Mech, TestServer, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

fn assert_not_authorized(f: &Element) {
    assert!(f.is("failure", ns::SASL), "expected a SASL <failure/>, got {}", xml(f));
    assert!(
        f.has_child("not-authorized", ns::SASL),
        "expected <failure><not-authorized/></failure>, got {}",
        xml(f)
    );
}

async fn auth_fresh(
    server: &TestServer,
    mech: Mech,
    user: &str,
    pw: &str,
) -> Result<Element, Element> {
    let mut c = Client::connect(server.port(), user).await;
    c.open_stream().await;
    c.auth(mech, user, pw).await
}

#[tokio::test]
async fn plain_success_and_bind_requested_resource() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let mut c = Client::connect(server.port(), "alice").await;
    c.open_stream().await;
    c.auth(Mech::Plain, &alice.name, &alice.password)
        .await
        .unwrap_or_else(|f| panic!("PLAIN failed: {}", xml(&f)));
    let jid = c.bind(Some("phone")).await;
    assert_eq!(jid, format!("{}@{DOMAIN}/phone", alice.name));
}

#[tokio::test]
async fn plain_wrong_password_and_unknown_user_are_not_authorized() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let f = auth_fresh(&server, Mech::Plain, &alice.name, "wrong-password").await.unwrap_err();
    assert_not_authorized(&f);
    let f = auth_fresh(&server, Mech::Plain, "nosuchuser_zz", "x").await.unwrap_err();
    assert_not_authorized(&f);
}

#[tokio::test]
async fn scram_sha_1_success_with_server_signature() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    // Client::auth verifies the server's v= signature and panics on a mismatch.
    auth_fresh(&server, Mech::ScramSha1, &alice.name, &alice.password)
        .await
        .unwrap_or_else(|f| panic!("SCRAM-SHA-1 failed: {}", xml(&f)));
}

#[tokio::test]
async fn scram_sha_256_success_with_server_signature() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    auth_fresh(&server, Mech::ScramSha256, &alice.name, &alice.password)
        .await
        .unwrap_or_else(|f| panic!("SCRAM-SHA-256 failed: {}", xml(&f)));
}

#[tokio::test]
async fn scram_wrong_password_is_not_authorized() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let f = auth_fresh(&server, Mech::ScramSha256, &alice.name, "wrong").await.unwrap_err();
    assert_not_authorized(&f);
    let f = auth_fresh(&server, Mech::ScramSha1, &alice.name, "wrong").await.unwrap_err();
    assert_not_authorized(&f);
}

#[tokio::test]
async fn scram_unknown_user_is_not_authorized() {
    let server = TestServer::start().await;
    // RFC 5802 §9: the server should not reveal whether the user exists; either it answers
    // with a (fake) challenge and fails later, or fails at once: both end in not-authorized.
    let f = auth_fresh(&server, Mech::ScramSha256, "nosuchuser_zz", "x").await.unwrap_err();
    assert_not_authorized(&f);
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_refused() {
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 3\n").await;
    let alice = server.new_user("alice").await;
    for _ in 0..3 {
        let f = auth_fresh(&server, Mech::Plain, &alice.name, "wrong").await.unwrap_err();
        assert_not_authorized(&f);
    }
    // Over the limit: even the right password is refused from this address for now.
    let mut c = Client::connect(server.port(), "alice").await;
    if c.try_send_bytes(Client::header_xml(DOMAIN).as_bytes()).await.is_err() {
        return; // refused at connect: fine
    }
    let mut refused_early = false;
    match c.next_event(Duration::from_secs(5)).await {
        Some(crate::common::Event::Open(_)) => {}
        _ => refused_early = true,
    }
    if refused_early {
        eprintln!("note: 4th attempt refused before the stream header");
        return;
    }
    let features = c.recv().await;
    if features.is("error", ns::STREAM) {
        eprintln!("note: 4th attempt refused with {}", xml(&features));
        return; // refused with a stream error before SASL: fine
    }
    match c.auth(Mech::Plain, &alice.name, &alice.password).await {
        Ok(_) => panic!("4th attempt after 3 failures (max_failures_per_minute = 3) succeeded"),
        Err(f) => {
            eprintln!("note: 4th attempt refused with {}", xml(&f));
            assert!(
                f.is("failure", ns::SASL) || f.is("error", ns::STREAM),
                "expected a SASL failure or stream error, got {}",
                xml(&f)
            );
        }
    }
}

#[tokio::test]
async fn bind_without_resource_gets_a_generated_one() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let c = Client::login_with(
        server.port(),
        &alice,
        LoginOpts { resource: None, presence: None, ..Default::default() },
    )
    .await;
    let prefix = format!("{}@{DOMAIN}/", alice.name);
    assert!(c.jid.starts_with(&prefix), "bound JID {} does not start with {prefix}", c.jid);
    assert!(c.jid.len() > prefix.len(), "empty generated resource: {}", c.jid);
}

#[tokio::test]
async fn two_generated_resources_differ() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let opts = LoginOpts { resource: None, presence: None, ..Default::default() };
    let a = Client::login_with(server.port(), &alice, opts.clone()).await;
    let b = Client::login_with(server.port(), &alice, opts).await;
    assert_ne!(a.jid, b.jid);
}

#[tokio::test]
async fn same_full_jid_again_kicks_the_first_stream_with_conflict() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let mut first = server.login(&alice, "desk").await;
    let mut second = server.login(&alice, "desk").await;
    assert_eq!(second.jid, alice.full("desk"));
    first.expect_stream_error("conflict", Duration::from_secs(5)).await;
    // The new session works.
    second.sync().await;
}

#[tokio::test]
async fn whitespace_keepalive_is_accepted() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let mut c = server.login(&alice, "r").await;
    for _ in 0..5 {
        c.send(" ").await;
        c.send("\n").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.send("\r\n\t ").await;
    c.sync().await;
}

#[tokio::test]
async fn legacy_session_iq_gets_a_result() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let mut c = Client::login_with(
        server.port(),
        &alice,
        LoginOpts { presence: None, ..Default::default() },
    )
    .await;
    // RFC 3921 §3 session establishment; advertised as <optional/>, so a client may still send it.
    c.iq_result("set", None, "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>").await;
}

#[tokio::test]
async fn bind_before_auth_is_refused() {
    let server = TestServer::start().await;
    let mut c = Client::connect(server.port(), "anon").await;
    c.open_stream().await;
    c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>").await;
    // RFC 6120 §4.9.3.12: a not-authorized stream error; since IQs are allowed before auth for
    // XEP-0077, an IQ error is acceptable too. A bound JID is not.
    let r = c
        .try_recv_where(Duration::from_secs(5), |e| e.name == "iq" || e.is("error", ns::STREAM))
        .await
        .unwrap_or_else(|| panic!("no answer to <bind/> before auth"));
    if r.is("error", ns::STREAM) {
        assert!(r.has_child("not-authorized", ns::STREAMS), "{}", xml(&r));
    } else {
        crate::common::client::assert_stanza_error(
            &r,
            "iq",
            &["not-authorized", "service-unavailable", "forbidden", "not-allowed"],
        );
    }
}
