//! Issue 4 item 10: payloads the server only passes through reach the recipient exactly as
//! sent, with only `from` stamped and, where the message is archived (XEP-0313), the
//! recipient's `<stanza-id/>` added: delivery receipts (XEP-0184), chat markers (XEP-0333),
//! reactions (XEP-0444), retractions (XEP-0424), and in-band bytestreams (XEP-0047, IQs between
//! full JIDs).

use crate::common::client::xml;
use crate::common::{Client, TestServer};
use meerkat_xml::Element;

const SID: &str = "urn:xmpp:sid:0";

/// Sends `<message to='{to}' {attrs}>{payload}</message>` and asserts the recipient gets
/// exactly that plus `from` and, when `archived`, a trailing stanza-id by the recipient.
async fn check_message(
    from: &mut Client,
    to: &mut Client,
    attrs: &str,
    payload: &str,
    archived: bool,
) {
    let to_jid = to.jid.clone();
    from.send(&format!("<message to='{to_jid}' {attrs}>{payload}</message>")).await;
    let m = to.recv_message().await;
    let stanza_id = if archived {
        let by = to_jid.split('/').next().unwrap_or_default();
        let id = m
            .children()
            .find(|c| c.is("stanza-id", SID) && c.attr("by") == Some(by))
            .and_then(|c| c.attr("id"))
            .unwrap_or_else(|| panic!("archived message without stanza-id: {}", xml(&m)));
        format!("<stanza-id xmlns='{SID}' by='{by}' id='{id}'/>")
    } else {
        String::new()
    };
    let attrs = attrs.replace('"', "'");
    assert_eq!(
        xml(&m),
        format!(
            "<message to='{to_jid}' {attrs} from='{}'>{payload}{stanza_id}</message>",
            from.jid
        ),
        "payload changed on the way"
    );
}

async fn two(server: &TestServer) -> (Client, Client) {
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    (server.login(&a, "a").await, server.login(&b, "b").await)
}

#[tokio::test]
async fn delivery_receipts_pass_through() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two(&server).await;
    check_message(
        &mut alice,
        &mut bob,
        "type='chat' id='r1'",
        "<body>ack me</body><request xmlns='urn:xmpp:receipts'/>",
        true,
    )
    .await;
    check_message(
        &mut bob,
        &mut alice,
        "type='chat' id='r2'",
        "<received xmlns='urn:xmpp:receipts' id='r1'/>",
        true,
    )
    .await;
}

#[tokio::test]
async fn chat_markers_pass_through() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two(&server).await;
    check_message(
        &mut alice,
        &mut bob,
        "type='chat' id='c1'",
        "<body>mark me</body><markable xmlns='urn:xmpp:chat-markers:0'/>",
        true,
    )
    .await;
    for marker in ["received", "displayed", "acknowledged"] {
        let p = format!("<{marker} xmlns='urn:xmpp:chat-markers:0' id='c1'/>");
        check_message(&mut bob, &mut alice, "type='chat' id='c2'", &p, true).await;
    }
}

#[tokio::test]
async fn reactions_pass_through() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two(&server).await;
    check_message(
        &mut alice,
        &mut bob,
        "type='chat' id='x1'",
        "<reactions xmlns='urn:xmpp:reactions:0' id='744f6e18'><reaction>👋</reaction>\
         <reaction>🐢</reaction></reactions><store xmlns='urn:xmpp:hints'/>",
        true,
    )
    .await;
}

#[tokio::test]
async fn retractions_pass_through() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two(&server).await;
    check_message(
        &mut alice,
        &mut bob,
        "type='chat' id='d1'",
        "<retract xmlns='urn:xmpp:message-retract:1' id='origin-1'/>\
         <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>\
         <body>This person attempted to retract a previous message.</body>\
         <store xmlns='urn:xmpp:hints'/>",
        true,
    )
    .await;
}

#[tokio::test]
async fn in_band_bytestream_iqs_pass_through_between_full_jids() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two(&server).await;
    let steps = [
        ("ibb1", "<open xmlns='http://jabber.org/protocol/ibb' block-size='4096' sid='i781b4' stanza='iq'/>"),
        ("ibb2", "<data xmlns='http://jabber.org/protocol/ibb' seq='0' sid='i781b4'>cXVpZXQ=</data>"),
        ("ibb3", "<close xmlns='http://jabber.org/protocol/ibb' sid='i781b4'/>"),
    ];
    for (id, payload) in steps {
        alice.send(&format!("<iq type='set' id='{id}' to='{}'>{payload}</iq>", bob.jid)).await;
        let iq = bob
            .recv_where("an IBB iq", |e: &Element| e.name == "iq" && e.attr("id") == Some(id))
            .await;
        assert_eq!(
            xml(&iq),
            format!(
                "<iq type='set' id='{id}' to='{}' from='{}'>{payload}</iq>",
                bob.jid, alice.jid
            )
        );
        bob.reply_result(&iq).await;
        let r = alice.recv_where("the IBB result", |e: &Element| e.attr("id") == Some(id)).await;
        assert_eq!(
            xml(&r),
            format!("<iq type='result' id='{id}' to='{}' from='{}'/>", alice.jid, bob.jid)
        );
    }
    // IBB in messages (stanza='message') is a message without body: routed, not archived.
    check_message(
        &mut alice,
        &mut bob,
        "id='ibbm'",
        "<data xmlns='http://jabber.org/protocol/ibb' seq='1' sid='m1'>cXVpZXQ=</data>",
        false,
    )
    .await;
}
