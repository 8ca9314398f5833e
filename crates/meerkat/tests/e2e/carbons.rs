//! Message carbons (XEP-0280): enabling per session, `received` and `sent` copies with the exact
//! wrapper, exclusions, and a client claiming to send a carbon.

use crate::common::client::{assert_stanza_error, xml};
use crate::common::{Client, TestServer, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

const NS: &str = "urn:xmpp:carbons:2";
const QUIET: Duration = Duration::from_millis(400);

/// The `id` of the stanza-id by `by` inside a (possibly forwarded) message, for building the
/// exact expected XML.
fn sid(m: &Element, by: &str) -> String {
    fn find(e: &Element, by: &str) -> Option<String> {
        if e.is("stanza-id", "urn:xmpp:sid:0") && e.attr("by") == Some(by) {
            return e.attr("id").map(str::to_owned);
        }
        e.children().find_map(|c| find(c, by))
    }
    find(m, by).unwrap_or_else(|| panic!("no stanza-id by {by} in {}", xml(m)))
}

async fn enable(c: &mut Client) {
    let r = c.iq_result("set", None, "<enable xmlns='urn:xmpp:carbons:2'/>").await;
    assert_eq!(
        xml(&r),
        format!("<iq type='result' id='{}' to='{}'/>", r.attr("id").unwrap_or(""), c.jid)
    );
}

fn is_carbon(e: &Element) -> bool {
    e.name == "message" && (e.has_child("sent", NS) || e.has_child("received", NS))
}

#[tokio::test]
async fn server_advertises_carbons_and_enable_disable_answer() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "a").await;
    let info = alice
        .iq_result("get", Some(DOMAIN), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    let features: Vec<String> = info
        .children()
        .flat_map(|q| q.children())
        .filter(|f| f.name == "feature")
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect();
    assert!(features.iter().any(|f| f == NS), "{features:?}");
    enable(&mut alice).await;
    alice.iq_result("set", None, "<disable xmlns='urn:xmpp:carbons:2'/>").await;
    let r = alice.iq("get", None, "<enable xmlns='urn:xmpp:carbons:2'/>").await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
}

#[tokio::test]
async fn received_and_sent_copies_go_to_other_enabled_resources_with_the_exact_wrapper() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a1 = server.login(&a, "one").await;
    let mut a2 = server.login(&a, "two").await;
    let mut a3 = server.login(&a, "three").await; // never enables carbons
    let mut bob = server.login(&b, "r").await;
    enable(&mut a1).await;
    enable(&mut a2).await;
    let (abare, a1j, a2j) = (a.bare(), a1.jid.clone(), a2.jid.clone());

    // Received: bob writes to alice/one; alice/two gets a copy, alice/three does not.
    bob.send(&format!("<message to='{a1j}' type='chat' id='m1'><body>hi</body></message>")).await;
    let orig = a1.recv_message().await;
    let id = sid(&orig, &abare);
    assert_eq!(
        xml(&orig),
        format!(
            "<message to='{a1j}' type='chat' id='m1' from='{}'><body>hi</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='{abare}' id='{id}'/></message>",
            bob.jid
        )
    );
    let copy = a2.recv_message().await;
    assert_eq!(
        xml(&copy),
        format!(
            "<message from='{abare}' to='{a2j}' type='chat'><received xmlns='{NS}'>\
             <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='{a1j}' \
             type='chat' id='m1' from='{}'><body>hi</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='{abare}' id='{id}'/></message></forwarded>\
             </received></message>",
            bob.jid
        )
    );
    a3.expect_none("a carbon", QUIET, is_carbon).await;
    a1.expect_none("a carbon of its own message", QUIET, is_carbon).await;

    // Sent: alice/one writes to bob; alice/two gets a copy.
    a1.send(&format!("<message to='{}' type='chat' id='m2'><body>yo</body></message>", b.bare()))
        .await;
    bob.recv_message().await;
    let copy = a2.recv_message().await;
    assert_eq!(
        xml(&copy),
        format!(
            "<message from='{abare}' to='{a2j}' type='chat'><sent xmlns='{NS}'>\
             <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='{}' \
             type='chat' id='m2' from='{a1j}'><body>yo</body></message></forwarded></sent>\
             </message>",
            b.bare()
        )
    );
    a3.expect_none("a carbon", QUIET, is_carbon).await;
    a1.expect_none("a copy of its own message", QUIET, is_carbon).await;

    // Disabled again: no more copies.
    a2.iq_result("set", None, "<disable xmlns='urn:xmpp:carbons:2'/>").await;
    bob.send(&format!("<message to='{a1j}' type='chat'><body>again</body></message>")).await;
    a1.recv_message().await;
    a2.expect_no_message(QUIET).await;
}

#[tokio::test]
async fn bare_jid_message_is_copied_to_enabled_resources_that_did_not_get_it() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut high = server.login(&a, "high").await;
    high.presence(5).await;
    let mut low = server.login(&a, "low").await;
    enable(&mut high).await;
    enable(&mut low).await;
    let mut bob = server.login(&b, "r").await;
    bob.send(&format!("<message to='{}' type='chat'><body>to bare</body></message>", a.bare()))
        .await;
    let m = high.recv_message().await;
    assert!(!is_carbon(&m), "the chosen resource gets the message itself: {}", xml(&m));
    let c = low.recv_message().await;
    let fwd = c
        .get_child("received", NS)
        .and_then(|r| r.get_child("forwarded", "urn:xmpp:forward:0"))
        .and_then(|f| f.get_child("message", "jabber:client"))
        .unwrap_or_else(|| panic!("not a received carbon: {}", xml(&c)));
    assert_eq!(fwd.attr("to"), Some(a.bare().as_str()));
    high.expect_none("a carbon", QUIET, is_carbon).await;
}

#[tokio::test]
async fn private_no_copy_and_ineligible_messages_are_not_copied() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a1 = server.login(&a, "one").await;
    let mut a2 = server.login(&a, "two").await;
    enable(&mut a1).await;
    enable(&mut a2).await;
    let mut bob = server.login(&b, "r").await;
    let a1j = a1.jid.clone();
    let cases = [
        "<message to='{to}' type='chat'><body>p</body><private xmlns='urn:xmpp:carbons:2'/></message>",
        "<message to='{to}' type='chat'><body>n</body><no-copy xmlns='urn:xmpp:hints'/></message>",
        "<message to='{to}' type='headline'><body>h</body></message>",
        "<message to='{to}'><subject>no body</subject></message>",
    ];
    for c in cases {
        bob.send(&c.replace("{to}", &a1j)).await;
        a1.recv_message().await;
        a1.send(&c.replace("{to}", &b.bare())).await;
        bob.recv_message().await;
    }
    a2.expect_no_message(QUIET).await;
    // The private element reaches the recipient untouched.
    bob.send(&cases[0].replace("{to}", &a1j)).await;
    let m = a1.recv_message().await;
    assert!(m.has_child("private", NS), "{}", xml(&m));
}

#[tokio::test]
async fn a_client_cannot_send_a_carbon() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "a").await;
    let mut bob = server.login(&b, "b").await;
    for kind in ["sent", "received"] {
        alice
            .send(&format!(
                "<message to='{}' type='chat' id='f-{kind}'><{kind} xmlns='{NS}'>\
                 <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
                 from='{}' to='{}' type='chat'><body>fake</body></message></forwarded></{kind}>\
                 </message>",
                bob.jid,
                bob.jid,
                a.bare()
            ))
            .await;
        let e = alice.recv_message().await;
        assert_eq!(e.attr("id"), Some(format!("f-{kind}").as_str()));
        assert_stanza_error(&e, "message", &["not-acceptable"]);
    }
    bob.expect_no_message(QUIET).await;
}
