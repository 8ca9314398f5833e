//! Issue 4: Stream Management (XEP-0198) over real sockets: enable, acks both ways, resumption
//! from a new connection (detached and still attached), failed resumptions, the
//! handled-count-too-high error, unacked overflow, and what happens at the resumption timeout.

use crate::common::client::{xml, LoginOpts};
use crate::common::{ns, Client, TestServer, User, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

pub const SM: &str = "urn:xmpp:sm:3";

/// Deterministic traffic: the server asks for no acks by itself.
pub const NO_SERVER_REQUESTS: &str =
    "[modules.stream_management]\nack_request_every_stanzas = 0\nack_request_after_ms = 0\n";

fn is_sm(e: &Element, name: &str) -> bool {
    e.is(name, SM)
}

/// Logs in (PLAIN, resource `res`) without initial presence.
pub async fn login_quiet(server: &TestServer, u: &User, res: &str) -> Client {
    let opts = LoginOpts { resource: Some(res.into()), presence: None, ..Default::default() };
    Client::login_with(server.port(), u, opts).await
}

/// Sends `<enable/>` and returns `<enabled/>`.
pub async fn enable(c: &mut Client, attrs: &str) -> Element {
    c.send(&format!("<enable xmlns='{SM}'{attrs}/>")).await;
    c.recv_where("<enabled/>", |e| is_sm(e, "enabled") || is_sm(e, "failed")).await
}

/// Sends `<r/>` and returns the `h` of the `<a/>`.
pub async fn ask_h(c: &mut Client) -> u32 {
    c.send(&format!("<r xmlns='{SM}'/>")).await;
    let a = c.recv_where("<a/>", |e| is_sm(e, "a")).await;
    a.attr("h").and_then(|h| h.parse().ok()).unwrap_or_else(|| panic!("bad <a/>: {}", xml(&a)))
}

/// A fresh connection authenticated as `u`, stopped before bind.
async fn authenticated(server: &TestServer, u: &User) -> Client {
    let mut c = Client::connect(server.port(), &u.name).await;
    c.open_stream().await;
    if let Err(f) = c.auth(crate::common::Mech::Plain, &u.name, &u.password).await {
        panic!("login failed: {}", xml(&f));
    }
    c
}

/// `<resume/>` on a fresh authenticated connection; returns the connection and the answer
/// (`<resumed/>` or `<failed/>`).
pub async fn resume(server: &TestServer, u: &User, previd: &str, h: u32) -> (Client, Element) {
    let mut c = authenticated(server, u).await;
    c.send(&format!("<resume xmlns='{SM}' previd='{previd}' h='{h}'/>")).await;
    let r = c
        .recv_where("<resumed/> or <failed/>", |e| is_sm(e, "resumed") || is_sm(e, "failed"))
        .await;
    (c, r)
}

fn chat(to: &str, id: &str, body: &str) -> String {
    format!("<message to='{to}' type='chat' id='{id}'><body>{body}</body></message>")
}

fn body(e: &Element) -> String {
    e.get_child("body", ns::CLIENT).map(|b| b.text()).unwrap_or_default()
}

/// Subscribes `a` and `b` to each other's presence (both online and available).
pub async fn make_mutual(a: &mut Client, b: &mut Client) {
    subscribe(a, b).await;
    subscribe(b, a).await;
}

/// `x` subscribes to `y`, `y` approves, `x` gets `y`'s presence.
async fn subscribe(x: &mut Client, y: &mut Client) {
    let yb = crate::common::client::bare(&y.jid).to_string();
    let xb = crate::common::client::bare(&x.jid).to_string();
    x.send(&format!("<presence to='{yb}' type='subscribe'/>")).await;
    y.recv_where("subscribe", |e| e.name == "presence" && e.attr("type") == Some("subscribe"))
        .await;
    y.send(&format!("<presence to='{xb}' type='subscribed'/>")).await;
    let yj = y.jid.clone();
    x.recv_where("y's presence", |e| {
        e.name == "presence" && e.attr("from") == Some(yj.as_str()) && e.attr("type").is_none()
    })
    .await;
}

#[tokio::test]
async fn features_offer_sm_and_enable_answers_enabled_exactly() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut c = authenticated(&server, &a).await;
    let f = c.features.clone().expect("post-auth features");
    assert!(f.has_child("sm", SM), "{}", xml(&f));
    c.bind(Some("r")).await;
    let e = enable(&mut c, " resume='true'").await;
    let id = e.attr("id").unwrap_or_default().to_string();
    assert_eq!(id.len(), 32, "{}", xml(&e));
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{}", xml(&e));
    assert_eq!(xml(&e), format!("<enabled xmlns='{SM}' id='{id}' resume='true' max='300'/>"));
    // Enabling twice is refused.
    let again = enable(&mut c, "").await;
    assert_eq!(
        xml(&again),
        format!("<failed xmlns='{SM}'><unexpected-request xmlns='{}'/></failed>", ns::STANZAS)
    );
    // Without resume: no id; a client max above ours is capped.
    let mut d = login_quiet(&server, &a, "r2").await;
    assert_eq!(xml(&enable(&mut d, "").await), format!("<enabled xmlns='{SM}'/>"));
    let mut e2 = login_quiet(&server, &a, "r3").await;
    let en = enable(&mut e2, " resume='1' max='100000'").await;
    assert_eq!(en.attr("max"), Some("600"), "{}", xml(&en));
}

#[tokio::test]
async fn enable_before_bind_fails_then_bind_works() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut c = authenticated(&server, &a).await;
    let f = enable(&mut c, " resume='true'").await;
    assert_eq!(
        xml(&f),
        format!("<failed xmlns='{SM}'><unexpected-request xmlns='{}'/></failed>", ns::STANZAS)
    );
    c.bind(Some("r")).await;
    c.sync().await;
}

#[tokio::test]
async fn r_and_a_count_stanzas_both_ways_and_too_high_h_is_a_stream_error() {
    let server = TestServer::with(NO_SERVER_REQUESTS).await;
    let a = server.new_user("alice").await;
    let mut c = login_quiet(&server, &a, "r").await;
    enable(&mut c, "").await;
    assert_eq!(ask_h(&mut c).await, 0);
    for _ in 0..3 {
        c.sync().await; // one IQ in, one IQ result out
    }
    c.send(&format!("<r xmlns='{SM}'/>")).await;
    let a_el = c.recv_where("<a/>", |e| is_sm(e, "a")).await;
    assert_eq!(xml(&a_el), format!("<a xmlns='{SM}' h='3'/>"));
    // Acking what was sent is fine, twice too.
    c.send(&format!("<a xmlns='{SM}' h='2'/><a xmlns='{SM}' h='3'/>")).await;
    c.sync().await; // 4 sent now
    c.send(&format!("<a xmlns='{SM}' h='6'/>")).await;
    let err = c.recv_stream_error(Duration::from_secs(5)).await;
    assert_eq!(
        xml(&err),
        format!(
            "<error xmlns='{}'><undefined-condition xmlns='{}'/>\
             <handled-count-too-high xmlns='{SM}' h='6' send-count='4'/></error>",
            ns::STREAM,
            ns::STREAMS
        )
    );
}

#[tokio::test]
async fn sm_nonzas_without_enable_are_unsupported() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut c = login_quiet(&server, &a, "r").await;
    c.send(&format!("<a xmlns='{SM}' h='1'/>")).await;
    c.expect_stream_error("unsupported-stanza-type", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn server_requests_an_ack_after_n_stanzas() {
    let server = TestServer::with(
        "[modules.stream_management]\nack_request_every_stanzas = 2\nack_request_after_ms = 0\n",
    )
    .await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = login_quiet(&server, &a, "r").await;
    enable(&mut alice, "").await;
    let mut bob = server.login(&b, "r").await;
    bob.send(&chat(&alice.jid, "m1", "one")).await;
    bob.send(&chat(&alice.jid, "m2", "two")).await;
    assert_eq!(body(&alice.recv_message().await), "one");
    assert_eq!(body(&alice.recv_message().await), "two");
    let r = alice.recv_where("<r/>", |e| is_sm(e, "r")).await;
    assert_eq!(xml(&r), format!("<r xmlns='{SM}'/>"));
}

#[tokio::test]
async fn server_requests_an_ack_after_a_while() {
    let server = TestServer::with(
        "[modules.stream_management]\nack_request_every_stanzas = 0\nack_request_after_ms = 300\n",
    )
    .await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = login_quiet(&server, &a, "r").await;
    enable(&mut alice, "").await;
    let mut bob = server.login(&b, "r").await;
    bob.send(&chat(&alice.jid, "m1", "one")).await;
    assert_eq!(body(&alice.recv_message().await), "one");
    alice.recv_where("<r/> after 300 ms", |e| is_sm(e, "r")).await;
}

/// `GET /metrics` of the node's metrics endpoint on `port`.
pub(crate) async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("metrics");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// The value of a metric line `name value` (0 when absent).
pub(crate) fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn resume_from_a_new_connection_retransmits_unacked_in_order_and_counts_on() {
    let metrics_port = crate::common::free_port();
    let server =
        TestServer::with(&format!("{NO_SERVER_REQUESTS}[metrics]\nport = {metrics_port}\n")).await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = login_quiet(&server, &a, "r").await;
    let id = enable(&mut alice, " resume='true'").await.attr("id").unwrap_or_default().to_string();
    alice.presence(0).await; // in: presence + ping = 2; out: presence echo + ping result = 2
    let mut bob = server.login(&b, "r").await;
    let to = alice.jid.clone();
    bob.send(&chat(&to, "m1", "one")).await;
    bob.send(&chat(&to, "m2", "two")).await;
    assert_eq!(body(&alice.recv_message().await), "one");
    assert_eq!(body(&alice.recv_message().await), "two");
    // Alice acknowledges up to m1 (2 + 1), then her TCP connection breaks.
    alice.send(&format!("<a xmlns='{SM}' h='3'/>")).await;
    assert_eq!(ask_h(&mut alice).await, 2);
    alice.drop_abruptly();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.send(&chat(&to, "m3", "three")).await;
    bob.sync().await;
    assert_eq!(metric(&scrape(metrics_port).await, "meerkat_sm_detached_sessions"), 1.0);

    let (mut alice, r) = resume(&server, &a, &id, 3).await;
    assert_eq!(xml(&r), format!("<resumed xmlns='{SM}' previd='{id}' h='2'/>"));
    assert_eq!(body(&alice.recv_message().await), "two");
    assert_eq!(body(&alice.recv_message().await), "three");
    alice.expect_no_message(Duration::from_millis(300)).await;
    // The session goes on: same full JID, counters continue (2 in + the ping below).
    alice.jid = to.clone();
    alice.sync().await;
    assert_eq!(ask_h(&mut alice).await, 3);
    bob.send(&chat(&to, "m4", "four")).await;
    assert_eq!(body(&alice.recv_message().await), "four");
    // Out: 2 + m1 m2 m3 + ping result + m4 = 7.
    alice.send(&format!("<a xmlns='{SM}' h='7'/>")).await;
    alice.sync().await;
    let m = scrape(metrics_port).await;
    assert_eq!(metric(&m, "meerkat_sm_detached_sessions"), 0.0, "{m}");
    assert_eq!(metric(&m, "meerkat_sm_resumptions_total"), 1.0, "{m}");
    // A refused resumption is counted too.
    let (_, r) = resume(&server, &a, "not-an-id", 0).await;
    assert!(is_sm(&r, "failed"), "{}", xml(&r));
    let m = scrape(metrics_port).await;
    assert_eq!(metric(&m, "meerkat_sm_resumption_failures_total"), 1.0, "{m}");
}

#[tokio::test]
async fn resuming_a_session_still_attached_takes_it_over() {
    let server = TestServer::with(NO_SERVER_REQUESTS).await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut old = login_quiet(&server, &a, "r").await;
    let id = enable(&mut old, " resume='true'").await.attr("id").unwrap_or_default().to_string();
    let mut bob = server.login(&b, "r").await;
    let to = old.jid.clone();
    bob.send(&chat(&to, "m1", "one")).await;
    assert_eq!(body(&old.recv_message().await), "one");
    let (mut new, r) = resume(&server, &a, &id, 0).await;
    assert_eq!(xml(&r), format!("<resumed xmlns='{SM}' previd='{id}' h='0'/>"));
    assert_eq!(body(&new.recv_message().await), "one");
    let err = old.recv_stream_error(Duration::from_secs(5)).await;
    assert!(err.has_child("conflict", ns::STREAMS), "{}", xml(&err));
    bob.send(&chat(&to, "m2", "two")).await;
    assert_eq!(body(&new.recv_message().await), "two");
}

#[tokio::test]
async fn failed_resumptions_unknown_other_users_and_expired_ids() {
    let server = TestServer::with(NO_SERVER_REQUESTS).await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let item_not_found =
        format!("<failed xmlns='{SM}'><item-not-found xmlns='{}'/></failed>", ns::STANZAS);
    // Unknown id; the client can bind normally afterwards.
    let (mut c, r) = resume(&server, &a, "0123456789abcdef0123456789abcdef", 0).await;
    assert_eq!(xml(&r), item_not_found);
    c.bind(Some("after-failed")).await;
    c.sync().await;
    // Alice's id used by Bob.
    let mut alice = login_quiet(&server, &a, "r").await;
    let en = enable(&mut alice, " resume='true' max='1'").await;
    assert_eq!(en.attr("max"), Some("1"), "{}", xml(&en));
    let id = en.attr("id").unwrap_or_default().to_string();
    alice.drop_abruptly();
    let (_, r) = resume(&server, &b, &id, 0).await;
    assert_eq!(xml(&r), item_not_found);
    // Expired: the granted second has passed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, r) = resume(&server, &a, &id, 0).await;
    assert_eq!(xml(&r), item_not_found);
}

#[tokio::test]
async fn resumption_timeout_stores_unacked_and_queued_messages_offline_and_ends_presence() {
    let server = TestServer::with(NO_SERVER_REQUESTS).await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    make_mutual(&mut alice, &mut bob).await;
    let en = enable(&mut alice, " resume='true' max='2'").await;
    assert_eq!(en.attr("max"), Some("2"));
    let to = alice.jid.clone();
    bob.send(&chat(&to, "m1", "one")).await;
    assert_eq!(body(&alice.recv_message().await), "one");
    alice.drop_abruptly();
    // Detached, not gone: contacts see nothing yet.
    bob.expect_none("presence from alice while detached", Duration::from_millis(800), |e| {
        e.name == "presence" && e.attr("from") == Some(to.as_str())
    })
    .await;
    bob.send(&chat(&to, "m2", "two")).await;
    // At the timeout the session ends: unavailable presence.
    let p = bob
        .try_recv_where(Duration::from_secs(5), |e| {
            e.name == "presence" && e.attr("from") == Some(to.as_str())
        })
        .await
        .expect("unavailable presence at the resumption timeout");
    assert_eq!(p.attr("type"), Some("unavailable"), "{}", xml(&p));
    // m1 (never acked) and m2 (queued while detached) wait in offline storage, in order.
    let mut again = server.login(&a, "r2").await;
    assert_eq!(body(&again.recv_message().await), "one");
    assert_eq!(body(&again.recv_message().await), "two");
}

#[tokio::test]
async fn unacked_overflow_ends_the_session_and_nothing_is_lost() {
    let server = TestServer::with(
        "[modules.stream_management]\nmax_unacked_stanzas = 3\nack_request_every_stanzas = 0\n\
         ack_request_after_ms = 0\n",
    )
    .await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = login_quiet(&server, &a, "r").await;
    enable(&mut alice, "").await;
    alice.presence(0).await; // out: presence echo + ping result = 2 unacked
    let mut bob = server.login(&b, "r").await;
    let to = alice.jid.clone();
    bob.send(&chat(&to, "m1", "one")).await;
    bob.send(&chat(&to, "m2", "two")).await;
    let err = alice.recv_stream_error(Duration::from_secs(5)).await;
    assert!(err.has_child("policy-violation", ns::STREAMS), "{}", xml(&err));
    bob.sync().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = server.login(&a, "r").await;
    let mut got = vec![body(&again.recv_message().await), body(&again.recv_message().await)];
    got.sort();
    assert_eq!(got, ["one", "two"]);
}

#[tokio::test]
async fn unacked_iq_request_bounces_when_the_session_closes() {
    let server = TestServer::with(NO_SERVER_REQUESTS).await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = login_quiet(&server, &a, "r").await;
    enable(&mut alice, "").await;
    let mut bob = server.login(&b, "r").await;
    let to = alice.jid.clone();
    bob.send(&format!("<iq type='get' id='q1' to='{to}'><query xmlns='jabber:iq:version'/></iq>"))
        .await;
    alice.recv_where("the version query", |e| e.name == "iq").await;
    alice.close().await;
    let r = bob.recv_where("an error for q1", |e| e.attr("id") == Some("q1")).await;
    assert_eq!(r.attr("type"), Some("error"), "{}", xml(&r));
    let _ = DOMAIN;
}

#[tokio::test]
async fn h_is_read_modulo_2_pow_32_on_the_wire() {
    // A wrapped h one below our count of 0 is "too high" (it would acknowledge 2^32 - 1
    // stanzas), and a value beyond 32 bits is not a valid h at all. The wrap-around of the
    // counters themselves is covered by meerkat-stream's unit tests (sm::tests), since a
    // session cannot be driven through 2^32 stanzas here.
    let server = TestServer::with(NO_SERVER_REQUESTS).await;
    let a = server.new_user("alice").await;
    let mut c = login_quiet(&server, &a, "r").await;
    enable(&mut c, "").await;
    c.send(&format!("<a xmlns='{SM}' h='4294967295'/>")).await;
    let err = c.recv_stream_error(Duration::from_secs(5)).await;
    assert_eq!(
        xml(&err),
        format!(
            "<error xmlns='{}'><undefined-condition xmlns='{}'/>\
             <handled-count-too-high xmlns='{SM}' h='4294967295' send-count='0'/></error>",
            ns::STREAM,
            ns::STREAMS
        )
    );
    let mut d = login_quiet(&server, &a, "r2").await;
    enable(&mut d, "").await;
    d.send(&format!("<a xmlns='{SM}' h='4294967296'/>")).await;
    d.expect_stream_error("bad-format", Duration::from_secs(5)).await;
}
