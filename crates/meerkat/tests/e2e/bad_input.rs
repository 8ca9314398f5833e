//! Item 8: bad input. Stream errors of RFC 6120 §4.9.3 (not-well-formed, restricted-xml,
//! policy-violation, host-unknown, not-authorized, connection-timeout), random bytes, and a
//! client that never reads.

use crate::common::{ns, Client, TestServer, User, DOMAIN};
use rand::Rng;
use std::time::{Duration, Instant};

const ERR_WAIT: Duration = Duration::from_secs(5);

/// A connection with an open stream (header exchanged, features read).
async fn opened(server: &TestServer) -> Client {
    let mut c = Client::connect(server.port(), "peer").await;
    c.open_stream().await;
    c
}

#[tokio::test]
async fn malformed_xml_is_not_well_formed() {
    let server = TestServer::start().await;
    let mut c = opened(&server).await;
    c.send("<message to='a@localhost'><body>x</mess></message>").await;
    c.expect_stream_error("not-well-formed", ERR_WAIT).await;
}

#[tokio::test]
async fn malformed_xml_after_login_is_not_well_formed() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut c = server.login(&a, "r").await;
    c.send("<message to='x@localhost' a='1' a='2'/>").await;
    c.expect_stream_error("not-well-formed", ERR_WAIT).await;
}

#[tokio::test]
async fn doctype_is_restricted_xml() {
    let server = TestServer::start().await;
    let mut c = Client::connect(server.port(), "peer").await;
    c.send("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>").await;
    let _ = c.try_send_bytes(Client::header_xml(DOMAIN).as_bytes()).await;
    c.expect_stream_error("restricted-xml", ERR_WAIT).await;
}

#[tokio::test]
async fn comment_is_restricted_xml() {
    let server = TestServer::start().await;
    let mut c = opened(&server).await;
    c.send("<message to='a@localhost'><!-- hello --><body>x</body></message>").await;
    c.expect_stream_error("restricted-xml", ERR_WAIT).await;
}

#[tokio::test]
async fn processing_instruction_is_restricted_xml() {
    let server = TestServer::start().await;
    let mut c = opened(&server).await;
    c.send("<?pi some data?>").await;
    c.expect_stream_error("restricted-xml", ERR_WAIT).await;
}

#[tokio::test]
async fn stanza_over_max_stanza_bytes_is_policy_violation() {
    let server = TestServer::with("[limits]\nmax_stanza_bytes = 10000\n").await;
    let a = server.new_user("alice").await;
    let mut c = server.login(&a, "r").await;
    let big = "x".repeat(20_000);
    // The node may close while we are still writing; the error must still be readable.
    let _ = c
        .try_send_bytes(
            format!("<message to='{}'><body>{big}</body></message>", a.bare()).as_bytes(),
        )
        .await;
    c.expect_stream_error("policy-violation", ERR_WAIT).await;
}

#[tokio::test]
async fn stanza_just_under_the_limit_is_fine() {
    let server = TestServer::with("[limits]\nmax_stanza_bytes = 10000\n").await;
    let a = server.new_user("alice").await;
    let mut c = server.login(&a, "r").await;
    let body = "y".repeat(9000);
    c.send(&format!("<message to='{}'><body>{body}</body></message>", c.jid)).await;
    let m = c.recv_message().await;
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text().len()), Some(9000));
}

#[tokio::test]
async fn deep_nesting_is_policy_violation() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut c = server.login(&a, "r").await;
    let depth = 200;
    let mut s = format!("<message to='{}'>", a.bare());
    for _ in 0..depth {
        s.push_str("<a>");
    }
    for _ in 0..depth {
        s.push_str("</a>");
    }
    s.push_str("</message>");
    let _ = c.try_send_bytes(s.as_bytes()).await;
    c.expect_stream_error("policy-violation", ERR_WAIT).await;
}

#[tokio::test]
async fn unknown_host_is_host_unknown() {
    let server = TestServer::start().await;
    let mut c = Client::connect(server.port(), "peer").await;
    c.send(&Client::header_xml("not-served.example")).await;
    c.expect_stream_error("host-unknown", ERR_WAIT).await;
}

#[tokio::test]
async fn message_before_auth_is_not_authorized() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut c = opened(&server).await;
    c.send(&format!("<message to='{}'><body>hi</body></message>", a.bare())).await;
    c.expect_stream_error("not-authorized", ERR_WAIT).await;
}

#[tokio::test]
async fn silent_unauthenticated_connection_times_out() {
    let server = TestServer::with("[limits]\nunauthenticated_timeout_ms = 1500\n").await;
    let start = Instant::now();
    let mut c = Client::connect(server.port(), "silent").await;
    c.expect_stream_error("connection-timeout", Duration::from_secs(6)).await;
    let t = start.elapsed();
    assert!(t >= Duration::from_millis(1000), "closed too early ({t:?}) for a 1500 ms timeout");
}

#[tokio::test]
async fn unauthenticated_connection_with_open_stream_times_out() {
    let server = TestServer::with("[limits]\nunauthenticated_timeout_ms = 1500\n").await;
    let start = Instant::now();
    let mut c = opened(&server).await;
    c.expect_stream_error("connection-timeout", Duration::from_secs(6)).await;
    assert!(start.elapsed() >= Duration::from_millis(1000));
}

/// One random blob: pure noise, or a valid header followed by noise, or XML-ish noise.
fn random_blob(rng: &mut impl Rng) -> Vec<u8> {
    let len = rng.gen_range(1..2048);
    let mut noise = vec![0u8; len];
    rng.fill_bytes(&mut noise);
    match rng.gen_range(0..4) {
        0 => noise,
        1 => {
            let mut v = Client::header_xml(DOMAIN).into_bytes();
            v.extend_from_slice(&noise);
            v
        }
        2 => {
            const PIECES: &[&str] = &[
                "<",
                ">",
                "/>",
                "</",
                "<message",
                "<iq",
                " to='",
                "'",
                "\"",
                "=",
                "&amp;",
                "&#0;",
                "&#x110000;",
                "<![CDATA[",
                "]]>",
                "xmlns:a='b'",
                "<a:b>",
                "\u{0}",
                "\u{ffff}",
                "<stream:stream",
                "</stream:stream>",
                "<?xml",
                "?>",
                "<!--",
                "&",
                ";",
                " ",
            ];
            let mut v = Client::header_xml(DOMAIN).into_bytes();
            for _ in 0..rng.gen_range(1..200) {
                v.extend_from_slice(PIECES[rng.gen_range(0..PIECES.len())].as_bytes());
            }
            v
        }
        _ => {
            let mut v = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                         xmlns:stream='http://etherx.jabber.org/streams' to='"
                .to_vec();
            v.extend_from_slice(&noise);
            v
        }
    }
}

#[tokio::test]
async fn random_bytes_never_crash_the_server() {
    let mut server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let port = server.port();
    let blobs: Vec<Vec<u8>> = {
        let mut rng = rand::thread_rng();
        (0..200).map(|_| random_blob(&mut rng)).collect()
    };
    for chunk in blobs.chunks(20) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|blob| {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                    else {
                        return;
                    };
                    let _ = s.write_all(&blob).await;
                    let mut buf = [0u8; 4096];
                    let _ = tokio::time::timeout(Duration::from_millis(500), async {
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    })
                    .await;
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("blob task");
        }
        server.assert_alive();
    }
    server.assert_alive();
    // Still serves a login (allow a few seconds should a per-address connection rate apply).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let user = a.clone();
        // Spawned so that a refused attempt (which panics inside the helper) can be retried.
        let attempt = tokio::spawn(async move {
            let mut c = Client::login(port, &user, "after").await;
            c.sync().await;
        });
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(())) => break,
            other if Instant::now() >= deadline => {
                panic!("no login possible after the random-bytes storm: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    server.assert_alive();
}

#[tokio::test]
async fn client_that_never_reads_is_disconnected_and_server_stays_healthy() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut server = TestServer::with("[limits]\nsession_queue_stanzas = 50\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);

    // bob: a small receive buffer, and he stops reading after login.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = sock.connect(([127, 0, 0, 1], server.port()).into()).await.expect("connect");
    let mut bob = Client::from_tcp(tcp, "bob");
    bob.open_stream().await;
    bob.auth(crate::common::Mech::Plain, &b.name, &b.password).await.expect("bob auth");
    bob.bind(Some("slow")).await;
    bob.presence(0).await;
    let bob_jid = bob.jid.clone();

    // alice floods bob; she reads everything that comes back in a task of its own (bounces
    // once bob is gone), as a real client would, so she is never the slow reader.
    let alice = server.login(&a, "r").await;
    let (mut rd, mut wr) = alice.into_tcp().into_split();
    let reader = tokio::spawn(async move {
        let mut seen_ping_reply = false;
        let mut tail = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return (false, seen_ping_reply),
                Ok(n) => {
                    tail.extend_from_slice(&buf[..n]);
                    if tail.windows(10).any(|w| w == b"flood-ping") {
                        seen_ping_reply = true;
                        return (true, seen_ping_reply);
                    }
                    let keep = tail.len().saturating_sub(64);
                    tail.drain(..keep);
                }
            }
        }
    });
    let body = "z".repeat(4000);
    let total = 4000;
    let start = Instant::now();
    for i in 0..total {
        let msg =
            format!("<message to='{bob_jid}' type='chat' id='f{i}'><body>{body}</body></message>");
        // Generous: under load each bounced or stored message costs the node a storage round
        // trip, which throttles the sender (back-pressure) without being a stall.
        match tokio::time::timeout(Duration::from_secs(30), wr.write_all(msg.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                panic!("the flooding sender (alice) was disconnected at message {i}: {e}")
            }
            Err(_) => panic!(
                "the node stopped reading the flooding sender (alice) at message {i} for 30 s; \
                 the slow reader (bob) should be cut off instead"
            ),
        }
        assert!(start.elapsed() < Duration::from_secs(90), "flood too slow: {i} messages in 90 s");
    }
    server.assert_alive();

    // bob now reads: he must find his stream ended before all messages arrived.
    let mut got = 0;
    let ended = loop {
        match bob.next_event(Duration::from_secs(10)).await {
            Some(crate::common::Event::Stanza(e)) if e.name == "message" => got += 1,
            Some(crate::common::Event::Stanza(_)) | Some(crate::common::Event::Open(_)) => {}
            Some(crate::common::Event::Close) | Some(crate::common::Event::Eof) => break true,
            None => break false,
        }
    };
    assert!(ended, "slow reader bob still connected after {total} messages ({got} read)");
    assert!(got < total, "bob received all {total} messages: was he ever cut off?");

    // The node is healthy: alice's session still answers, and a new login works.
    wr.write_all(
        b"<iq type='get' id='flood-ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    )
    .await
    .expect("alice still connected");
    let (alive, pinged) = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("no ping reply for alice within 20 s after the flood")
        .expect("reader task");
    assert!(alive && pinged, "alice's stream ended after the flood");
    server.assert_alive();
    let mut again = Client::login(
        server.port(),
        &User { name: b.name.clone(), password: b.password.clone() },
        "fast",
    )
    .await;
    again.sync().await;
}
