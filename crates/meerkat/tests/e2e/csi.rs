//! Issue 4: Client State Indication (XEP-0352) over real sockets: the stream feature, holding
//! presence updates (newest per sender) and chat states while inactive, flushing in order on
//! an urgent stanza or `<active/>`, and the buffer cap.

use crate::common::client::xml;
use crate::common::{ns, Client, TestServer};
use crate::stream_management::make_mutual;
use meerkat_xml::Element;
use std::time::Duration;

const CSI: &str = "urn:xmpp:csi:0";
const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";

fn composing(to: &str, id: &str) -> String {
    format!("<message to='{to}' type='chat' id='{id}'><composing xmlns='{CHATSTATES}'/></message>")
}

fn show(s: &str) -> String {
    format!("<presence><show>{s}</show></presence>")
}

/// What arrives within `wait`, in order.
async fn collect(c: &mut Client, wait: Duration) -> Vec<Element> {
    let mut got = Vec::new();
    while let Some(e) = c.try_recv_where(wait, |_| true).await {
        got.push(e);
    }
    got
}

fn describe(e: &Element) -> String {
    match e.name.as_str() {
        "presence" => format!(
            "presence:{}",
            e.get_child("show", ns::CLIENT).map(|s| s.text()).unwrap_or_default()
        ),
        "message" => format!("message:{}", e.attr("id").unwrap_or_default()),
        other => other.to_string(),
    }
}

async fn pair(server: &TestServer) -> (Client, Client) {
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    make_mutual(&mut alice, &mut bob).await;
    alice.drain(Duration::from_millis(200)).await;
    (alice, bob)
}

#[tokio::test]
async fn csi_is_a_stream_feature() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let c = server.login(&a, "r").await;
    let f = c.features.clone().expect("features");
    assert!(f.has_child("csi", CSI), "{}", xml(&f));
}

#[tokio::test]
async fn inactive_holds_presence_and_chat_states_until_a_message_with_a_body() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = pair(&server).await;
    alice.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let to = alice.jid.clone();
    bob.send(&show("away")).await;
    bob.send(&composing(&to, "c1")).await;
    bob.send(&show("dnd")).await;
    bob.sync().await;
    assert!(collect(&mut alice, Duration::from_millis(500)).await.is_empty());
    bob.send(&format!("<message to='{to}' type='chat' id='b1'><body>hi</body></message>")).await;
    let got = collect(&mut alice, Duration::from_millis(800)).await;
    // Only the newest presence of bob's resource; everything in order, the urgent one last.
    assert_eq!(
        got.iter().map(describe).collect::<Vec<_>>(),
        ["message:c1", "presence:dnd", "message:b1"],
        "{}",
        got.iter().map(xml).collect::<Vec<_>>().join(" ")
    );
}

#[tokio::test]
async fn active_flushes_and_stops_holding() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = pair(&server).await;
    alice.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    bob.send(&show("away")).await;
    bob.sync().await;
    assert!(collect(&mut alice, Duration::from_millis(400)).await.is_empty());
    alice.send(&format!("<active xmlns='{CSI}'/>")).await;
    let got = collect(&mut alice, Duration::from_millis(500)).await;
    assert_eq!(got.iter().map(describe).collect::<Vec<_>>(), ["presence:away"]);
    bob.send(&show("xa")).await;
    let p = alice.recv_where("presence at once", |e| e.name == "presence").await;
    assert_eq!(describe(&p), "presence:xa");
}

#[tokio::test]
async fn an_iq_answer_flushes_what_was_held_first() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = pair(&server).await;
    alice.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    bob.send(&show("away")).await;
    bob.sync().await;
    alice.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let got = collect(&mut alice, Duration::from_millis(500)).await;
    assert_eq!(got.iter().map(describe).collect::<Vec<_>>(), ["presence:away", "iq"]);
}

#[tokio::test]
async fn a_full_buffer_is_flushed() {
    let server = TestServer::with("[modules.csi]\nmax_buffered_stanzas = 3\n").await;
    let (mut alice, mut bob) = pair(&server).await;
    alice.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let to = alice.jid.clone();
    bob.send(&composing(&to, "c1")).await;
    bob.send(&composing(&to, "c2")).await;
    bob.sync().await;
    assert!(collect(&mut alice, Duration::from_millis(400)).await.is_empty());
    bob.send(&composing(&to, "c3")).await;
    let got = collect(&mut alice, Duration::from_millis(500)).await;
    assert_eq!(
        got.iter().map(describe).collect::<Vec<_>>(),
        ["message:c1", "message:c2", "message:c3"]
    );
}

#[tokio::test]
async fn held_stanzas_survive_a_broken_connection_and_arrive_after_resumption() {
    use crate::stream_management::{enable, NO_SERVER_REQUESTS, SM};
    let server = TestServer::with(NO_SERVER_REQUESTS).await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    make_mutual(&mut alice, &mut bob).await;
    alice.drain(Duration::from_millis(200)).await;
    let id = enable(&mut alice, " resume='true'").await.attr("id").unwrap_or_default().to_string();
    alice.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    bob.send(&show("away")).await;
    bob.sync().await;
    assert!(collect(&mut alice, Duration::from_millis(300)).await.is_empty());
    alice.drop_abruptly();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A resumed stream starts active (XEP-0352 §3): what was held comes with the resumption.
    let mut c = Client::connect(server.port(), "alice2").await;
    c.open_stream().await;
    c.auth(crate::common::Mech::Plain, &a.name, &a.password).await.expect("login");
    c.send(&format!("<resume xmlns='{SM}' previd='{id}' h='0'/>")).await;
    let r = c.recv_where("<resumed/>", |e| e.name == "resumed" || e.name == "failed").await;
    assert_eq!(r.name, "resumed", "{}", xml(&r));
    let got = collect(&mut c, Duration::from_millis(500)).await;
    assert_eq!(got.iter().map(describe).collect::<Vec<_>>(), ["presence:away"]);
}
