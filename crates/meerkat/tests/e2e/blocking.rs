//! Issue 4: Blocking Command (XEP-0191), over real sockets with exact wire formats.

use crate::common::client::{assert_stanza_error, xml};
use crate::common::{ns, Client, TestServer, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

const NS_BLOCKING: &str = "urn:xmpp:blocking";
const NS_BLOCKED: &str = "urn:xmpp:blocking:errors";
const QUIET: Duration = Duration::from_millis(400);

fn payload(e: &Element) -> String {
    e.children().next().map(xml).unwrap_or_default()
}

async fn blocklist(c: &mut Client) -> String {
    payload(&c.iq_result("get", None, "<blocklist xmlns='urn:xmpp:blocking'/>").await)
}

async fn recv_push(c: &mut Client, what: &str) -> Element {
    c.recv_where(what, |e| {
        e.name == "iq"
            && e.attr("type") == Some("set")
            && e.children().next().is_some_and(|p| p.ns == NS_BLOCKING)
    })
    .await
}

/// alice and bob subscribe to each other, both ways, and drain what that produced.
async fn befriend(alice: &mut Client, bob: &mut Client) {
    let (ab, bb) = (
        crate::common::client::bare(&alice.jid).to_owned(),
        crate::common::client::bare(&bob.jid).to_owned(),
    );
    alice.send(&format!("<presence to='{bb}' type='subscribe'/>")).await;
    bob.recv_where("subscribe", |e| e.attr("type") == Some("subscribe")).await;
    bob.send(&format!("<presence to='{ab}' type='subscribed'/>")).await;
    bob.send(&format!("<presence to='{ab}' type='subscribe'/>")).await;
    alice.recv_where("subscribe", |e| e.attr("type") == Some("subscribe")).await;
    alice.send(&format!("<presence to='{bb}' type='subscribed'/>")).await;
    alice.sync().await;
    bob.sync().await;
    alice.drain(QUIET).await;
    bob.drain(QUIET).await;
}

#[tokio::test]
async fn blocklist_get_block_with_push_to_interested_resources_and_unblock_all() {
    let server = TestServer::start().await;
    let (a, b, c) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut r1 = server.login(&a, "one").await;
    let mut r2 = server.login(&a, "two").await;
    let mut r3 = server.login(&a, "three").await; // never asks for the blocklist
    assert_eq!(blocklist(&mut r1).await, "<blocklist xmlns='urn:xmpp:blocking'/>");
    assert_eq!(blocklist(&mut r2).await, "<blocklist xmlns='urn:xmpp:blocking'/>");

    // JIDs are normalised (case of the localpart and domain).
    let bob_upper = format!("{}@LOCALHOST", b.name.to_uppercase());
    let r = r1
        .iq(
            "set",
            None,
            &format!(
                "<block xmlns='urn:xmpp:blocking'><item jid='{bob_upper}'/><item jid='{}/phone'/></block>",
                c.bare()
            ),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    assert!(r.children().next().is_none(), "empty result: {}", xml(&r));
    let expected_items = {
        let mut items = [b.bare(), format!("{}/phone", c.bare())];
        items.sort();
        items.iter().map(|j| format!("<item jid='{j}'/>")).collect::<String>()
    };
    for res in [&mut r1, &mut r2] {
        let push = recv_push(res, "block push").await;
        assert_eq!(push.attr("to"), Some(res.jid.as_str()), "{}", xml(&push));
        assert_eq!(
            payload(&push),
            format!("<block xmlns='urn:xmpp:blocking'>{expected_items}</block>")
        );
        res.reply_result(&push).await;
    }
    r3.expect_none("a push to a resource that never asked", QUIET, |e| {
        e.name == "iq" && e.children().next().is_some_and(|p| p.ns == NS_BLOCKING)
    })
    .await;
    assert_eq!(
        blocklist(&mut r1).await,
        format!("<blocklist xmlns='urn:xmpp:blocking'>{expected_items}</blocklist>")
    );

    // Unblock one, then all: the push of unblock-all carries no items.
    r1.iq_result(
        "set",
        None,
        &format!("<unblock xmlns='urn:xmpp:blocking'><item jid='{}'/></unblock>", b.bare()),
    )
    .await;
    let push = recv_push(&mut r2, "unblock push").await;
    assert_eq!(
        payload(&push),
        format!("<unblock xmlns='urn:xmpp:blocking'><item jid='{}'/></unblock>", b.bare())
    );
    r1.iq_result("set", None, "<unblock xmlns='urn:xmpp:blocking'/>").await;
    let push = recv_push(&mut r2, "unblock-all push").await;
    assert_eq!(payload(&push), "<unblock xmlns='urn:xmpp:blocking'/>");
    assert_eq!(blocklist(&mut r2).await, "<blocklist xmlns='urn:xmpp:blocking'/>");
}

#[tokio::test]
async fn stanzas_between_user_and_blocked_contact_are_refused_both_ways() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    alice
        .iq_result(
            "set",
            None,
            &format!("<block xmlns='urn:xmpp:blocking'><item jid='{}'/></block>", b.bare()),
        )
        .await;

    // From the blocked contact: a message gets service-unavailable (§3.5) and is not delivered.
    bob.send(&format!("<message to='{}' id='m1' type='chat'><body>hi</body></message>", a.bare()))
        .await;
    let err = bob
        .recv_where("message error", |e| e.name == "message" && e.attr("id") == Some("m1"))
        .await;
    assert_stanza_error(&err, "message", &["service-unavailable"]);
    assert_eq!(err.attr("from"), Some(a.bare().as_str()), "{}", xml(&err));
    // IQ get to the full JID: service-unavailable.
    let r = bob.iq("get", Some(&alice.jid.clone()), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_stanza_error(&r, "iq", &["service-unavailable"]);
    // Presence (directed) is dropped without an error.
    bob.send(&format!("<presence to='{}'/>", alice.jid)).await;
    bob.sync().await;
    alice
        .expect_none("anything from the blocked contact", QUIET, |e| {
            e.attr("from").is_some_and(|f| f.starts_with(&b.bare()))
        })
        .await;
    bob.expect_none("an error for presence", Duration::from_millis(100), |e| {
        e.name == "presence" && e.attr("type") == Some("error")
    })
    .await;

    // To the blocked contact: not-acceptable with <blocked/> (§3.6), exact error element.
    alice
        .send(&format!("<message to='{}' id='m2' type='chat'><body>hi</body></message>", b.bare()))
        .await;
    let err = alice
        .recv_where("message error", |e| e.name == "message" && e.attr("id") == Some("m2"))
        .await;
    let e = assert_stanza_error(&err, "message", &["not-acceptable"]);
    assert_eq!(
        xml(&e),
        format!(
            "<error type='cancel'><not-acceptable xmlns='{}'/><blocked xmlns='{NS_BLOCKED}'/></error>",
            ns::STANZAS
        )
    );
    let r = alice.iq("get", Some(&bob.jid.clone()), "<ping xmlns='urn:xmpp:ping'/>").await;
    let e = assert_stanza_error(&r, "iq", &["not-acceptable"]);
    assert!(e.has_child("blocked", NS_BLOCKED), "{}", xml(&r));
    bob.expect_no_message(QUIET).await;

    // The server itself stays reachable, and after unblocking messages flow again.
    alice.sync().await;
    alice.iq_result("set", None, "<unblock xmlns='urn:xmpp:blocking'/>").await;
    bob.send(&format!(
        "<message to='{}' id='m3' type='chat'><body>again</body></message>",
        a.bare()
    ))
    .await;
    let m = alice.recv_message().await;
    assert_eq!(m.attr("id"), Some("m3"), "{}", xml(&m));
    alice
        .send(&format!(
            "<message to='{}' id='m4' type='chat'><body>back</body></message>",
            b.bare()
        ))
        .await;
    let m = bob.recv_message().await;
    assert_eq!(m.attr("id"), Some("m4"), "{}", xml(&m));
}

#[tokio::test]
async fn blocking_sends_unavailable_presence_and_unblocking_sends_presence_again() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    befriend(&mut alice, &mut bob).await;
    alice
        .iq_result(
            "set",
            None,
            &format!("<block xmlns='urn:xmpp:blocking'><item jid='{}'/></block>", b.bare()),
        )
        .await;
    let p = bob.recv_presence_from(&alice.jid.clone()).await;
    assert_eq!(
        xml(&p),
        format!("<presence from='{}' type='unavailable' to='{}'/>", alice.jid, b.bare())
    );
    // While blocked, alice's presence changes do not reach bob.
    alice.send("<presence><show>away</show></presence>").await;
    alice.sync().await;
    bob.expect_none("presence from the blocking user", QUIET, |e| e.name == "presence").await;
    alice.iq_result("set", None, "<unblock xmlns='urn:xmpp:blocking'/>").await;
    let p = bob.recv_presence_from(&alice.jid.clone()).await;
    assert_eq!(p.attr("type"), None, "available again: {}", xml(&p));
    assert_eq!(
        p.get_child("show", ns::CLIENT).map(|s| s.text()).as_deref(),
        Some("away"),
        "{}",
        xml(&p)
    );
}

#[tokio::test]
async fn blocklist_bound_and_malformed_requests() {
    let server = TestServer::with("[modules.blocking]\nmax_items = 2\n").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice.iq("set", None, "<block xmlns='urn:xmpp:blocking'/>").await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
    let r =
        alice.iq("set", None, "<block xmlns='urn:xmpp:blocking'><item jid='@@bad'/></block>").await;
    assert_stanza_error(&r, "iq", &["jid-malformed"]);
    alice
        .iq_result("set", None, "<block xmlns='urn:xmpp:blocking'><item jid='x@example.org'/><item jid='example.net'/></block>")
        .await;
    let r = alice
        .iq("set", None, "<block xmlns='urn:xmpp:blocking'><item jid='y@example.org'/></block>")
        .await;
    let e = assert_stanza_error(&r, "iq", &["resource-constraint"]);
    assert_eq!(e.attr("type"), Some("wait"), "{}", xml(&r));
    assert_eq!(
        blocklist(&mut alice).await,
        "<blocklist xmlns='urn:xmpp:blocking'><item jid='example.net'/><item jid='x@example.org'/></blocklist>"
    );
    // Someone else's blocklist is not served.
    let r = alice
        .iq("get", Some(&format!("nobody@{DOMAIN}")), "<blocklist xmlns='urn:xmpp:blocking'/>")
        .await;
    assert_eq!(r.attr("type"), Some("error"), "{}", xml(&r));
}

#[tokio::test]
async fn offline_user_blocklist_applies_to_stored_messages() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let alice = server.login(&a, "r").await;
    let mut alice = alice;
    alice
        .iq_result(
            "set",
            None,
            &format!("<block xmlns='urn:xmpp:blocking'><item jid='{}'/></block>", b.bare()),
        )
        .await;
    alice.close().await;
    let mut bob = server.login(&b, "r").await;
    bob.send(&format!(
        "<message to='{}' id='off' type='chat'><body>stored?</body></message>",
        a.bare()
    ))
    .await;
    let err = bob
        .recv_where("message error", |e| e.name == "message" && e.attr("id") == Some("off"))
        .await;
    assert_stanza_error(&err, "message", &["service-unavailable"]);
    let mut alice = server.login(&a, "r").await;
    alice.expect_no_message(QUIET).await;
}
