//! Issue 6: BOSH sessions reachable from every node of a cluster (docs/bosh.md, "Clusters").
//! Three `meerkat` nodes on one PostgreSQL database and one `nats-server`; a BOSH client sends
//! its requests to nodes that do not hold its session, which forward them to the one that
//! does (the sid names it). Also: sids no node holds, a dead holder, a stopping forwarder.

use crate::common::bosh::{exchange, post, spawn_post, Bosh, HttpResponse, NS_HTTPBIND};
use crate::common::client::xml;
use crate::common::nats::ClusterFixture;
use crate::common::{ns, Client};
use meerkat_cluster::subjects::node_tag;
use meerkat_xml::Element;
use std::time::{Duration, Instant};

const ITEM_NOT_FOUND: &str =
    "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='item-not-found'/>";
const POLICY_VIOLATION: &str = "<body xmlns='http://jabber.org/protocol/httpbind' \
                                type='terminate' condition='policy-violation'/>";
const EMPTY: &str = "<body xmlns='http://jabber.org/protocol/httpbind'/>";

/// Waits until metric `name` of node `i` satisfies `ok`.
async fn wait_metric(cluster: &ClusterFixture, i: usize, name: &str, ok: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = cluster.metric(i, name).await;
        if ok(v) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} of node {i} stuck at {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn body_text(e: &Element) -> Option<String> {
    e.get_child("body", ns::CLIENT).map(|b| b.text())
}

/// Sends the session's next request to `port` and waits until node 1 (the holder) has it.
async fn held_poll(
    cluster: &ClusterFixture,
    a: &mut Bosh,
    port: u16,
) -> tokio::task::JoinHandle<HttpResponse> {
    let seen = cluster.metric(1, "meerkat_bosh_forwarded_in_total").await;
    let poll = spawn_post(port, a.next_body("", ""));
    wait_metric(cluster, 1, "meerkat_bosh_forwarded_in_total", |v| v > seen).await;
    poll
}

/// A session created on node 1 is used through nodes 2, 3 and 1 in turn: login, chat with a
/// TCP user on node 3 both ways (his messages answer requests held on node 1 that were sent to
/// nodes 2 and 3), wait expiry, retransmission and terminate through another node.
#[tokio::test]
async fn a_bosh_session_of_node_1_is_used_through_every_node() {
    let cluster = ClusterFixture::start_with(3, true).await;
    let http = cluster.http_ports.clone();
    let alice = cluster.node(1).new_user("alice").await;
    let bob = cluster.node(1).new_user("bob").await;

    let mut a = Bosh::create(http[0], 3, 1).await;
    // The sid names its node: 32 random hex digits, then node 1's tag.
    assert_eq!(a.sid.len(), 40, "{}", a.sid);
    assert!(a.sid.bytes().all(|b| b.is_ascii_hexdigit()), "{}", a.sid);
    assert_eq!(a.sid[32..], node_tag("node1"));
    a.route = vec![http[1], http[2], http[0]];
    a.login(&alice, "web").await;
    assert_eq!(a.jid, alice.full("web"));
    assert!(cluster.metric(2, "meerkat_bosh_forwarded_total").await >= 1.0);
    assert!(cluster.metric(3, "meerkat_bosh_forwarded_total").await >= 1.0);

    // Alice comes online; bob (TCP, node 3) subscribes to her presence and she approves.
    a.send("<presence xmlns='jabber:client'/>").await;
    let mut b = cluster.node(3).login(&bob, "tcp").await;
    b.send(&format!("<presence to='{}' type='subscribe'/>", alice.bare())).await;
    let req = a
        .recv_where("the subscription request", |e| {
            e.name == "presence" && e.attr("type") == Some("subscribe")
        })
        .await;
    assert_eq!(req.attr("from"), Some(bob.bare().as_str()), "{}", xml(&req));
    a.send(&format!("<presence xmlns='jabber:client' to='{}' type='subscribed'/>", bob.bare()))
        .await;
    b.recv_where("subscribed", |e| e.name == "presence" && e.attr("type") == Some("subscribed"))
        .await;
    let p = b.recv_presence_from(&alice.full("web")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));

    // BOSH to TCP, the request sent to whichever node is next.
    a.send(&format!(
        "<message xmlns='jabber:client' to='{}' type='chat' id='m1'><body>from bosh</body></message>",
        bob.full("tcp")
    ))
    .await;
    let m = b
        .recv_where("alice's message", |e| {
            e.name == "message" && body_text(e).as_deref() == Some("from bosh")
        })
        .await;
    assert_eq!(m.attr("from"), Some(alice.full("web").as_str()), "{}", xml(&m));

    // TCP to BOSH: each message answers a request held on node 1 that was sent to another node.
    let mut last = None;
    for (node, port) in [(2, http[1]), (3, http[2])] {
        let text = format!("to bosh through node {node}");
        let poll = held_poll(&cluster, &mut a, port).await;
        b.send(&format!(
            "<message to='{}' type='chat' id='t{node}'><body>{text}</body></message>",
            alice.full("web")
        ))
        .await;
        let mut r = poll.await.expect("poll task");
        // Anything queued before (presence) may answer the poll first: poll again there.
        while !r.body.contains(&text) {
            assert_eq!(r.element().attr("type"), None, "session ended: {}", r.body);
            r = post(port, "/http-bind", &a.next_body("", "")).await;
        }
        let el = r.element();
        let m = el
            .children()
            .find(|e| e.name == "message")
            .unwrap_or_else(|| panic!("no message: {}", r.body));
        assert_eq!(body_text(m).as_deref(), Some(text.as_str()), "{}", r.body);
        assert_eq!(m.attr("from"), Some(bob.full("tcp").as_str()), "{}", r.body);
        assert_eq!(m.attr("to"), Some(alice.full("web").as_str()), "{}", r.body);
        last = Some((a.rid, r.body));
    }

    // The last response, asked for again through node 2 (it came through node 3): the same
    // bytes, kept by node 1 (XEP-0124 §14.3).
    let (rid, kept) = last.expect("a response");
    let retransmissions = cluster.metric(1, "meerkat_bosh_retransmissions_total").await;
    let again = post(http[1], "/http-bind", &a.body_with_rid(rid, "", "")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, kept);
    assert_eq!(
        cluster.metric(1, "meerkat_bosh_retransmissions_total").await,
        retransmissions + 1.0
    );

    // An empty poll through node 3 is held on node 1 for `wait` (3 s), then answered empty.
    let started = Instant::now();
    let r = post(http[2], "/http-bind", &a.next_body("", "")).await;
    let took = started.elapsed();
    assert_eq!(r.body, EMPTY);
    assert!(took >= Duration::from_millis(2800) && took < Duration::from_secs(8), "{took:?}");

    // Terminate through node 2: the session ends on node 1, bob sees alice go.
    let r = post(http[1], "/http-bind", &a.next_body(" type='terminate'", "")).await;
    let el = r.element();
    assert_eq!(el.attr("type"), Some("terminate"), "{}", r.body);
    assert_eq!(el.attr("condition"), None, "{}", r.body);
    let p = b.recv_presence_from(&alice.full("web")).await;
    assert_eq!(p.attr("type"), Some("unavailable"), "{}", xml(&p));
    wait_metric(&cluster, 1, "meerkat_bosh_sessions", |v| v == 0.0).await;
    let r = post(http[2], "/http-bind", &a.next_body("", "")).await;
    assert_eq!(r.body, ITEM_NOT_FOUND);
}

/// A body of `len` bytes for `a`'s next rid, sent chunked (no length) to `port`.
async fn post_chunked(port: u16, a: &mut Bosh, len: usize) -> HttpResponse {
    let big = a.next_body(
        "",
        &format!(
            "<message xmlns='jabber:client' to='x@y'><body>{}</body></message>",
            "x".repeat(len)
        ),
    );
    let mut raw = String::from(
        "POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in big.as_bytes().chunks(1000) {
        raw.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), String::from_utf8_lossy(chunk)));
    }
    raw.push_str("0\r\n\r\n");
    exchange(port, raw.as_bytes()).await
}

/// Sids other nodes do not hold: a forged one with node 2's tag, one with a tag no node has,
/// one whose session an oversized body ended through another node, and one whose node was
/// killed (kill -9) while it held a request: `item-not-found`, soon, never a hang.
#[tokio::test]
async fn sids_of_other_nodes_that_do_not_hold_them_get_item_not_found() {
    let mut cluster = ClusterFixture::start_with(3, true).await;
    let http = cluster.http_ports.clone();
    let alice = cluster.node(1).new_user("alice").await;
    let body = |sid: &str| format!("<body rid='7' sid='{sid}' xmlns='{NS_HTTPBIND}'/>");

    // Forged: node 2's tag on a sid node 2 never handed out; node 2 says so.
    let forged = format!("{:032x}{}", 0x5eed_u128, node_tag("node2"));
    let r = post(http[0], "/http-bind", &body(&forged)).await;
    assert_eq!((r.status, r.body.as_str()), (200, ITEM_NOT_FOUND));
    assert_eq!(cluster.metric(1, "meerkat_bosh_forwarded_total").await, 1.0);
    // A tag no node has: nobody subscribes to its subject, NATS says so at once.
    let tags = ["node1", "node2", "node3"].map(node_tag);
    let nobody = (0u32..).map(|i| format!("{i:08x}")).find(|t| !tags.contains(t)).expect("tag");
    let started = Instant::now();
    let r = post(http[0], "/http-bind", &body(&format!("{:032x}{nobody}", 7_u128))).await;
    assert_eq!(r.body, ITEM_NOT_FOUND);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // An oversized body (chunked, so only the limit is read) for node 2's session, sent to
    // node 3: node 3 reads no more than its limit, node 2 ends the session.
    let mut s = Bosh::create(http[1], 30, 1).await;
    assert_eq!(s.sid[32..], node_tag("node2"));
    s.route = vec![http[0], http[2]];
    s.login(&alice, "big").await;
    let r = post_chunked(http[2], &mut s, 70_000).await;
    assert_eq!(r.body, POLICY_VIOLATION);
    let r = post(http[0], "/http-bind", &s.next_body("", "")).await;
    assert_eq!(r.body, ITEM_NOT_FOUND);

    // kill -9 of node 2 while it holds a request sent to node 1: answered when node 1 sees
    // node 2 down (node_timeout 1 s here), long before the session's 30 s wait.
    let mut c = Bosh::create(http[1], 30, 1).await;
    c.route = vec![http[2], http[0]];
    c.login(&alice, "doomed").await;
    let seen = cluster.metric(2, "meerkat_bosh_forwarded_in_total").await;
    let poll = spawn_post(http[0], c.next_body("", ""));
    wait_metric(&cluster, 2, "meerkat_bosh_forwarded_in_total", |v| v > seen).await;
    let killed = Instant::now();
    cluster.nodes[1].kill9();
    let r = poll.await.expect("poll task");
    assert_eq!(r.body, ITEM_NOT_FOUND);
    assert!(killed.elapsed() < Duration::from_secs(8), "{:?}", killed.elapsed());
    // Later requests for it: nobody listens on node 2's subject any more.
    let started = Instant::now();
    let r = post(http[2], "/http-bind", &c.next_body("", "")).await;
    assert_eq!(r.body, ITEM_NOT_FOUND);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // The other nodes serve on.
    let mut d = Client::login_with(
        cluster.node(3).port(),
        &alice,
        crate::common::client::LoginOpts { resource: Some("tcp".into()), ..Default::default() },
    )
    .await;
    d.sync().await;
}

/// The node a request went through stops while the holder holds it: the client gets HTTP 503
/// (not a terminal condition), repeats the rid through another node, and that repeat gets
/// what the holder had for it: nothing is lost with the forwarding node.
#[tokio::test]
async fn a_forwarding_node_that_stops_answers_503_and_the_repeat_gets_the_answer() {
    let cluster = ClusterFixture::start_with(3, true).await;
    let http = cluster.http_ports.clone();
    let alice = cluster.node(1).new_user("alice").await;
    let bob = cluster.node(1).new_user("bob").await;
    let mut a = Bosh::create(http[0], 30, 1).await;
    a.login(&alice, "web").await;
    let mut b = cluster.node(3).login(&bob, "tcp").await;

    let poll = held_poll(&cluster, &mut a, http[1]).await;
    cluster.node(2).ctl(&["stop"]).await.assert_ok();
    let r = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the forwarded request answered at the stop")
        .expect("poll task");
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let seen = cluster.metric(1, "meerkat_bosh_forwarded_in_total").await;
    let repeat = spawn_post(http[2], a.body_with_rid(a.rid, "", ""));
    wait_metric(&cluster, 1, "meerkat_bosh_forwarded_in_total", |v| v > seen).await;
    b.send(&format!(
        "<message to='{}' type='chat' id='r1'><body>after the stop</body></message>",
        alice.full("web")
    ))
    .await;
    let r = repeat.await.expect("repeat task");
    let el = r.element();
    let m = el
        .children()
        .find(|e| e.name == "message")
        .unwrap_or_else(|| panic!("no message: {}", r.body));
    assert_eq!(body_text(m).as_deref(), Some("after the stop"), "{}", r.body);
    assert_eq!(m.attr("from"), Some(bob.full("tcp").as_str()), "{}", r.body);
}
