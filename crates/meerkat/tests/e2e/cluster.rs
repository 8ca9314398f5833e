//! Issue 5: three `meerkat` nodes on one PostgreSQL database and one `nats-server`, users on
//! different nodes talking to each other (docs/cluster.md). Every test starts its own NATS
//! server, database and nodes.

use crate::common::client::{xml, LoginOpts};
use crate::common::nats::ClusterFixture;
use crate::common::{free_port, free_port_sections, ns, run_meerkat, Client, DOMAIN};
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

    assert_eq!(cluster.metric(1, "meerkat_cluster_connected").await, 1.0);
    assert_eq!(cluster.metric(2, "meerkat_cluster_accounts").await, 1.0);
    assert!(cluster.metric(1, "meerkat_cluster_stanzas_sent_total").await >= 23.0);
    assert!(cluster.metric(2, "meerkat_cluster_stanzas_received_total").await >= 23.0);
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
    assert_eq!(cluster.metric(1, "meerkat_cluster_offline_fallbacks_total").await, 4.0);
}

fn presence_of_type<'a>(kind: &'a str) -> impl Fn(&Element) -> bool + 'a {
    move |e: &Element| e.name == "presence" && e.attr("type") == Some(kind)
}

/// `from` subscribes to `to`'s presence and `to` approves, each on its own node.
async fn subscribe_and_approve(from: &mut Client, to: &mut Client) {
    let (fb, tb) = (bare_of(&from.jid), bare_of(&to.jid));
    from.send(&format!("<presence to='{tb}' type='subscribe'/>")).await;
    let req = to.recv_where("a subscription request", presence_of_type("subscribe")).await;
    assert_eq!(req.attr("from"), Some(fb.as_str()), "{}", xml(&req));
    to.send(&format!("<presence to='{fb}' type='subscribed'/>")).await;
    let ok = from.recv_where("<presence type='subscribed'/>", presence_of_type("subscribed")).await;
    assert_eq!(ok.attr("from"), Some(tb.as_str()), "{}", xml(&ok));
    // RFC 6121 §3.1.5: the contact's current presence follows the approval.
    let to_jid = to.jid.clone();
    let p = from.recv_presence_from(&to_jid).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
}

fn bare_of(jid: &str) -> String {
    crate::common::client::bare(jid).to_string()
}

/// Subscriptions between users on different nodes, presence broadcast to a contact on
/// another node, probes answered by the node holding the contact at login, and unavailable
/// presence when a contact logs out.
#[tokio::test]
async fn presence_between_nodes() {
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut alice = cluster.node(1).login(&a, "one").await;
    let mut bob = cluster.node(2).login(&b, "two").await;
    subscribe_and_approve(&mut alice, &mut bob).await;
    subscribe_and_approve(&mut bob, &mut alice).await;

    // Broadcast: a presence change of alice (node 1) reaches bob (node 2).
    alice.send("<presence><show>away</show><status>lunch</status></presence>").await;
    let p = bob.recv_presence_from(&a.full("one")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
    assert_eq!(p.attr("to"), Some(b.bare().as_str()), "{}", xml(&p));
    let show = p.get_child("show", ns::CLIENT).map(|s| s.text());
    assert_eq!(show.as_deref(), Some("away"), "{}", xml(&p));

    // Probe at login: alice's second resource on node 3 learns bob's presence (node 2) and
    // bob learns about it.
    let mut alice3 = cluster.node(3).login(&a, "three").await;
    let p = alice3.recv_presence_from(&b.full("two")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
    assert_eq!(p.attr("to"), Some(a.full("three").as_str()), "{}", xml(&p));
    let p = bob.recv_presence_from(&a.full("three")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));

    // Logout: unavailable to the contact on the other nodes, from the full JID.
    bob.close().await;
    for c in [&mut alice, &mut alice3] {
        let p = c.recv_presence_from(&b.full("two")).await;
        assert_eq!(p.attr("type"), Some("unavailable"), "{}", xml(&p));
    }
}

/// The same full JID bound on a second node: the older session gets `<conflict/>` (RFC 6120
/// §7.7.2.2), the newer one works.
#[tokio::test]
async fn same_full_jid_on_two_nodes_closes_the_older_with_conflict() {
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut old = cluster.node(1).login(&a, "same").await;
    let mut new = cluster.node(2).login(&a, "same").await;
    let e = old.expect_stream_error("conflict", Duration::from_secs(5)).await;
    assert!(xml(&e).contains("conflict"), "{}", xml(&e));
    let mut bob = cluster.node(3).login(&b, "three").await;
    bob.send(&chat(&a.full("same"), "c1", "to the survivor")).await;
    let m = recv_body(&mut new, "to the survivor").await;
    assert_eq!(m.attr("from"), Some(b.full("three").as_str()), "{}", xml(&m));
    new.expect_no_message(Duration::from_millis(300)).await;
}

/// A message to a bare JID whose resources sit on two nodes goes to the highest priority
/// resource only (RFC 6121 §8.5.2.1.1 over both nodes), to both when priorities are equal, and
/// to nobody twice.
#[tokio::test]
async fn bare_jid_message_goes_to_highest_priority_across_nodes() {
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let login = |node: usize, res: &str, priority: i8| {
        let port = cluster.node(node).port();
        let opts = LoginOpts {
            resource: Some(res.into()),
            presence: Some(priority),
            ..Default::default()
        };
        let b = b.clone();
        async move { Client::login_with(port, &b, opts).await }
    };
    let mut low = login(1, "low", 1).await;
    let mut high = login(2, "high", 5).await;
    let mut alice = cluster.node(3).login(&a, "three").await;
    // Let each node hear the other's State (priorities) before the message.
    tokio::time::sleep(Duration::from_millis(300)).await;

    alice.send(&chat(&b.bare(), "p1", "to the highest")).await;
    let m = recv_body(&mut high, "to the highest").await;
    assert_eq!(m.attr("from"), Some(a.full("three").as_str()), "{}", xml(&m));
    low.expect_no_message(Duration::from_millis(500)).await;

    // From a node that holds one of bob's resources itself: node 1 (elected for bob, it
    // relays) and node 2 (it hands the message to node 1 first).
    let c = cluster.node(1).new_user("carol").await;
    for node in [1, 2] {
        let mut sender = cluster.node(node).login(&c, &format!("n{node}")).await;
        let text = format!("from node {node}");
        sender.send(&chat(&b.bare(), "p", &text)).await;
        let m = recv_body(&mut high, &text).await;
        assert_eq!(m.attr("from"), Some(c.full(&format!("n{node}")).as_str()), "{}", xml(&m));
        low.expect_no_message(Duration::from_millis(400)).await;
        sender.close().await;
    }

    // Equal priorities: both get it, each once.
    low.presence(5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send(&chat(&b.bare(), "p2", "to both")).await;
    recv_body(&mut high, "to both").await;
    recv_body(&mut low, "to both").await;
    high.expect_no_message(Duration::from_millis(300)).await;
    low.expect_no_message(Duration::from_millis(300)).await;

    // The highest goes away: the other node's resource gets the next one.
    high.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send(&chat(&b.bare(), "p3", "after logout")).await;
    recv_body(&mut low, "after logout").await;
}

/// kill -9 of the node holding a user: messages sent to that user afterwards get "no
/// responders" and go to offline storage; none is lost, all arrive at the next login.
#[tokio::test]
async fn kill_9_of_the_holding_node_sends_later_messages_to_offline_storage() {
    let mut cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut alice = cluster.node(1).login(&a, "one").await;
    let mut bob = cluster.node(2).login(&b, "two").await;
    alice.send(&chat(&b.bare(), "k0", "before")).await;
    recv_body(&mut bob, "before").await;

    cluster.nodes[1].kill9();
    drop(bob);
    for i in 1..=5 {
        alice.send(&chat(&b.bare(), &format!("k{i}"), &format!("after {i}"))).await;
    }
    alice.sync().await;
    alice
        .expect_none("an error for a stored message", Duration::from_millis(1500), |e| {
            e.attr("type") == Some("error")
        })
        .await;
    let mut bob = Client::login_with(
        cluster.node(3).port(),
        &b,
        LoginOpts { resource: Some("three".into()), presence: None, ..Default::default() },
    )
    .await;
    bob.send("<presence/>").await;
    // Node two acknowledges a stanza after writing it to its client, so the kill can fall
    // between the two: alice's node then times out and stores "before" offline too (at least
    // once, never lost). Every later message arrives once, in order.
    let mut later = Vec::new();
    let mut repeats = 0;
    while later.len() < 5 {
        let m = bob.recv_message().await;
        assert!(m.get_child("delay", ns::DELAY).is_some(), "{}", xml(&m));
        match body(&m) {
            Some(b) if b == "before" => repeats += 1,
            other => later.push(other),
        }
    }
    let expected: Vec<_> = (1..=5).map(|i| Some(format!("after {i}"))).collect();
    assert_eq!(later, expected);
    bob.expect_none("another message", Duration::from_millis(500), |e| {
        e.name == "message" && (body(e).as_deref() != Some("before") || repeats > 0)
    })
    .await;
}

const CARBONS: &str = "urn:xmpp:carbons:2";
const MAM: &str = "urn:xmpp:mam:2";
const SID: &str = "urn:xmpp:sid:0";

async fn enable_carbons(c: &mut Client) {
    c.iq_result("set", None, &format!("<enable xmlns='{CARBONS}'/>")).await;
}

/// The carbon of `kind` wrapping a message with this body.
async fn recv_carbon(c: &mut Client, kind: &str, text: &str) -> Element {
    let what = format!("a {kind} carbon of {text:?}");
    c.recv_where(&what, |e| {
        e.get_child(kind, CARBONS)
            .and_then(|k| k.get_child("forwarded", "urn:xmpp:forward:0"))
            .and_then(|f| f.get_child("message", ns::CLIENT))
            .is_some_and(|m| body(m).as_deref() == Some(text))
    })
    .await
}

/// The bodies in the caller's archive, retried until `want` of them are there (archives are
/// written in the background, on whichever node delivered the message).
async fn archive_bodies(c: &mut Client, want: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    for attempt in 0..30 {
        let qid = format!("q{attempt}");
        let r = c.iq("set", None, &format!("<query xmlns='{MAM}' queryid='{qid}'/>")).await;
        assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
        bodies.clear();
        while let Some(m) = c
            .try_recv_where(Duration::ZERO, |e| {
                e.get_child("result", MAM).and_then(|r| r.attr("queryid")) == Some(qid.as_str())
            })
            .await
        {
            let inner = m
                .get_child("result", MAM)
                .and_then(|r| r.get_child("forwarded", "urn:xmpp:forward:0"))
                .and_then(|f| f.get_child("message", ns::CLIENT))
                .and_then(body);
            bodies.push(inner.unwrap_or_default());
        }
        if bodies.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bodies
}

fn stanza_id(m: &Element, by: &str) -> Option<String> {
    m.children()
        .find(|c| c.name == "stanza-id" && c.ns == SID && c.attr("by") == Some(by))
        .and_then(|c| c.attr("id").map(str::to_owned))
}

/// A user's own resources on two nodes see each other's presence; received carbons reach the
/// recipient's resource on the other node and sent carbons the sender's; a bare-JID message
/// delivered on two nodes carries one stanza-id and both archives hold each message once.
#[tokio::test]
async fn own_resources_carbons_and_archive_across_nodes() {
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut bob1 = cluster.node(1).login(&b, "one").await;
    enable_carbons(&mut bob1).await;
    let mut bob2 = cluster.node(2).login(&b, "two").await;
    enable_carbons(&mut bob2).await;
    // RFC 6121 §4.2.2 across nodes: each resource learns the other's presence.
    let p = bob1.recv_presence_from(&b.full("two")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
    assert_eq!(p.attr("to"), Some(b.full("one").as_str()), "{}", xml(&p));
    let p = bob2.recv_presence_from(&b.full("one")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
    assert_eq!(p.attr("to"), Some(b.full("two").as_str()), "{}", xml(&p));

    let mut alice3 = cluster.node(3).login(&a, "three").await;
    enable_carbons(&mut alice3).await;
    let mut alice1 = cluster.node(1).login(&a, "four").await;
    enable_carbons(&mut alice1).await;
    alice3.recv_presence_from(&a.full("four")).await;

    alice3.send(&chat(&b.full("two"), "f1", "full")).await;
    let m = recv_body(&mut bob2, "full").await;
    let full_id = stanza_id(&m, &b.bare()).unwrap_or_else(|| panic!("no stanza-id: {}", xml(&m)));
    let c = recv_carbon(&mut bob1, "received", "full").await;
    assert_eq!(c.attr("from"), Some(b.bare().as_str()), "{}", xml(&c));
    assert_eq!(c.attr("to"), Some(b.full("one").as_str()), "{}", xml(&c));
    // The carbon comes from the node that delivered and archived the message: same id.
    let inner = c
        .children()
        .find_map(|k| k.get_child("forwarded", "urn:xmpp:forward:0"))
        .and_then(|f| f.get_child("message", ns::CLIENT))
        .unwrap_or_else(|| panic!("no forwarded message: {}", xml(&c)));
    assert_eq!(stanza_id(inner, &b.bare()), Some(full_id.clone()), "{}", xml(&c));
    let c = recv_carbon(&mut alice1, "sent", "full").await;
    assert_eq!(c.attr("from"), Some(a.bare().as_str()), "{}", xml(&c));
    assert_eq!(c.attr("to"), Some(a.full("four").as_str()), "{}", xml(&c));

    // Sent from node 1, where bob has another resource: that one's carbon still comes from
    // node 2 with node 2's stanza-id, and only once.
    alice1.send(&chat(&b.full("two"), "f2", "from one")).await;
    let m = recv_body(&mut bob2, "from one").await;
    let id2 = stanza_id(&m, &b.bare()).unwrap_or_else(|| panic!("no stanza-id: {}", xml(&m)));
    let c = recv_carbon(&mut bob1, "received", "from one").await;
    assert!(xml(&c).contains(&id2), "{} lacks {id2}", xml(&c));
    recv_carbon(&mut alice3, "sent", "from one").await;
    bob1.expect_none("a second carbon", Duration::from_millis(400), |e| e.name == "message").await;

    alice3.send(&chat(&b.bare(), "b1", "bare")).await;
    let m1 = recv_body(&mut bob1, "bare").await;
    let m2 = recv_body(&mut bob2, "bare").await;
    let id1 = stanza_id(&m1, &b.bare()).unwrap_or_else(|| panic!("no stanza-id: {}", xml(&m1)));
    assert_eq!(stanza_id(&m2, &b.bare()), Some(id1.clone()), "{} vs {}", xml(&m1), xml(&m2));
    assert_ne!(id1, full_id);
    recv_carbon(&mut alice1, "sent", "bare").await;

    // A client cannot pass its message off as relayed by a node: the mark is removed and the
    // message handled (archived, delivered) like any other.
    alice3
        .send(&format!(
            "<message to='{}' type='chat' id='fm'><body>forged</body>\
             <relay xmlns='urn:meerkat:cluster:relay:0'/></message>",
            b.bare()
        ))
        .await;
    for c in [&mut bob1, &mut bob2] {
        let m = recv_body(c, "forged").await;
        assert!(!xml(&m).contains("urn:meerkat:cluster"), "{}", xml(&m));
        assert!(stanza_id(&m, &b.bare()).is_some(), "{}", xml(&m));
    }
    recv_carbon(&mut alice1, "sent", "forged").await;
    for c in [&mut bob1, &mut bob2] {
        c.expect_none("a second copy", Duration::from_millis(400), |e| {
            e.name == "message" && e.get_child("result", MAM).is_none()
        })
        .await;
    }

    let all = ["full", "from one", "bare", "forged"];
    assert_eq!(archive_bodies(&mut bob1, 4).await, all);
    assert_eq!(archive_bodies(&mut alice3, 4).await, all);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(archive_bodies(&mut bob2, 4).await, all, "archived twice?");

    // RFC 6121 §4.5.2 across nodes: the user's other resource learns this one went away.
    bob2.close().await;
    let from = b.full("two");
    let p = bob1
        .recv_where("unavailable from bob/two", |e| {
            e.name == "presence" && e.attr("from") == Some(from.as_str())
        })
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"), "{}", xml(&p));
}

/// A stopped node (admin `stop`) leaves quickly, and messages to its users go to offline
/// storage afterwards.
#[tokio::test]
async fn stopped_node_leaves_and_later_messages_are_stored() {
    let cluster = ClusterFixture::start(2).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut alice = cluster.node(1).login(&a, "one").await;
    let mut bob = cluster.node(2).login(&b, "two").await;
    alice.send(&chat(&b.bare(), "s0", "before")).await;
    recv_body(&mut bob, "before").await;
    let started = std::time::Instant::now();
    cluster.node(2).ctl(&["stop"]).await.assert_ok();
    bob.expect_stream_end(Duration::from_secs(5)).await;
    let port = cluster.node(2).port();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(8), "node 2 still up 8 s after stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    alice.send(&chat(&b.bare(), "s1", "after")).await;
    alice.sync().await;
    let mut bob = cluster.node(1).login(&b, "again").await;
    let m = recv_body(&mut bob, "after").await;
    assert!(m.get_child("delay", ns::DELAY).is_some(), "{}", xml(&m));
}

/// Cluster mode needs shared storage: with SQLite the node refuses to start and says why.
#[tokio::test]
async fn cluster_with_sqlite_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789\n").expect("secret");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let path = dir.path().join("meerkat.toml");
    let config = format!(
        "[general]\nhosts = [\"{DOMAIN}\"]\ndata_dir = \"{}\"\n\n\
         [[listen.c2s]]\nip_address = \"127.0.0.1\"\nport = {}\n\n[admin]\nport = {}\n\n{}\
         [cluster]\nenabled = true\nsecret_file = \"{}\"\nnats_urls = [\"nats://127.0.0.1:1\"]\n",
        dir.path().join("data").display(),
        free_port(),
        free_port(),
        free_port_sections(),
        secret.display()
    );
    std::fs::write(&path, config).expect("config");
    let out = run_meerkat(Some(&path), &["live"], Duration::from_secs(10)).await;
    assert!(out.code.is_some(), "did not exit: {}", out.describe());
    out.assert_failed();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("[cluster] enabled") && all.contains("backend = \"postgres\""),
        "{}",
        out.describe()
    );
}

/// NATS restarts under running nodes: while it is down, messages to users on other nodes are
/// stored offline (never lost) and local delivery goes on; once the nodes have reconnected
/// (and re-subscribed), messages flow between nodes again.
#[tokio::test]
async fn nats_restart_stores_meanwhile_and_routing_resumes() {
    let mut cluster = ClusterFixture::start(2).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let c = cluster.node(1).new_user("carol").await;
    let mut alice = cluster.node(1).login(&a, "one").await;
    let mut bob = cluster.node(2).login(&b, "two").await;
    let mut carol = cluster.node(1).login(&c, "one").await;
    alice.send(&chat(&b.full("two"), "n0", "before")).await;
    recv_body(&mut bob, "before").await;

    cluster.nats.kill();
    alice.send(&chat(&c.bare(), "n1", "local meanwhile")).await;
    recv_body(&mut carol, "local meanwhile").await;
    alice.send(&chat(&b.bare(), "n2", "while down")).await;
    alice
        .expect_none("an error for a stored message", Duration::from_millis(2500), |e| {
            e.attr("type") == Some("error")
        })
        .await;

    // A login during the outage is not held up by the cluster.
    let d = cluster.node(1).new_user("dave").await;
    let started = std::time::Instant::now();
    let mut dave = cluster.node(2).login(&d, "two").await;
    assert!(started.elapsed() < Duration::from_secs(5), "login took {:?}", started.elapsed());

    cluster.nats.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    for node in 1..=2 {
        while cluster.metric(node, "meerkat_cluster_connected").await != 1.0 {
            assert!(std::time::Instant::now() < deadline, "node {node} did not reconnect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Re-subscription follows the reconnection: retry the first message until it arrives.
    let mut arrived = false;
    for i in 0..30 {
        alice.send(&chat(&b.full("two"), &format!("r{i}"), "after restart")).await;
        if bob
            .try_recv_where(Duration::from_millis(300), |e| {
                body(e).as_deref() == Some("after restart")
            })
            .await
            .is_some()
        {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "no message between nodes after NATS came back");
    // The account bound during the outage was subscribed once NATS was back.
    alice.send(&chat(&d.full("two"), "d1", "to dave")).await;
    recv_body(&mut dave, "to dave").await;
    // What was sent while NATS was down is in bob's offline store.
    bob.close().await;
    let mut bob = cluster.node(2).login(&b, "again").await;
    let m = recv_body(&mut bob, "while down").await;
    assert!(m.get_child("delay", ns::DELAY).is_some(), "{}", xml(&m));
}

/// An account with resources on two nodes: a subscription request reaches both, and the
/// roster push after one resource approves reaches the other (RFC 6121 §2.1.6, §3.1.3).
#[tokio::test]
async fn subscription_request_and_roster_pushes_reach_every_node_of_the_account() {
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut bob1 = cluster.node(1).login(&b, "one").await;
    let mut bob2 = cluster.node(2).login(&b, "two").await;
    for c in [&mut bob1, &mut bob2] {
        c.iq_result("get", None, &format!("<query xmlns='{}'/>", ns::ROSTER)).await;
    }
    bob1.recv_presence_from(&b.full("two")).await;
    let mut alice = cluster.node(3).login(&a, "three").await;

    alice.send(&format!("<presence to='{}' type='subscribe'/>", b.bare())).await;
    for c in [&mut bob1, &mut bob2] {
        let req = c.recv_where("the subscription request", presence_of_type("subscribe")).await;
        assert_eq!(req.attr("from"), Some(a.bare().as_str()), "{}", xml(&req));
    }
    bob2.send(&format!("<presence to='{}' type='subscribed'/>", a.bare())).await;
    let is_push_for = |e: &Element| {
        e.name == "iq"
            && e.attr("type") == Some("set")
            && e.get_child("query", ns::ROSTER)
                .and_then(|q| q.get_child("item", ns::ROSTER))
                .is_some_and(|i| {
                    i.attr("jid") == Some(a.bare().as_str())
                        && i.attr("subscription") == Some("from")
                })
    };
    let push = bob1.recv_where("the roster push (from) on node 1", is_push_for).await;
    assert_eq!(push.attr("to"), Some(b.full("one").as_str()), "{}", xml(&push));
    assert!(push.attr("from").is_none(), "{}", xml(&push));
    bob1.reply_result(&push).await;
    bob2.recv_where("the roster push (from) on node 2", is_push_for).await;
    let ok = alice.recv_where("subscribed", presence_of_type("subscribed")).await;
    assert_eq!(ok.attr("from"), Some(b.bare().as_str()), "{}", xml(&ok));
}

/// slixmpp (a client library nobody here wrote) on two nodes: `tests/interop/slixmpp_chat.py`
/// with user1 on node 1 and user2 on node 2 (STARTTLS, SASL, roster, subscriptions both ways,
/// presence, chat both ways).
#[tokio::test]
async fn slixmpp_clients_on_two_nodes_subscribe_and_chat() {
    let python = crate::interop::python_with_slixmpp()
        .unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
    let cluster = ClusterFixture::start(2).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/slixmpp_chat.py");
    let (p1, p2) = (cluster.node(1).port().to_string(), cluster.node(2).port().to_string());
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&python)
            .arg(&script)
            .args(["--port", &p1, "--port2", &p2, "--domain", DOMAIN, "--timeout", "30"])
            .args(["--user1", &a.name, "--password1", &a.password])
            .args(["--user2", &b.name, "--password2", &b.password])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("slixmpp script did not finish within 60 s")
    .expect("run the slixmpp script");
    assert!(
        out.status.success(),
        "slixmpp across nodes failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// XEP-0191 on an account held by two nodes: a block made on one node is pushed to the
/// resource on the other, and that node enforces it at once (its cached list follows).
#[tokio::test]
async fn block_on_one_node_is_enforced_and_pushed_on_the_other() {
    const BLOCKING: &str = "urn:xmpp:blocking";
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let c = cluster.node(1).new_user("carol").await;
    let mut alice1 = cluster.node(1).login(&a, "one").await;
    let mut alice2 = cluster.node(2).login(&a, "two").await;
    alice2.iq_result("get", None, &format!("<blocklist xmlns='{BLOCKING}'/>")).await;
    alice1.recv_presence_from(&a.full("two")).await;
    let mut carol = cluster.node(3).login(&c, "three").await;
    carol.send(&chat(&a.full("two"), "c1", "before the block")).await;
    recv_body(&mut alice2, "before the block").await;
    // Carol sees alice's presence, from both of alice's nodes.
    subscribe_and_approve(&mut carol, &mut alice1).await;
    alice2.send("<presence/>").await;
    let p = carol.recv_presence_from(&a.full("two")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));

    let item = format!("<block xmlns='{BLOCKING}'><item jid='{}'/></block>", c.bare());
    alice1.iq_result("set", None, &item).await;
    let push = alice2
        .recv_where("the block push", |e| {
            e.name == "iq" && e.get_child("block", BLOCKING).is_some()
        })
        .await;
    assert_eq!(push.attr("type"), Some("set"), "{}", xml(&push));
    assert_eq!(push.attr("to"), Some(a.full("two").as_str()), "{}", xml(&push));
    alice2.reply_result(&push).await;
    // XEP-0191 §3.3: unavailable presence to the blocked contact from every resource, the
    // one on the other node included.
    for r in ["one", "two"] {
        let from = a.full(r);
        carol
            .recv_where(&format!("unavailable from {from}"), |e| {
                presence_of_type("unavailable")(e) && e.attr("from") == Some(from.as_str())
            })
            .await;
    }

    carol.send(&chat(&a.full("two"), "c2", "after the block")).await;
    let err = carol
        .recv_where("the error for a blocked message", |e| {
            e.name == "message" && e.attr("id") == Some("c2")
        })
        .await;
    assert_eq!(err.attr("type"), Some("error"), "{}", xml(&err));
    let e = err.get_child("error", ns::CLIENT).expect("error child");
    assert!(e.get_child("service-unavailable", ns::STANZAS).is_some(), "{}", xml(&err));
    alice2.expect_no_message(Duration::from_millis(400)).await;

    // §3.4: after the unblock, presence again from both nodes.
    carol.drain(Duration::from_millis(300)).await;
    alice1.iq_result("set", None, &format!("<unblock xmlns='{BLOCKING}'/>")).await;
    for r in ["one", "two"] {
        let p = carol.recv_presence_from(&a.full(r)).await;
        assert_eq!(p.attr("type"), None, "{}", xml(&p));
    }
}

/// XEP-0163 across nodes: a PEP publish on node 1 notifies the owner's resource on node 2 and
/// a contact on node 3, each only for nodes its caps ask with `+notify` (caps are known only
/// where the resource is bound), and the last item reaches a contact that logs in later on
/// another node (the published item is read from shared storage, not a stale cache).
#[tokio::test]
async fn pep_notifications_reach_resources_and_contacts_on_other_nodes() {
    use crate::pep::{expect_no_event, login_with_caps, mutual, publish, recv_event};
    let tune = "http://jabber.org/protocol/tune";
    let mood = "http://jabber.org/protocol/mood";
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let notify = format!("{tune}+notify");
    let mut alice1 = login_with_caps(cluster.node(1), &a, "one", &[&notify]).await;
    let mut bob3 = login_with_caps(cluster.node(3), &b, "three", &[&notify]).await;
    mutual(&mut alice1, &mut bob3).await;
    let mut alice2 = login_with_caps(cluster.node(2), &a, "two", &[&notify]).await;
    alice1.drain(Duration::from_millis(300)).await;
    bob3.drain(Duration::from_millis(300)).await;

    let item = format!("<item id='t1'><tune xmlns='{tune}'><title>Fanout</title></tune></item>");
    let r = publish(&mut alice1, tune, &item, "").await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    for (c, to) in
        [(&mut alice1, a.full("one")), (&mut alice2, a.full("two")), (&mut bob3, b.full("three"))]
    {
        let ev = recv_event(c, tune).await;
        assert_eq!(ev.attr("from"), Some(a.bare().as_str()), "{}", xml(&ev));
        assert_eq!(ev.attr("to"), Some(to.as_str()), "{}", xml(&ev));
        assert_eq!(ev.attr("type"), Some("headline"), "{}", xml(&ev));
        assert!(xml(&ev).contains("Fanout"), "{}", xml(&ev));
        assert!(!xml(&ev).contains("urn:meerkat:cluster"), "mark leaked: {}", xml(&ev));
    }
    // Nobody asked for mood: no event anywhere.
    let item = format!("<item id='m1'><mood xmlns='{mood}'><happy/></mood></item>");
    let r = publish(&mut alice2, mood, &item, "").await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    for c in [&mut alice1, &mut alice2, &mut bob3] {
        expect_no_event(c).await;
    }

    // A second publish from node 2 replaces the item; bob's new resource on node 1 gets the
    // newest one as the last item when it becomes available with +notify.
    let item = format!("<item id='t2'><tune xmlns='{tune}'><title>Second</title></tune></item>");
    let r = publish(&mut alice2, tune, &item, "").await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let ev = recv_event(&mut bob3, tune).await;
    assert!(xml(&ev).contains("Second"), "{}", xml(&ev));
    let mut bob1 = login_with_caps(cluster.node(1), &b, "uno", &[&notify]).await;
    let ev = recv_event(&mut bob1, tune).await;
    assert!(xml(&ev).contains("Second"), "{}", xml(&ev));
    assert_eq!(ev.attr("to"), Some(b.full("uno").as_str()), "{}", xml(&ev));
}

/// XEP-0198 across nodes: a client whose connection to node 1 broke resumes on node 2 (as
/// behind a load balancer): same full JID, counters, the stanza queued while it was away
/// retransmitted, later stanzas routed to node 2; then again from node 2 to node 3 with the
/// same id. An unknown id naming node 1 fails fast.
#[tokio::test]
async fn stream_resumes_on_another_node() {
    use crate::stream_management::{ask_h, enable, login_quiet, resume, SM};
    let cluster = ClusterFixture::start(3).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut alice = login_quiet(cluster.node(1), &a, "r").await;
    let en = enable(&mut alice, " resume='true'").await;
    let id = en.attr("id").unwrap_or_default().to_string();
    let (_, tag1) = id.rsplit_once('-').unwrap_or_else(|| panic!("no node tag: {}", xml(&en)));
    let tag1 = tag1.to_owned();
    alice.presence(0).await; // in: presence + ping = 2; out: presence echo + ping result = 2
    let full = alice.jid.clone();
    let mut bob = cluster.node(3).login(&b, "r").await;
    bob.send(&chat(&full, "m1", "one")).await;
    recv_body(&mut alice, "one").await;
    alice.send(&format!("<a xmlns='{SM}' h='3'/>")).await;
    assert_eq!(ask_h(&mut alice).await, 2);
    alice.drop_abruptly();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.send(&chat(&full, "m2", "two")).await;
    bob.sync().await;

    let (mut alice2, r) = resume(cluster.node(2), &a, &id, 3).await;
    assert_eq!(xml(&r), format!("<resumed xmlns='{SM}' previd='{id}' h='2'/>"));
    recv_body(&mut alice2, "two").await;
    alice2.jid = full.clone();
    alice2.sync().await;
    assert_eq!(ask_h(&mut alice2).await, 3);
    bob.send(&chat(&full, "m3", "three")).await;
    recv_body(&mut alice2, "three").await;
    // Out: 2 + m1 + m2 + ping result + m3 = 6, then the ping result of this sync = 7.
    alice2.send(&format!("<a xmlns='{SM}' h='6'/>")).await;
    alice2.sync().await;
    alice2.drop_abruptly();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.send(&chat(&full, "m4", "four")).await;
    bob.sync().await;

    // Node 3 asks; node 1 (whose tag the id carries) knows the session moved on and leaves
    // the answer to node 2, which holds it now.
    let (mut alice3, r) = resume(cluster.node(3), &a, &id, 7).await;
    assert_eq!(xml(&r), format!("<resumed xmlns='{SM}' previd='{id}' h='4'/>"));
    recv_body(&mut alice3, "four").await;
    alice3.jid = full.clone();
    bob.send(&chat(&full, "m5", "five")).await;
    recv_body(&mut alice3, "five").await;
    // The contact never saw the session go (no unavailable presence from alice).
    bob.expect_none("unavailable presence", Duration::from_millis(300), |e| {
        e.name == "presence" && e.attr("type") == Some("unavailable")
    })
    .await;

    // An id naming node 1 that node 1 never issued: node 1, holding the account, says so at
    // once. (A node that does not hold the account is not asked: the request then waits
    // for the cluster's resume timeout, see docs/cluster.md.)
    let _bob1 = cluster.node(1).login(&b, "one").await;
    let started = std::time::Instant::now();
    let (_, r) = resume(cluster.node(2), &b, &format!("{:032x}-{tag1}", 7), 0).await;
    assert!(r.is("failed", SM), "{}", xml(&r));
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

/// Issue 6 across nodes: a WebSocket user on node 1 and a TCP user on node 2 chat both ways.
#[tokio::test]
async fn websocket_user_on_one_node_chats_with_a_tcp_user_on_another() {
    let cluster = ClusterFixture::start_with(2, true).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let port = cluster.http_ports[0];
    let mut alice =
        crate::websocket::ws_login(port, &a, crate::common::Mech::Plain, "browser", false).await;
    let mut bob = cluster.node(2).login(&b, "tcp").await;
    bob.send(&chat(&a.full("browser"), "w1", "to the browser")).await;
    let m = recv_body(&mut alice, "to the browser").await;
    assert_eq!(m.attr("from"), Some(b.full("tcp").as_str()), "{}", xml(&m));
    alice.send(&chat(&b.full("tcp"), "w2", "from the browser")).await;
    let m = recv_body(&mut bob, "from the browser").await;
    assert_eq!(m.attr("from"), Some(a.full("browser").as_str()), "{}", xml(&m));
}
