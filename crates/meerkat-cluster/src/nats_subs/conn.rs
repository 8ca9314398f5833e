//! The subscription connection's task: connect, subscribe every account, then read messages
//! and write queued SUB/UNSUB until the connection is lost; reconnect with
//! [`crate::reconnect_backoff`] forever. Only the configured URLs are tried (servers a NATS
//! cluster announces in INFO `connect_urls` are not followed).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::proto::{self, ServerOp};
use super::server_url::ServerUrl;
use super::table::{Cmd, Table};
use super::Deliver;
use crate::cluster::{reconnect_backoff, Stats};
use crate::subjects::Subjects;

/// Longest wait for the TCP connection, and then for the server's INFO and the PONG that
/// ends the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Our keep-alive period; [`MAX_PINGS_OUT`] unanswered ones mean a dead connection (a
/// half-open TCP connection is otherwise never noticed: we only read).
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
const MAX_PINGS_OUT: u32 = 2;
/// Room made for each read.
const READ_CHUNK: usize = 16 * 1024;
/// Unwritten commands beyond this mean the server does not read us: drop the connection.
const OUT_MAX: usize = 64 * 1024 * 1024;

/// What the task needs besides the table.
pub struct Config {
    /// Servers, tried in turn.
    pub urls: Vec<ServerUrl>,
    /// Client name announced in CONNECT.
    pub name: String,
    /// This node, for the logs.
    pub node: String,
    /// Subject names.
    pub subjects: Subjects,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Keep-alive period ([`PING_INTERVAL`]; shorter in tests).
    pub ping_interval: Duration,
}

/// What a PONG answers, oldest first.
enum PongFor {
    Handshake,
    KeepAlive,
    Waiters(Vec<oneshot::Sender<()>>),
}

/// Runs forever (the owner aborts it).
pub async fn run<D: Deliver>(table: Arc<Table>, cfg: Config, deliver: Arc<D>) {
    let mut attempts = 0usize;
    let mut failed_once = false;
    let mut turn = 0usize;
    loop {
        attempts += 1;
        tokio::time::sleep(reconnect_backoff(attempts)).await;
        let Some(url) = cfg.urls.get(turn % cfg.urls.len().max(1)) else { return };
        turn = turn.wrapping_add(1);
        let err = session(&table, &cfg, url, &*deliver, &mut attempts).await;
        table.lock().go_offline();
        if table.connected.swap(false, Ordering::AcqRel) {
            Stats::inc(&cfg.stats.subs_disconnects);
            failed_once = false;
            tracing::warn!(
                node = %cfg.node, server = ?url,
                "cluster: account subscriptions disconnected from NATS, reconnecting: {err}"
            );
        } else if !failed_once {
            failed_once = true;
            tracing::warn!(
                node = %cfg.node, server = ?url,
                "cluster: account subscription connection to NATS failed, retrying: {err}"
            );
        } else {
            tracing::debug!(node = %cfg.node, server = ?url, "cluster: NATS connect failed: {err}");
        }
    }
}

/// One connection, from TCP connect to its loss; returns why it ended.
async fn session<D: Deliver>(
    table: &Table,
    cfg: &Config,
    url: &ServerUrl,
    deliver: &D,
    attempts: &mut usize,
) -> String {
    let connect = TcpStream::connect((url.host.as_str(), url.port));
    let tcp = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return e.to_string(),
        Err(_) => return "connect timed out".into(),
    };
    // Small commands (SUB, PONG) must not wait for more to fill a segment.
    let _ = tcp.set_nodelay(true);
    let (mut rd, mut wr) = tcp.into_split();
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut max_payload = proto::DEFAULT_MAX_PAYLOAD;

    let info = loop {
        let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, rd.read_buf(&mut inbuf)).await;
        match read {
            Ok(Ok(0)) => return "closed before INFO".into(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return e.to_string(),
            Err(_) => return "no INFO from the server".into(),
        }
        match proto::parse(&mut inbuf, max_payload) {
            Ok(Some(ServerOp::Info(info))) => break info,
            Ok(Some(_)) => return "the server did not start with INFO".into(),
            Ok(None) => inbuf.reserve(READ_CHUNK),
            Err(e) => return protocol_error(cfg, e),
        }
    };
    if info.tls_required {
        return "the server requires TLS: configure tls:// URLs".into();
    }
    max_payload = info.payload_limit();

    let mut out = BytesMut::new();
    proto::write_connect(
        &mut out,
        &proto::Connect {
            verbose: false,
            pedantic: false,
            tls_required: false,
            name: &cfg.name,
            lang: "rust",
            version: env!("CARGO_PKG_VERSION"),
            protocol: 1,
            echo: true,
            headers: false,
            user: url.user.as_deref(),
            pass: url.pass.as_deref(),
            auth_token: url.token.as_deref(),
        },
    );
    let current = table.lock().go_online();
    let resubscribed = current.len();
    for (sid, account) in current {
        proto::write_sub(&mut out, &cfg.subjects.account(&account), sid);
    }
    // Its PONG says the server took CONNECT and every SUB: only then are we connected.
    proto::write_ping(&mut out);
    let mut pongs = VecDeque::from([PongFor::Handshake]);
    let mut pings_out = 0u32;
    let handshake = tokio::time::sleep(HANDSHAKE_TIMEOUT);
    tokio::pin!(handshake);
    let every = cfg.ping_interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut connected = false;

    loop {
        if out.len() > OUT_MAX {
            return "the server does not read our commands".into();
        }
        if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 {
            inbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            read = rd.read_buf(&mut inbuf) => {
                match read {
                    Ok(0) => return "connection closed by the server".into(),
                    Ok(_) => {}
                    Err(e) => return e.to_string(),
                }
                loop {
                    let op = match proto::parse(&mut inbuf, max_payload) {
                        Ok(Some(op)) => op,
                        Ok(None) => break,
                        Err(e) => return protocol_error(cfg, e),
                    };
                    match op {
                        ServerOp::Msg { sid, reply, payload } => {
                            let current = table.lock().has_sid(sid);
                            if current {
                                deliver.deliver(payload, reply).await;
                            }
                        }
                        ServerOp::Ping => proto::write_pong(&mut out),
                        ServerOp::Pong => match pongs.pop_front() {
                            Some(PongFor::Handshake) => {
                                connected = true;
                                *attempts = 0;
                                table.connected.store(true, Ordering::Release);
                                Stats::inc(&cfg.stats.subs_connects);
                                tracing::info!(
                                    node = %cfg.node, server = ?url,
                                    server_id = %info.server_id, version = %info.version,
                                    accounts = resubscribed,
                                    "cluster: account subscriptions connected to NATS"
                                );
                            }
                            Some(PongFor::KeepAlive) => pings_out = pings_out.saturating_sub(1),
                            Some(PongFor::Waiters(w)) => {
                                for tx in w {
                                    let _ = tx.send(());
                                }
                            }
                            None => return "PONG without a PING".into(),
                        },
                        ServerOp::Ok => {}
                        ServerOp::Err(text) => {
                            Stats::inc(&cfg.stats.subs_protocol_errors);
                            tracing::warn!(node = %cfg.node, "cluster: NATS error on the account subscription connection: {text}");
                        }
                        ServerOp::Info(i) => max_payload = i.payload_limit(),
                    }
                }
            }
            _ = table.wake.notified() => {
                let (cmds, waiters) = table.lock().take();
                for c in cmds {
                    match c {
                        Cmd::Sub { sid, subject } => proto::write_sub(&mut out, &subject, sid),
                        Cmd::Unsub(sid) => proto::write_unsub(&mut out, sid),
                    }
                }
                // One PING answers every caller of this batch: PONGs come back in order, after
                // the server applied everything written before the PING.
                if !waiters.is_empty() {
                    proto::write_ping(&mut out);
                    pongs.push_back(PongFor::Waiters(waiters));
                }
            }
            _ = tick.tick() => {
                if pings_out >= MAX_PINGS_OUT {
                    return format!("no PONG to {MAX_PINGS_OUT} PINGs");
                }
                pings_out += 1;
                proto::write_ping(&mut out);
                pongs.push_back(PongFor::KeepAlive);
            }
            written = wr.write(&out), if !out.is_empty() => match written {
                Ok(0) => return "connection closed while writing".into(),
                Ok(n) => out.advance(n),
                Err(e) => return e.to_string(),
            },
            _ = &mut handshake, if !connected => return "no answer to the handshake".into(),
        }
    }
}

fn protocol_error(cfg: &Config, e: proto::ProtoError) -> String {
    Stats::inc(&cfg.stats.subs_protocol_errors);
    format!("closing the connection: {e}")
}

#[cfg(test)]
mod tests {
    use super::super::table::Added;
    use super::*;
    use bytes::Bytes;
    use std::sync::Mutex;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::TcpListener;

    const T: Duration = Duration::from_secs(5);

    #[derive(Default)]
    struct Sink(Mutex<Vec<(Bytes, Option<String>)>>);

    impl Deliver for Sink {
        async fn deliver(&self, payload: Bytes, reply: Option<String>) {
            self.0.lock().unwrap().push((payload, reply));
        }
    }

    /// The client's lines up to and including the first starting with `prefix`.
    async fn read_until(rd: &mut BufReader<OwnedReadHalf>, prefix: &str) -> Vec<String> {
        let mut lines = vec![];
        loop {
            let mut l = String::new();
            let n = tokio::time::timeout(T, rd.read_line(&mut l)).await.unwrap().unwrap();
            assert!(n > 0, "client closed; read {lines:?}");
            let done = l.starts_with(prefix);
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    async fn wait_until(mut f: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + T;
        while !f() {
            assert!(tokio::time::Instant::now() < deadline, "condition not met in time");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    struct Fake {
        listener: TcpListener,
        table: Arc<Table>,
        stats: Arc<Stats>,
        sink: Arc<Sink>,
        subjects: Subjects,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn fake(ping_interval: Duration, accounts: &[&str]) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let table = Arc::new(Table::default());
        for a in accounts {
            table.lock().add(a, String::new);
        }
        let subjects = Subjects::new("t", [7; 16]).unwrap();
        let stats = Arc::new(Stats::default());
        let sink = Arc::new(Sink::default());
        let url = ServerUrl::parse(&format!("nats://u:p@127.0.0.1:{port}")).unwrap();
        let cfg = Config {
            urls: vec![url],
            name: "test".into(),
            node: "n".into(),
            subjects: subjects.clone(),
            stats: stats.clone(),
            ping_interval,
        };
        let task = tokio::spawn(run(table.clone(), cfg, sink.clone()));
        Fake { listener, table, stats, sink, subjects, task }
    }

    impl Fake {
        /// Accepts the client, sends INFO, reads its handshake up to the PING and answers it.
        async fn accept(&self) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf, Vec<String>) {
            let (sock, _) = tokio::time::timeout(T, self.listener.accept()).await.unwrap().unwrap();
            let (rd, mut wr) = sock.into_split();
            let mut rd = BufReader::new(rd);
            wr.write_all(b"INFO {\"server_id\":\"fake\",\"max_payload\":16}\r\n").await.unwrap();
            let lines = read_until(&mut rd, "PING").await;
            assert!(!self.table.connected.load(Ordering::Acquire), "connected before the PONG");
            wr.write_all(b"PONG\r\n").await.unwrap();
            wait_until(|| self.table.connected.load(Ordering::Acquire)).await;
            (rd, wr, lines)
        }

        fn sub_line(&self, account: &str) -> String {
            let sid = self.table.lock().sid_of(account);
            format!("SUB {} {sid}\r\n", self.subjects.account(account))
        }
    }

    #[tokio::test]
    async fn handshake_commands_messages_and_hostile_input() {
        let f = fake(Duration::from_secs(3600), &["alice@x"]).await;
        let alice_sub = f.sub_line("alice@x");
        let (mut rd, mut wr, lines) = f.accept().await;
        assert!(lines[0].starts_with("CONNECT {"), "{lines:?}");
        for field in ["\"user\":\"u\"", "\"pass\":\"p\"", "\"headers\":false", "\"verbose\":false"]
        {
            assert!(lines[0].contains(field), "{field} in {}", lines[0]);
        }
        assert!(lines.contains(&alice_sub), "{lines:?}");

        // Server PINGs are answered.
        wr.write_all(b"PING\r\n").await.unwrap();
        read_until(&mut rd, "PONG").await;

        // A new subscription is confirmed only by the PONG that follows its SUB.
        let Added::New { sid: bob, confirm: Some(mut confirm), .. } =
            f.table.lock().add("bob@x", || "mk.t.u.bob".into())
        else {
            panic!("expected a confirmable subscription")
        };
        f.table.wake.notify_one();
        let lines = read_until(&mut rd, "PING").await;
        assert_eq!(lines, [format!("SUB mk.t.u.bob {bob}\r\n"), "PING\r\n".to_owned()]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(confirm.try_recv().is_err(), "confirmed before the PONG");
        wr.write_all(b"PONG\r\n").await.unwrap();
        tokio::time::timeout(T, confirm).await.unwrap().unwrap();

        // A message split across writes arrives once with its reply subject; one for an
        // unknown sid is dropped.
        let alice = alice_sub.trim_end().rsplit(' ').next().unwrap().to_owned();
        wr.write_all(format!("MSG s {alice} _INBOX.r 5\r\nhel").as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        wr.write_all(b"lo\r\nMSG s 999 2\r\nno\r\n").await.unwrap();
        wait_until(|| !f.sink.0.lock().unwrap().is_empty()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            *f.sink.0.lock().unwrap(),
            [(Bytes::from_static(b"hello"), Some("_INBOX.r".to_owned()))]
        );

        // The last reference unsubscribes.
        assert_eq!(f.table.lock().remove("bob@x"), Some(bob));
        f.table.wake.notify_one();
        assert_eq!(read_until(&mut rd, "UNSUB").await, [format!("UNSUB {bob}\r\n")]);

        // -ERR is counted and logged, not fatal.
        wr.write_all(b"-ERR 'Permissions Violation for Subscription'\r\n").await.unwrap();
        wait_until(|| Stats::get(&f.stats.subs_protocol_errors) == 1).await;
        assert!(f.table.connected.load(Ordering::Acquire));

        // A payload beyond max_payload closes the connection.
        wr.write_all(b"MSG s 1 17\r\n").await.unwrap();
        let mut rest = String::new();
        tokio::time::timeout(T, tokio::io::AsyncReadExt::read_to_string(&mut rd, &mut rest))
            .await
            .unwrap()
            .unwrap();
        wait_until(|| !f.table.connected.load(Ordering::Acquire)).await;
        assert_eq!(Stats::get(&f.stats.subs_protocol_errors), 2);
        assert_eq!(Stats::get(&f.stats.subs_disconnects), 1);

        // It reconnects by itself and subscribes what is current: alice, not bob.
        let (_rd, _wr, lines) = f.accept().await;
        assert!(lines.contains(&alice_sub), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("mk.t.u.bob")), "{lines:?}");
        assert_eq!(Stats::get(&f.stats.subs_connects), 2);
    }

    #[tokio::test]
    async fn a_server_that_stops_answering_pings_is_a_dead_connection() {
        let f = fake(Duration::from_millis(100), &[]).await;
        let (mut rd, _wr, _) = f.accept().await;
        read_until(&mut rd, "PING").await;
        wait_until(|| !f.table.connected.load(Ordering::Acquire)).await;
        assert_eq!(Stats::get(&f.stats.subs_disconnects), 1);
        let _again = f.accept().await;
    }

    #[tokio::test]
    async fn garbage_instead_of_info_and_servers_requiring_tls_are_retried() {
        let f = fake(Duration::from_secs(3600), &[]).await;
        for greeting in [&b"HELLO THERE\r\n"[..], b"INFO {\"tls_required\":true}\r\n"] {
            let (mut sock, _) =
                tokio::time::timeout(T, f.listener.accept()).await.unwrap().unwrap();
            sock.write_all(greeting).await.unwrap();
            let mut rest = Vec::new();
            // The client hangs up without a word.
            tokio::time::timeout(T, tokio::io::AsyncReadExt::read_to_end(&mut sock, &mut rest))
                .await
                .unwrap()
                .unwrap();
            assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        }
        let _ok = f.accept().await;
    }
}
