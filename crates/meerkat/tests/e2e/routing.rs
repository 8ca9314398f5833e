//! Item 3: stanza routing (RFC 6120 §8.1.2, §10; RFC 6121 §8).

use crate::common::client::{assert_stanza_error, xml};
use crate::common::{ns, Client, TestServer, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(800);

fn body_is(e: &Element, body: &str) -> bool {
    e.name == "message"
        && e.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref() == Some(body)
}

async fn recv_body(c: &mut Client, body: &str) -> Element {
    let what = format!("<message/> with body {body:?}");
    c.recv_where(&what, |e| body_is(e, body)).await
}

async fn expect_no_body(c: &mut Client, body: &str) {
    let what = format!("<message/> with body {body:?}");
    c.expect_none(&what, QUIET, |e| body_is(e, body)).await;
}

async fn recv_error_reply(c: &mut Client, kind: &str, id: &str) -> Element {
    let what = format!("<{kind} type='error' id='{id}'/>");
    c.recv_where(&what, |e| {
        e.name == kind && e.attr("id") == Some(id) && e.attr("type") == Some("error")
    })
    .await
}

#[tokio::test]
async fn message_to_full_jid_is_delivered_with_from_stamped() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "laptop").await;
    let mut bob = server.login(&b, "phone").await;
    alice
        .send(&format!(
            "<message to='{}' type='chat' id='m1'><body>hello bob</body></message>",
            bob.jid
        ))
        .await;
    let m = recv_body(&mut bob, "hello bob").await;
    assert_eq!(
        m.attr("from"),
        Some(alice.jid.as_str()),
        "from must be alice's full JID: {}",
        xml(&m)
    );
    assert_eq!(m.attr("to"), Some(bob.jid.as_str()), "{}", xml(&m));
    assert_eq!(m.attr("type"), Some("chat"), "{}", xml(&m));
    assert_eq!(m.attr("id"), Some("m1"), "{}", xml(&m));
}

#[tokio::test]
async fn chat_to_bare_jid_goes_to_highest_priority_only() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob_hi = Client::login_with(server.port(), &b, prio("hi", 5)).await;
    let mut bob_lo = Client::login_with(server.port(), &b, prio("lo", 1)).await;
    alice
        .send(&format!("<message to='{}' type='chat'><body>to bare</body></message>", b.bare()))
        .await;
    let m = recv_body(&mut bob_hi, "to bare").await;
    assert_eq!(m.attr("from"), Some(alice.jid.as_str()), "{}", xml(&m));
    expect_no_body(&mut bob_lo, "to bare").await;
}

#[tokio::test]
async fn chat_to_bare_jid_goes_to_all_resources_of_equal_highest_priority() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob1 = Client::login_with(server.port(), &b, prio("one", 3)).await;
    let mut bob2 = Client::login_with(server.port(), &b, prio("two", 3)).await;
    let mut bob3 = Client::login_with(server.port(), &b, prio("three", 2)).await;
    alice
        .send(&format!("<message to='{}' type='chat'><body>both</body></message>", b.bare()))
        .await;
    recv_body(&mut bob1, "both").await;
    recv_body(&mut bob2, "both").await;
    expect_no_body(&mut bob3, "both").await;
}

#[tokio::test]
async fn negative_priority_resource_gets_nothing_for_bare_jid() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob_pos = Client::login_with(server.port(), &b, prio("pos", 0)).await;
    let mut bob_neg = Client::login_with(server.port(), &b, prio("neg", -1)).await;
    alice.send(&format!("<message to='{}' type='chat'><body>c1</body></message>", b.bare())).await;
    alice.send(&format!("<message to='{}'><body>n1</body></message>", b.bare())).await;
    alice
        .send(&format!("<message to='{}' type='headline'><body>h1</body></message>", b.bare()))
        .await;
    recv_body(&mut bob_pos, "c1").await;
    recv_body(&mut bob_pos, "n1").await;
    recv_body(&mut bob_pos, "h1").await;
    bob_neg.expect_no_message(QUIET).await;
    // A message to the full JID of the negative-priority resource is still delivered.
    alice
        .send(&format!("<message to='{}' type='chat'><body>direct</body></message>", bob_neg.jid))
        .await;
    recv_body(&mut bob_neg, "direct").await;
}

#[tokio::test]
async fn only_negative_priority_resources_means_offline_for_bare_jid() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob_neg = Client::login_with(server.port(), &b, prio("neg", -5)).await;
    alice
        .send(&format!("<message to='{}' type='chat'><body>stored</body></message>", b.bare()))
        .await;
    // RFC 6121 §8.5.2.1.1: as if no available resource -> offline storage, not the -5 resource.
    bob_neg.expect_no_message(QUIET).await;
    alice.expect_none("an error", QUIET, |e| e.attr("type") == Some("error")).await;
}

#[tokio::test]
async fn headline_to_bare_jid_goes_to_all_non_negative_resources() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob1 = Client::login_with(server.port(), &b, prio("one", 5)).await;
    let mut bob2 = Client::login_with(server.port(), &b, prio("two", 0)).await;
    let mut bob3 = Client::login_with(server.port(), &b, prio("three", -1)).await;
    alice
        .send(&format!("<message to='{}' type='headline'><body>news</body></message>", b.bare()))
        .await;
    recv_body(&mut bob1, "news").await;
    recv_body(&mut bob2, "news").await;
    expect_no_body(&mut bob3, "news").await;
}

#[tokio::test]
async fn groupchat_to_bare_jid_of_a_user_is_service_unavailable() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    alice
        .send(&format!(
            "<message to='{}' type='groupchat' id='gc1'><body>gc</body></message>",
            b.bare()
        ))
        .await;
    let e = recv_error_reply(&mut alice, "message", "gc1").await;
    assert_stanza_error(&e, "message", &["service-unavailable"]);
    assert_eq!(
        e.attr("from"),
        Some(b.bare().as_str()),
        "error must come from bob's bare JID: {}",
        xml(&e)
    );
    expect_no_body(&mut bob, "gc").await;
}

#[tokio::test]
async fn error_message_to_offline_user_is_dropped_silently() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    alice
        .send(&format!(
            "<message to='{}' type='error' id='e1'><body>err</body>\
             <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>\
             </message>",
            b.bare()
        ))
        .await;
    alice.expect_none("a reply to an error message", QUIET, |e| e.attr("id") == Some("e1")).await;
    let mut bob = server.login(&b, "r").await;
    expect_no_body(&mut bob, "err").await;
}

#[tokio::test]
async fn message_to_offline_full_jid_is_treated_as_bare() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "online").await;
    alice
        .send(&format!(
            "<message to='{}' type='chat'><body>to gone</body></message>",
            b.full("gone")
        ))
        .await;
    let m = recv_body(&mut bob, "to gone").await;
    assert_eq!(m.attr("from"), Some(alice.jid.as_str()), "{}", xml(&m));
}

#[tokio::test]
async fn iq_with_unknown_namespace_to_full_jid_is_delivered_and_answered() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    alice
        .send(&format!(
            "<iq type='get' to='{}' id='q1'><query xmlns='urn:example:unknown'/></iq>",
            bob.jid
        ))
        .await;
    let iq =
        bob.recv_where("the iq from alice", |e| e.name == "iq" && e.attr("id") == Some("q1")).await;
    assert_eq!(iq.attr("from"), Some(alice.jid.as_str()), "{}", xml(&iq));
    assert_eq!(iq.attr("type"), Some("get"), "{}", xml(&iq));
    assert!(iq.has_child("query", "urn:example:unknown"), "{}", xml(&iq));
    bob.send(&format!(
        "<iq type='result' to='{}' id='q1'><query xmlns='urn:example:unknown'><x>42</x></query></iq>",
        alice.jid
    ))
    .await;
    let r =
        alice.recv_where("bob's result", |e| e.name == "iq" && e.attr("id") == Some("q1")).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    assert_eq!(r.attr("from"), Some(bob.jid.as_str()), "{}", xml(&r));
    assert!(r.has_child("query", "urn:example:unknown"), "{}", xml(&r));
}

#[tokio::test]
async fn iq_with_unknown_namespace_to_bare_jid_is_service_unavailable_from_server() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    alice
        .send(&format!(
            "<iq type='get' to='{}' id='q2'><query xmlns='urn:example:unknown'/></iq>",
            b.bare()
        ))
        .await;
    let e = recv_error_reply(&mut alice, "iq", "q2").await;
    assert_stanza_error(&e, "iq", &["service-unavailable"]);
    assert_eq!(e.attr("from"), Some(b.bare().as_str()), "{}", xml(&e));
    bob.expect_none("the iq to the bare JID", QUIET, |e| e.attr("id") == Some("q2")).await;
}

#[tokio::test]
async fn iq_to_offline_user_is_service_unavailable() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    alice
        .send(&format!(
            "<iq type='get' to='{}' id='q3'><query xmlns='urn:example:unknown'/></iq>",
            b.full("x")
        ))
        .await;
    let e = recv_error_reply(&mut alice, "iq", "q3").await;
    assert_stanza_error(&e, "iq", &["service-unavailable"]);
    alice
        .send(&format!(
            "<iq type='get' to='{}' id='q4'><query xmlns='urn:example:unknown'/></iq>",
            b.bare()
        ))
        .await;
    let e = recv_error_reply(&mut alice, "iq", "q4").await;
    assert_stanza_error(&e, "iq", &["service-unavailable"]);
}

#[tokio::test]
async fn spoofed_from_is_corrected_or_rejected() {
    let server = TestServer::start().await;
    let (a, b, m) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("mallory").await,
    );
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    alice
        .send(&format!(
            "<message from='{}' to='{}' type='chat'><body>spoof</body></message>",
            m.full("evil"),
            bob.jid
        ))
        .await;
    // RFC 6120 §8.1.2.1: the server either stamps the real JID or returns <invalid-from/>.
    match bob.try_recv_where(Duration::from_secs(2), |e| body_is(e, "spoof")).await {
        Some(msg) => assert_eq!(
            msg.attr("from").inspect(|f| eprintln!("note: spoofed from corrected to {f}")),
            Some(alice.jid.as_str()),
            "receiver must see the real sender: {}",
            xml(&msg)
        ),
        None => {
            eprintln!("note: spoofed from rejected (expecting invalid-from)");
            alice.expect_stream_error("invalid-from", Duration::from_secs(3)).await;
        }
    }
}

#[tokio::test]
async fn from_with_own_bare_jid_is_accepted_and_stamped_with_full_jid() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    alice
        .send(&format!("<message from='{}' to='{}'><body>own</body></message>", a.bare(), bob.jid))
        .await;
    let msg = recv_body(&mut bob, "own").await;
    assert_eq!(msg.attr("from"), Some(alice.jid.as_str()), "{}", xml(&msg));
}

#[tokio::test]
async fn message_to_nonexistent_local_user_is_service_unavailable() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let ghost = format!("ghost_nobody@{DOMAIN}");
    alice
        .send(&format!("<message to='{ghost}' type='chat' id='g1'><body>hi</body></message>"))
        .await;
    let e = recv_error_reply(&mut alice, "message", "g1").await;
    assert_stanza_error(&e, "message", &["service-unavailable"]);
    assert_eq!(e.attr("from"), Some(ghost.as_str()), "{}", xml(&e));
}

#[tokio::test]
async fn message_to_unknown_remote_domain_is_remote_server_not_found() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    alice
        .send("<message to='someone@unknown-domain.invalid' type='chat' id='r1'><body>hi</body></message>")
        .await;
    let e = recv_error_reply(&mut alice, "message", "r1").await;
    assert_stanza_error(&e, "message", &["remote-server-not-found"]);
}

#[tokio::test]
async fn message_to_the_sender_own_full_jid_loops_back() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let own = alice.jid.clone();
    alice.send(&format!("<message to='{own}'><body>note to self</body></message>")).await;
    let m = recv_body(&mut alice, "note to self").await;
    assert_eq!(m.attr("from"), Some(own.as_str()));
}

fn prio(res: &str, p: i8) -> crate::common::client::LoginOpts {
    crate::common::client::LoginOpts {
        resource: Some(res.to_string()),
        presence: Some(p),
        ..Default::default()
    }
}
