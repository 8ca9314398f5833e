//! Issue 5: three `meerkat` nodes on one PostgreSQL database and one `nats-server`, users on
//! different nodes talking to each other (docs/cluster.md). Every test starts its own NATS
//! server, database and nodes.

use crate::common::client::{xml, LoginOpts};
use crate::common::nats::ClusterFixture;
use crate::common::{ns, Client, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

fn body(e: &Element) -> Option<String> {
    e.get_child("body", ns::CLIENT).map(|b| b.text())
}

fn chat(to: &str, id: &str, text: &str) -> String {
    format!("<message to='{to}' type='chat' id='{id}'><body>{text}</body></message>")
}

/// Waits for a message with this body; panics with what came instead.
async fn recv_body(c: &mut Client, text: &str) -> Element {
    let what = format!("a message with body {text:?}");
    c.recv_where(&what, |e| e.name == "message" && body(e).as_deref() == Some(text)).await
}

/// Messages to a full and to a bare JID on another node, a reply across nodes, and an IQ
/// (XEP-0199 ping) between clients on different nodes, answered back.
#[tokio::test]
async fn messages_and_iq_between_nodes() {
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut alice = cluster.node(1).login(&a, "one").await;
    let mut bob = cluster.node(2).login(&b, "two").await;

    alice.send(&chat(&b.full("two"), "m1", "to your full jid")).await;
    let m = recv_body(&mut bob, "to your full jid").await;
    assert_eq!(m.attr("from"), Some(a.full("one").as_str()), "{}", xml(&m));
    assert_eq!(m.attr("to"), Some(b.full("two").as_str()), "{}", xml(&m));
    assert_eq!(m.attr("id"), Some("m1"), "{}", xml(&m));
    assert_eq!(m.attr("type"), Some("chat"), "{}", xml(&m));

    alice.send(&chat(&b.bare(), "m2", "to your bare jid")).await;
    let m = recv_body(&mut bob, "to your bare jid").await;
    assert_eq!(m.attr("from"), Some(a.full("one").as_str()), "{}", xml(&m));
    assert_eq!(m.attr("to"), Some(b.bare().as_str()), "{}", xml(&m));

    bob.send(&chat(&a.bare(), "r1", "reply")).await;
    let m = recv_body(&mut alice, "reply").await;
    assert_eq!(m.attr("from"), Some(b.full("two").as_str()), "{}", xml(&m));

    // Order is kept across nodes (RFC 6120 §10.1).
    for i in 0..20 {
        alice.send(&chat(&b.full("two"), &format!("o{i}"), &format!("n{i}"))).await;
    }
    for i in 0..20 {
        let m = bob.recv_message().await;
        assert_eq!(body(&m), Some(format!("n{i}")), "out of order: {}", xml(&m));
    }

    // Client-to-client IQ: routed to node 2, answered by bob, the result routed back.
    alice
        .send(&format!(
            "<iq type='get' id='p1' to='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
            b.full("two")
        ))
        .await;
    let iq = bob.recv_where("the ping", |e| e.name == "iq" && e.attr("id") == Some("p1")).await;
    assert_eq!(iq.attr("from"), Some(a.full("one").as_str()), "{}", xml(&iq));
    assert!(iq.get_child("ping", ns::PING).is_some(), "{}", xml(&iq));
    bob.reply_result(&iq).await;
    let r = alice.recv_where("the pong", |e| e.name == "iq" && e.attr("id") == Some("p1")).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    assert_eq!(r.attr("from"), Some(b.full("two").as_str()), "{}", xml(&r));

    // An IQ to a full JID bound nowhere: service-unavailable, as on one node.
    let r = alice.iq("get", Some(&b.full("nowhere")), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("error"), "{}", xml(&r));
    let e = r.get_child("error", ns::CLIENT).expect("error child");
    assert!(e.get_child("service-unavailable", ns::STANZAS).is_some(), "{}", xml(&r));
}

/// A message to a user online nowhere is stored (the sending node gets "no responders") and
/// delivered, with its delay stamp, when the user logs in on another node.
#[tokio::test]
async fn message_to_user_online_nowhere_is_stored_and_delivered_on_another_node() {
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let c = cluster.node(1).new_user("carol").await;
    let mut alice = cluster.node(1).login(&a, "one").await;
    for i in 1..=3 {
        alice.send(&chat(&c.bare(), &format!("s{i}"), &format!("stored {i}"))).await;
    }
    alice.send(&chat(&c.full("gone"), "s4", "stored 4")).await;
    alice.sync().await;
    alice
        .expect_none("an error for a stored message", Duration::from_millis(700), |e| {
            e.attr("type") == Some("error")
        })
        .await;
    let mut carol = Client::login_with(
        cluster.node(3).port(),
        &c,
        LoginOpts { resource: Some("three".into()), presence: None, ..Default::default() },
    )
    .await;
    carol.send("<presence/>").await;
    for i in 1..=4 {
        let m = carol.recv_message().await;
        assert_eq!(body(&m), Some(format!("stored {i}")), "{}", xml(&m));
        assert_eq!(m.attr("from"), Some(a.full("one").as_str()), "{}", xml(&m));
        let d = m.get_child("delay", ns::DELAY).unwrap_or_else(|| panic!("no delay: {}", xml(&m)));
        assert_eq!(d.attr("from"), Some(DOMAIN), "{}", xml(&m));
    }
    carol.expect_no_message(Duration::from_millis(500)).await;
}
