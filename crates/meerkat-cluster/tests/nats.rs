//! The cluster transport against a real `nats-server` (Debian package `nats-server`): each
//! test starts its own server on a free loopback port with a temp dir and kills it at the end.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use meerkat_cluster::envelope::{Body, Envelope};
use meerkat_cluster::subjects::node_tag;
use meerkat_cluster::{
    AccountState, Availability, BoshOutcome, Cluster, Delivery, Inbound, Keys, Limits, MemberEvent,
    MemberState, ResourceState, Secret, Settings, Stats,
};
use tokio::sync::mpsc;

const SECRET: &[u8] = b"test-cluster-secret-0123456789";

fn nats_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file());
    match found {
        Some(p) => p,
        None => panic!("nats-server not found: these tests need it (apt-get install nats-server)"),
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

struct Nats {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    fn start() -> Nats {
        let mut n =
            Nats { child: None, port: free_port(), dir: tempfile::tempdir().expect("tempdir") };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("nats.log");
        let child = Command::new(nats_binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-l"])
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(self.dir.path())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Log lines of every test in this process (tests tell theirs apart by node name).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let make = move || LogWriter(w.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("meerkat_cluster=debug")
            .with_ansi(false)
            .with_writer(make)
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_with(needles: &[&str]) -> usize {
    let buf = logs();
    let text = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    text.lines().filter(|l| needles.iter().all(|n| l.contains(n))).count()
}

fn settings(nats: &Nats, node: &str, secret: &[u8]) -> Settings {
    let mut s =
        Settings::new("test", node, Secret::new(secret.to_vec()).unwrap(), vec![nats.url()]);
    s.admin_address = format!("127.0.0.1:1{}", node.len());
    s.heartbeat = Duration::from_millis(100);
    s.node_timeout = Duration::from_millis(1000);
    s.request_timeout = Duration::from_millis(1000);
    s
}

async fn node(nats: &Nats, name: &str) -> (Cluster, mpsc::Receiver<Inbound>) {
    logs();
    let (c, rx) = Cluster::start(settings(nats, name, SECRET)).await.expect("start cluster");
    wait_until(Duration::from_secs(5), || c.is_connected()).await;
    (c, rx)
}

async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "condition not met within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Before asserting on delivery, probe until `holder` acknowledges and drain the probe (a
/// subscription is in force when `subscribe_account` returns, see
/// `a_subscription_is_effective_when_subscribe_returns`; this also covers reconnects).
async fn wait_interest(from: &Cluster, account: &str, holder_rx: &mut mpsc::Receiver<Inbound>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let d = from.send_stanza(account, Bytes::from_static(b"<probe/>")).await.unwrap();
        if matches!(d, Delivery::Delivered { .. }) {
            break;
        }
        assert!(Instant::now() < deadline, "no interest for {account}: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match holder_rx.recv().await {
        Some(Inbound::Stanza { xml, .. }) if xml == "<probe/>" => {}
        other => panic!("expected the probe, got {other:?}"),
    }
}

const XML: &[u8] = b"<message to='alice@example.com/phone' from='bob@example.com/pc' type='chat'><body>hi</body></message>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stanza_to_account_held_elsewhere_is_delivered_and_acked() {
    let nats = Nats::start();
    let (a, _a_rx) = node(&nats, "deliver-a").await;
    let (b, mut b_rx) = node(&nats, "deliver-b").await;
    b.subscribe_account("alice@example.com").await.unwrap();
    b.subscribe_account("alice@EXAMPLE.com").await.unwrap(); // second resource: same account
    assert_eq!(b.account_count(), 1);
    wait_interest(&a, "alice@example.com", &mut b_rx).await;

    let d = a.send_stanza("alice@example.com/phone", Bytes::from_static(XML)).await.unwrap();
    assert_eq!(d, Delivery::Delivered { by_node: "deliver-b".into() });
    let got = b_rx.recv().await.unwrap();
    assert_eq!(
        got,
        Inbound::Stanza {
            from_node: "deliver-a".into(),
            to: "alice@example.com/phone".into(),
            xml: Bytes::from_static(XML)
        }
    );
    // Bare JID, spawned so the caller's task never waits on the network.
    let d = a
        .spawn_stanza("alice@example.com".into(), Bytes::from_static(b"<x/>"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d, Delivery::Delivered { by_node: "deliver-b".into() });
    assert!(
        matches!(b_rx.recv().await, Some(Inbound::Stanza { to, .. }) if to == "alice@example.com")
    );

    // Reference counting: one unbind keeps the subscription, the last one drops it.
    b.unsubscribe_account("alice@example.com");
    b.flush().await.unwrap();
    let d = a.send_stanza("alice@example.com/phone", Bytes::from_static(XML)).await.unwrap();
    assert_eq!(d, Delivery::Delivered { by_node: "deliver-b".into() });
    b.unsubscribe_account("alice@example.com");
    assert_eq!(b.account_count(), 0);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let d = a.send_stanza("alice@example.com/phone", Bytes::from_static(XML)).await.unwrap();
        if d == Delivery::NoResponders {
            break;
        }
        assert!(Instant::now() < deadline, "still delivered after the last unsubscribe: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first `subscribe_account` returns once NATS has applied the subscription (its own
/// connection's PING/PONG round trip): a stanza sent right after finds it, with no probing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_is_effective_when_subscribe_returns() {
    let nats = Nats::start();
    let (a, _arx) = node(&nats, "order-a").await;
    let (b, mut b_rx) = node(&nats, "order-b").await;
    for i in 0..50 {
        let account = format!("user{i}@example.com");
        b.subscribe_account(&account).await.unwrap();
        let d = a.send_stanza(&account, Bytes::from_static(b"<x/>")).await.unwrap();
        assert_eq!(d, Delivery::Delivered { by_node: "order-b".into() }, "{account}");
        assert!(matches!(b_rx.recv().await, Some(Inbound::Stanza { to, .. }) if to == account));
    }
    assert_eq!(b.account_count(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stanza_to_unheld_account_gets_no_responders_quickly() {
    let nats = Nats::start();
    let (a, _rx) = node(&nats, "nobody-a").await;
    let (_b, _brx) = node(&nats, "nobody-b").await;
    let start = Instant::now();
    let d = a.send_stanza("carol@example.com", Bytes::from_static(b"<x/>")).await.unwrap();
    let took = start.elapsed();
    assert_eq!(d, Delivery::NoResponders);
    println!("no-responders answer in {took:?}");
    assert!(took < Duration::from_millis(300), "{took:?}");
    // Too large for the envelope limits: an error, nothing sent.
    let huge = Bytes::from(vec![b'x'; Limits::default().max_payload + 1]);
    assert!(a.send_stanza("carol@example.com", huge).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_inbound_queue_refuses_so_the_sender_stores_offline() {
    let nats = Nats::start();
    let (a, _arx) = node(&nats, "busy-a").await;
    let mut s = settings(&nats, "busy-b", SECRET);
    s.inbound_capacity = 1;
    let (b, mut b_rx) = Cluster::start(s).await.unwrap();
    b.subscribe_account("alice@example.com").await.unwrap();
    wait_interest(&a, "alice@example.com", &mut b_rx).await;
    let d1 = a.send_stanza("alice@example.com", Bytes::from_static(b"<one/>")).await.unwrap();
    let d2 = a.send_stanza("alice@example.com", Bytes::from_static(b"<two/>")).await.unwrap();
    assert_eq!(d1, Delivery::Delivered { by_node: "busy-b".into() });
    assert_eq!(d2, Delivery::Refused { by_node: "busy-b".into() });
    assert_eq!(Stats::get(&b.stats().inbound_overflow), 1);
    assert!(matches!(b_rx.recv().await, Some(Inbound::Stanza { xml, .. }) if xml == "<one/>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_state_and_kick_reach_the_other_holders_only() {
    let nats = Nats::start();
    let (a, mut a_rx) = node(&nats, "state-a").await;
    let (b, mut b_rx) = node(&nats, "state-b").await;
    a.subscribe_account("alice@example.com").await.unwrap();
    b.subscribe_account("alice@example.com").await.unwrap();
    wait_interest(&a, "alice@example.com", &mut b_rx).await;
    wait_interest(&b, "alice@example.com", &mut a_rx).await;
    let state = AccountState {
        account: "alice@example.com".into(),
        resources: vec![ResourceState {
            resource: "phone".into(),
            priority: 5,
            availability: Availability::Away,
            bound_at: 1234,
        }],
    };
    b.publish_hello(state.clone()).await.unwrap();
    assert_eq!(
        a_rx.recv().await,
        Some(Inbound::Hello { from_node: "state-b".into(), state: state.clone() })
    );
    a.publish_state(state.clone()).await.unwrap();
    assert_eq!(b_rx.recv().await, Some(Inbound::State { from_node: "state-a".into(), state }));
    b.kick("alice@example.com/phone", 99).await.unwrap();
    assert_eq!(
        a_rx.recv().await,
        Some(Inbound::Kick {
            from_node: "state-b".into(),
            full_jid: "alice@example.com/phone".into(),
            bound_at: 99
        })
    );
    // A node never receives its own envelopes.
    b.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b_rx.try_recv().is_err());
}

/// Forwards a BOSH request from `from` to the node tagged `tag` and returns it as that node's
/// queue `rx` got it, with the pending forward. The holder's subscription is applied by NATS
/// asynchronously: until it is, the forward finds no responder and is sent again.
async fn forwarded(
    from: &Cluster,
    tag: &str,
    rx: &mut mpsc::Receiver<Inbound>,
    truncated: bool,
    wait: Duration,
) -> (tokio::task::JoinHandle<BoshOutcome>, Inbound) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (a, to) = (from.clone(), tag.to_owned());
        let mut f = tokio::spawn(async move {
            a.forward_bosh(&to, "s1", Bytes::from_static(b"<body rid='1'/>"), truncated, wait).await
        });
        tokio::select! {
            item = rx.recv() => return (f, item.expect("inbound queue open")),
            r = &mut f => assert_eq!(r.unwrap(), BoshOutcome::Unknown),
        }
        assert!(Instant::now() < deadline, "the BOSH subject of {tag} has no subscriber");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// BOSH requests reach the node the tag names, and no other; its answer (or its silence, or
/// its being busy) comes back; a tag nobody has fails at once; a holder that dies with the
/// request is given up at its NodeDown, not after the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bosh_request_reaches_the_tagged_node_and_its_answer_comes_back() {
    let nats = Nats::start();
    let (a, _arx) = node(&nats, "bosh-a").await;
    let (b, mut b_rx) = node(&nats, "bosh-b").await;
    let (_c, mut c_rx) = node(&nats, "bosh-c").await;
    assert_eq!(b.node_tag(), node_tag("bosh-b"));
    let tag = b.node_tag().to_owned();
    let wait = Duration::from_secs(10);

    let (f, item) = forwarded(&a, &tag, &mut b_rx, false, wait).await;
    let Inbound::Bosh { from_node, sid, wait: w, truncated, body, reply } = item else {
        panic!("not a BOSH request: {item:?}")
    };
    assert_eq!((from_node.as_str(), sid.as_str(), w, truncated), ("bosh-a", "s1", wait, false));
    assert_eq!(body, "<body rid='1'/>");
    reply.0.send(BoshOutcome::Answered(Bytes::from_static(b"<body>ok</body>"))).unwrap();
    assert_eq!(f.await.unwrap(), BoshOutcome::Answered(Bytes::from_static(b"<body>ok</body>")));
    assert!(c_rx.try_recv().is_err(), "another node got the request");

    // A holder that drops the request (no such sid) answers Unknown; a busy one Busy.
    let (f, item) = forwarded(&a, &tag, &mut b_rx, true, wait).await;
    assert!(matches!(&item, Inbound::Bosh { truncated: true, .. }), "{item:?}");
    drop(item);
    assert_eq!(f.await.unwrap(), BoshOutcome::Unknown);
    let (f, item) = forwarded(&a, &tag, &mut b_rx, false, wait).await;
    let Inbound::Bosh { reply, .. } = item else { panic!("not a BOSH request: {item:?}") };
    reply.0.send(BoshOutcome::Busy).unwrap();
    assert_eq!(f.await.unwrap(), BoshOutcome::Busy);

    // A tag no node has: NATS has no responder, at once.
    let tags = ["bosh-a", "bosh-b", "bosh-c"].map(node_tag);
    let nobody = (0u32..).map(|i| format!("{i:08x}")).find(|t| !tags.contains(t)).unwrap();
    let started = Instant::now();
    let r = a.forward_bosh(&nobody, "s1", Bytes::new(), false, wait).await;
    assert_eq!(r, BoshOutcome::Unknown);
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());

    // The holder dies holding the request: given up when it is seen down (node_timeout 1 s).
    wait_until(Duration::from_secs(3), || a.members().len() == 3).await;
    let (f, _held) = forwarded(&a, &tag, &mut b_rx, false, wait).await;
    let killed_at = Instant::now();
    drop(b);
    assert_eq!(f.await.unwrap(), BoshOutcome::Unknown);
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// A holder whose inbound queue is full answers Busy at once rather than queueing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bosh_request_to_a_holder_with_a_full_queue_is_busy() {
    let nats = Nats::start();
    let (a, _arx) = node(&nats, "bosh-busy-a").await;
    let mut s = settings(&nats, "bosh-busy-b", SECRET);
    s.inbound_capacity = 1;
    let (b, mut b_rx) = Cluster::start(s).await.unwrap();
    let tag = b.node_tag().to_owned();
    let wait = Duration::from_secs(10);
    let (_first, _held) = forwarded(&a, &tag, &mut b_rx, false, wait).await;
    let (a2, to) = (a.clone(), tag.clone());
    let _queued =
        tokio::spawn(async move { a2.forward_bosh(&to, "s2", Bytes::new(), false, wait).await });
    wait_until(Duration::from_secs(5), || b_rx.len() == 1).await;
    let started = Instant::now();
    assert_eq!(a.forward_bosh(&tag, "s3", Bytes::new(), false, wait).await, BoshOutcome::Busy);
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!(Stats::get(&b.stats().inbound_overflow), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_is_seen_down_within_node_timeout() {
    let nats = Nats::start();
    let (a, _arx) = node(&nats, "member-a").await;
    let (b, _brx) = node(&nats, "member-b").await;
    let (c, _crx) = node(&nats, "member-c").await;
    let mut events = a.member_events();
    wait_until(Duration::from_secs(3), || {
        let m = a.members();
        m.len() == 3 && m.iter().all(|m| m.state == MemberState::Running)
    })
    .await;
    let m = a.members();
    assert_eq!(
        m.iter().map(|m| m.node.as_str()).collect::<Vec<_>>(),
        ["member-a", "member-b", "member-c"]
    );
    assert_eq!(m[2].admin_address, "127.0.0.1:18");

    // Killed: no goodbye, its heartbeats just stop.
    let killed_at = Instant::now();
    drop(c);
    let down = loop {
        match tokio::time::timeout(Duration::from_secs(3), events.recv()).await {
            Ok(Ok(MemberEvent::NodeDown { node, .. })) => break node,
            Ok(Ok(_)) => continue,
            other => panic!("no NodeDown: {other:?}"),
        }
    };
    let took = killed_at.elapsed();
    println!("NodeDown seen {took:?} after the kill (node_timeout 1 s, heartbeat 100 ms)");
    assert_eq!(down, "member-c");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1500), "{took:?}");
    let m = a.members();
    assert_eq!(m[2].state, MemberState::Stopped);
    assert_eq!(m[1].state, MemberState::Running);

    // Graceful leave: NodeDown at once.
    let left_at = Instant::now();
    b.shutdown().await.unwrap();
    match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
        Ok(Ok(MemberEvent::NodeDown { node, .. })) => assert_eq!(node, "member-b"),
        other => panic!("no NodeDown after leave: {other:?}"),
    }
    assert!(left_at.elapsed() < Duration::from_millis(500));
    // Its heartbeats stopped with the leave: it does not come back up.
    let back = tokio::time::timeout(Duration::from_millis(500), events.recv()).await;
    assert!(back.is_err(), "event after leave: {back:?}");
    assert_eq!(a.members()[1].state, MemberState::Stopped);
    assert!(log_lines_with(&["node down", "member-c"]) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_reconnects_resubscribes_and_delivers_again() {
    let mut nats = Nats::start();
    let (a, _arx) = node(&nats, "restart-a").await;
    let (b, mut b_rx) = node(&nats, "restart-b").await;
    b.subscribe_account("alice@example.com").await.unwrap();
    wait_interest(&a, "alice@example.com", &mut b_rx).await;
    let d = a.send_stanza("alice@example.com", Bytes::from_static(b"<before/>")).await.unwrap();
    assert_eq!(d, Delivery::Delivered { by_node: "restart-b".into() });
    assert!(b_rx.recv().await.is_some());

    nats.kill();
    wait_until(Duration::from_secs(5), || !a.is_connected() && !b.is_connected()).await;
    let d = a.send_stanza("alice@example.com", Bytes::from_static(b"<during/>")).await.unwrap();
    assert_eq!(d, Delivery::TimedOut, "NATS down: the caller stores offline");
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.spawn();
    let back = Instant::now();
    wait_until(Duration::from_secs(15), || a.is_connected() && b.is_connected()).await;
    println!("both reconnected {:?} after NATS came back", back.elapsed());

    // The client re-subscribes by itself: delivery works again without any call.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let d = a.send_stanza("alice@example.com", Bytes::from_static(b"<after/>")).await.unwrap();
        if d == (Delivery::Delivered { by_node: "restart-b".into() }) {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered after reconnect: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loop {
        match b_rx.recv().await {
            Some(Inbound::Stanza { xml, .. }) if xml == "<after/>" => break,
            Some(_) => continue,
            None => panic!("inbound closed"),
        }
    }
    for n in ["restart-a", "restart-b"] {
        assert!(log_lines_with(&["disconnected from NATS", n]) >= 1, "no disconnect log for {n}");
        assert!(log_lines_with(&["connected to NATS", "INFO", n]) >= 2, "no reconnect log for {n}");
    }
    assert!(Stats::get(&b.stats().disconnects) >= 1);
    assert!(Stats::get(&b.stats().connects) >= 2);
    // The account subscription connection, too.
    assert!(log_lines_with(&["account subscriptions disconnected from NATS", "restart-b"]) >= 1);
    assert!(Stats::get(&b.stats().subs_disconnects) >= 1);
    assert!(Stats::get(&b.stats().subs_connects) >= 2);
    // Membership survives: both still see each other running.
    wait_until(Duration::from_secs(3), || {
        a.members().iter().filter(|m| m.state == MemberState::Running).count() == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_with_a_wrong_secret_are_rejected_and_counted() {
    let nats = Nats::start();
    let (b, mut b_rx) = node(&nats, "secret-b").await;
    b.subscribe_account("alice@example.com").await.unwrap();
    b.flush().await.unwrap();

    // A node with another secret: its heartbeats are rejected, it never becomes a member.
    let (evil, _erx) =
        Cluster::start(settings(&nats, "secret-evil", b"a-different-secret-0123456789"))
            .await
            .unwrap();
    wait_until(Duration::from_secs(3), || Stats::get(&b.stats().bad_tag) >= 2).await;
    assert!(b.members().iter().all(|m| m.node != "secret-evil"));
    // Its account subjects differ (keyed hash): it cannot even find Alice.
    assert_ne!(
        evil.subjects().account("alice@example.com"),
        b.subjects().account("alice@example.com")
    );
    let d = evil.send_stanza("alice@example.com", Bytes::from_static(b"<x/>")).await.unwrap();
    assert_eq!(d, Delivery::NoResponders);
    drop(evil);

    // A raw NATS client that knows Alice's subject but not the secret: no ack, nothing inbound.
    let raw = async_nats::connect(nats.url()).await.unwrap();
    let forged = Envelope {
        sender: "secret-a".into(),
        body: Body::Stanza {
            to: "alice@example.com".into(),
            xml: Bytes::from_static(b"<forged/>"),
        },
    }
    .encode(&Keys::derive(b"a-different-secret-0123456789"), &Limits::default())
    .unwrap();
    let before = Stats::get(&b.stats().bad_tag);
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        raw.request(b.subjects().account("alice@example.com"), forged),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "a forged stanza was acknowledged");
    raw.publish(b.subjects().account("alice@example.com"), Bytes::from_static(b"garbage"))
        .await
        .unwrap();
    raw.flush().await.unwrap();
    wait_until(Duration::from_secs(2), || Stats::get(&b.stats().bad_tag) >= before + 2).await;
    assert!(b_rx.try_recv().is_err(), "a forged envelope reached the server");
}
