//! Issue 6: XMPP over WebSocket (RFC 7395) on an HTTP listener: the upgrade and its `xmpp`
//! subprotocol, `<open/>`/`<close/>` framing with exact XML, SASL (PLAIN, SCRAM-SHA-256), bind,
//! chat and presence with a TCP user, Stream Management with resumption, size limits (close code
//! 1009 before the payload is read), framing errors, keepalive, timeouts and `wss://`.

use crate::common::client::{xml, LoginOpts};
use crate::common::websocket;
use crate::common::{
    free_port, ns, Client, Mech, ServerBuilder, TestServer, TlsMode, User, DOMAIN,
};
use crate::stream_management::{enable, make_mutual, SM};
use std::time::Duration;
use tokio_tungstenite::tungstenite;

const OPEN_TO_LOCALHOST: &str =
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
const CLOSE: &str = "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";
/// The node's `<open/>` with its random id replaced by `ID`.
const NODE_OPEN: &str = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='ID' \
                         from='localhost' version='1.0' xml:lang='en'/>";

/// A node with a TCP listener (no TLS) and an HTTP listener; returns it and the HTTP port.
async fn start(tls: bool, extra: &str) -> (TestServer, u16) {
    // The HTTP port is fixed in the configuration: a port taken between the probe and the
    // node's bind needs a fresh one on the retry.
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let http = free_port();
        let builder = ServerBuilder::new()
            .listeners(&[TlsMode::None])
            .extra(&format!("[[listen.http]]\nport = {http}\ntls = {tls}\n"))
            .extra(extra);
        match TestServer::try_start(&builder).await {
            Ok(server) => return (server, http),
            Err(e) => last_err = e,
        }
    }
    panic!("meerkat with an HTTP listener did not start (3 attempts); last attempt:\n{last_err}");
}

/// The node's messages so far, its stream ids replaced by `ID`.
fn messages(c: &Client) -> Vec<String> {
    c.ws_messages.iter().map(|m| normalise_id(m)).collect()
}

fn normalise_id(m: &str) -> String {
    match (m.find(" id='"), m.starts_with("<open ")) {
        (Some(i), true) => {
            let rest = &m[i + 5..];
            let end = rest.find('\'').unwrap_or(0);
            format!("{} id='ID'{}", &m[..i], &rest[end + 1..])
        }
        _ => m.to_string(),
    }
}

/// Logs in over `ws://` with `mech`, binds `res`, sends initial presence unless `quiet`.
pub async fn ws_login(port: u16, u: &User, mech: Mech, res: &str, quiet: bool) -> Client {
    let mut c = Client::connect_ws(port, &u.name).await;
    c.open_stream().await;
    if let Err(f) = c.auth(mech, &u.name, &u.password).await {
        panic!("{}: {} over WebSocket failed: {}", u.name, mech.name(), xml(&f));
    }
    c.bind(Some(res)).await;
    if !quiet {
        c.presence(0).await;
    }
    c
}

/// Expects `<stream:error><COND/>...</stream:error>`, then `<close/>`, then the closing frame
/// with `code`.
async fn expect_ws_stream_error(c: &mut Client, cond: &str, code: u16) {
    c.expect_stream_error(cond, Duration::from_secs(5)).await;
    let n = c.ws_messages.len();
    assert!(n >= 2, "expected <stream:error/> and <close/>, got {:?}", c.ws_messages);
    let err = &c.ws_messages[n - 2];
    let head = format!(
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>\
         <{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
    );
    assert!(err.starts_with(&head) && err.ends_with("</stream:error>"), "{err}");
    assert_eq!(c.ws_messages[n - 1], CLOSE);
    assert_eq!(c.ws_close_code, Some(code), "close code");
}

#[tokio::test]
async fn open_features_plain_bind_and_close_exact_xml() {
    let (server, port) = start(false, "[modules.register]\nenabled = false\n").await;
    let alice = server.new_user("alice").await;
    let mut c = Client::connect_ws(port, "alice").await;
    c.send(OPEN_TO_LOCALHOST).await;
    c.recv_header().await;
    c.recv_features().await;
    let m = messages(&c);
    assert_eq!(m[0], NODE_OPEN);
    assert!(
        m[1].starts_with(
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
             <mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>\
             <mechanism>PLAIN</mechanism></mechanisms>"
        ),
        "{}",
        m[1]
    );
    c.auth(Mech::Plain, &alice.name, &alice.password).await.expect("PLAIN");
    let m = messages(&c);
    assert_eq!(m[2], "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    // The client's new <open/> after SASL gets a new <open/> and the bind features.
    assert_eq!(m[3], NODE_OPEN);
    assert!(
        m[4].starts_with(
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
        ),
        "{}",
        m[4]
    );
    assert!(m[4].contains("<sm xmlns='urn:xmpp:sm:3'/>"), "{}", m[4]);
    c.send(
        "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>web</resource></bind></iq>",
    )
    .await;
    c.recv().await;
    assert_eq!(
        c.ws_messages[5],
        format!(
            "<iq xmlns='jabber:client' type='result' id='b1'><bind \
             xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{}</jid></bind></iq>",
            alice.full("web")
        )
    );
    // A stanza with its namespace, answered with its namespace.
    c.send("<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    c.recv().await;
    assert_eq!(
        c.ws_messages[6],
        format!(
            "<iq xmlns='jabber:client' type='result' id='p1' from='localhost' to='{}'/>",
            alice.full("web")
        )
    );
    c.send(CLOSE).await;
    match c.next_event(Duration::from_secs(5)).await {
        Some(crate::common::Event::Close) => {}
        other => panic!("expected <close/>, got {other:?}"),
    }
    assert_eq!(c.ws_messages.last().map(String::as_str), Some(CLOSE));
    c.next_event(Duration::from_secs(5)).await;
    assert_eq!(c.ws_close_code, Some(1000));
}

#[tokio::test]
async fn scram_sha_256_login_over_websocket() {
    let (server, port) = start(false, "").await;
    let alice = server.new_user("alice").await;
    let c = ws_login(port, &alice, Mech::ScramSha256, "web", true).await;
    // challenge, success (with the server signature, checked by the client), open, features.
    let m = messages(&c);
    assert!(m[2].starts_with("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"), "{}", m[2]);
    assert!(m[3].starts_with("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"), "{}", m[3]);
    assert_eq!(m[4], NODE_OPEN);
    assert_eq!(c.jid, alice.full("web"));
}

#[tokio::test]
async fn upgrade_without_xmpp_subprotocol_is_refused() {
    let (_server, port) = start(false, "").await;
    for protocol in [None, Some("chat")] {
        match websocket::connect(port, "/ws-xmpp", protocol, false).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400, "{protocol:?}"),
            Err(e) => panic!("{protocol:?}: expected HTTP 400, got {e}"),
            Ok(_) => panic!("{protocol:?}: upgrade accepted without the xmpp subprotocol"),
        }
    }
    match websocket::connect(port, "/elsewhere", Some("xmpp"), false).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
        Err(e) => panic!("expected HTTP 404, got {e}"),
        Ok(_) => panic!("upgrade accepted on an unknown path"),
    }
    let ws = websocket::connect(port, "/ws-xmpp", Some("xmpp"), false).await.expect("upgrade");
    assert_eq!(ws.protocol.as_deref(), Some("xmpp"));
}

#[tokio::test]
async fn websocket_and_tcp_users_subscribe_and_chat_both_ways() {
    let (server, port) = start(false, "").await;
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let mut a = ws_login(port, &alice, Mech::Plain, "web", false).await;
    let mut b = Client::login_with(server.port(), &bob, LoginOpts::default()).await;
    make_mutual(&mut a, &mut b).await;
    a.send(&format!("<message xmlns='jabber:client' to='{}' type='chat' id='m1'><body>from web</body></message>", bob.bare()))
        .await;
    let m = b.recv_message().await;
    assert_eq!(m.attr("from"), Some(alice.full("web").as_str()));
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("from web"));
    b.send(&format!(
        "<message to='{}' type='chat' id='m2'><body>from tcp</body></message>",
        alice.full("web")
    ))
    .await;
    let m = a.recv_message().await;
    assert_eq!(m.attr("from"), Some(b.jid.as_str()));
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("from tcp"));
    // The raw message declares jabber:client on the stanza (RFC 7395 §3.3.3).
    let raw = a.ws_messages.iter().find(|t| t.contains("from tcp")).expect("raw message");
    assert!(raw.starts_with("<message xmlns='jabber:client' "), "{raw}");
    // The roster over WebSocket shows the mutual subscription.
    let r = a.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await;
    let item = r
        .get_child("query", ns::ROSTER)
        .and_then(|q| q.children().find(|i| i.attr("jid") == Some(bob.bare().as_str())))
        .unwrap_or_else(|| panic!("bob not in the roster: {}", xml(&r)));
    assert_eq!(item.attr("subscription"), Some("both"));
    // Bob going offline is seen over the WebSocket.
    b.close().await;
    let p = a.recv_presence_from(&bob.full("res")).await;
    assert_eq!(p.attr("type"), Some("unavailable"));
}

#[tokio::test]
async fn stream_management_enable_ack_and_resume_over_websocket() {
    let (server, port) = start(false, crate::stream_management::NO_SERVER_REQUESTS).await;
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let mut a = ws_login(port, &alice, Mech::Plain, "web", true).await;
    let enabled = enable(&mut a, " resume='true'").await;
    assert!(enabled.is("enabled", SM), "{}", xml(&enabled));
    let previd = enabled.attr("id").expect("resumption id").to_string();
    let raw = a.ws_messages.last().cloned().unwrap_or_default();
    assert!(raw.starts_with("<enabled xmlns='urn:xmpp:sm:3' "), "{raw}");
    // Client -> node: one stanza handled.
    a.sync().await;
    a.send(&format!("<r xmlns='{SM}'/>")).await;
    let ack = a.recv_where("<a/>", |e| e.is("a", SM)).await;
    assert_eq!(ack.attr("h"), Some("1"));
    assert_eq!(a.ws_messages.last().map(String::as_str), Some("<a xmlns='urn:xmpp:sm:3' h='1'/>"));
    // Node -> client: the ping result and a message from bob; ack only the first.
    let mut b = Client::login_with(server.port(), &bob, LoginOpts::default()).await;
    b.send(&format!(
        "<message to='{}' type='chat' id='x1'><body>kept</body></message>",
        alice.full("web")
    ))
    .await;
    a.recv_message().await;
    a.send(&format!("<a xmlns='{SM}' h='1'/>")).await;
    a.sync().await;
    // The WebSocket breaks; a new one resumes and gets the unacknowledged message again.
    a.drop_abruptly();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Client::connect_ws(port, &alice.name).await;
    c.open_stream().await;
    c.auth(Mech::Plain, &alice.name, &alice.password).await.expect("auth");
    c.send(&format!("<resume xmlns='{SM}' previd='{previd}' h='1'/>")).await;
    let r = c.recv_where("<resumed/>", |e| e.is("resumed", SM) || e.is("failed", SM)).await;
    assert!(r.is("resumed", SM), "{}", xml(&r));
    let m = c.recv_message().await;
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("kept"));
    b.send(&format!(
        "<message to='{}' type='chat' id='x2'><body>after</body></message>",
        alice.full("web")
    ))
    .await;
    let m = c.recv_message().await;
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("after"));
}

#[tokio::test]
async fn oversized_message_is_refused_with_1009_and_policy_violation() {
    let (server, port) = start(false, "").await;
    let alice = server.new_user("alice").await;
    let mut c = ws_login(port, &alice, Mech::Plain, "web", true).await;
    let body = "x".repeat(70_000);
    let _ = c
        .try_send_bytes(
            format!(
                "<message xmlns='jabber:client' to='{}'><body>{body}</body></message>",
                alice.bare()
            )
            .as_bytes(),
        )
        .await;
    expect_ws_stream_error(&mut c, "policy-violation", 1009).await;
}

#[tokio::test]
async fn huge_frame_header_is_refused_before_its_payload() {
    let (_server, port) = start(false, "").await;
    let mut c = Client::connect_ws(port, "mallory").await;
    c.open_stream().await;
    // A masked text frame announcing 1 GiB, of which nothing follows: the node must answer from
    // the header alone.
    let mut frame = vec![0x81, 0xFF];
    frame.extend_from_slice(&(1u64 << 30).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    c.send_ws_raw(&frame).await.expect("write frame header");
    expect_ws_stream_error(&mut c, "policy-violation", 1009).await;
}

#[tokio::test]
async fn malformed_xml_is_not_well_formed() {
    let (_server, port) = start(false, "").await;
    let mut c = Client::connect_ws(port, "mallory").await;
    c.open_stream().await;
    c.send("<message xmlns='jabber:client'><body>x</message>").await;
    expect_ws_stream_error(&mut c, "not-well-formed", 1000).await;
}

#[tokio::test]
async fn stream_header_instead_of_open_is_refused() {
    let (_server, port) = start(false, "").await;
    // What a TCP client sends first: the XML declaration is a processing instruction here.
    let mut c = Client::connect_ws(port, "mallory").await;
    c.send(&Client::header_xml(DOMAIN)).await;
    expect_ws_stream_error(&mut c, "restricted-xml", 1000).await;
    assert_eq!(messages(&c)[0], NODE_OPEN);
    // The header alone is an unclosed element.
    let mut c = Client::connect_ws(port, "mallory").await;
    c.send(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
         to='localhost' version='1.0'>",
    )
    .await;
    expect_ws_stream_error(&mut c, "not-well-formed", 1000).await;
    // Closed, it is a complete element, but not <open/>.
    let mut c = Client::connect_ws(port, "mallory").await;
    c.send("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'/>")
        .await;
    expect_ws_stream_error(&mut c, "not-well-formed", 1000).await;
}

#[tokio::test]
async fn two_elements_in_one_message_are_refused() {
    let (server, port) = start(false, "").await;
    let alice = server.new_user("alice").await;
    let mut c = ws_login(port, &alice, Mech::Plain, "web", true).await;
    c.send("<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>").await;
    expect_ws_stream_error(&mut c, "not-well-formed", 1000).await;
}

#[tokio::test]
async fn binary_message_is_refused() {
    let (_server, port) = start(false, "").await;
    let mut c = Client::connect_ws(port, "mallory").await;
    c.open_stream().await;
    c.send_ws_binary(OPEN_TO_LOCALHOST.as_bytes()).await.expect("send binary");
    expect_ws_stream_error(&mut c, "not-well-formed", 1003).await;
}

#[tokio::test]
async fn silent_client_times_out_before_open() {
    let (_server, port) =
        start(false, "[limits]\nunauthenticated_timeout_ms = 500\nnegotiation_timeout_ms = 500\n")
            .await;
    let mut c = Client::connect_ws(port, "sloth").await;
    expect_ws_stream_error(&mut c, "connection-timeout", 1000).await;
    assert_eq!(messages(&c)[0], NODE_OPEN);
}

#[tokio::test]
async fn websocket_ping_keeps_the_session_alive() {
    let (server, port) =
        start(false, "[modules.ping]\ninterval_ms = 200\ntimeout_ms = 1000\n").await;
    let alice = server.new_user("alice").await;
    let mut c = ws_login(port, &alice, Mech::Plain, "web", true).await;
    // Reading lets the client library answer each Ping with a Pong.
    assert!(
        c.drain(Duration::from_millis(1500)).await,
        "the session ended: {:?} {:?}",
        c.ws_messages,
        c.ws_close_code
    );
    assert!(c.ws_pings >= 2, "pings seen: {}", c.ws_pings);
    c.sync().await;
}

#[tokio::test]
async fn wss_login_and_chat_with_a_tcp_user() {
    let (server, port) = start(true, "").await;
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let mut a = Client::connect_wss(port, "alice").await;
    let features = a.open_stream().await;
    let mechs = crate::common::client::mechanisms(&features);
    assert!(mechs.contains(&"SCRAM-SHA-256-PLUS".to_string()), "{mechs:?}");
    a.auth(Mech::ScramSha256, &alice.name, &alice.password).await.expect("SCRAM over wss");
    a.bind(Some("web")).await;
    let mut b = Client::login_with(server.port(), &bob, LoginOpts::default()).await;
    b.send(&format!(
        "<message to='{}' type='chat' id='s1'><body>over tls</body></message>",
        alice.full("web")
    ))
    .await;
    let m = a.recv_message().await;
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("over tls"));
    // Plain HTTP on the TLS listener gets no upgrade.
    assert!(websocket::connect(port, "/ws-xmpp", Some("xmpp"), false).await.is_err());
}

#[tokio::test]
async fn idle_and_slow_http_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_server, port) = start(false, "[limits]\nnegotiation_timeout_ms = 500\n").await;
    // Nothing sent at all, and a request whose headers never end.
    for sent in [&b""[..], b"GET /ws-xmpp HTTP/1.1\r\nHost: localhost\r\n"] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        s.write_all(sent).await.expect("write");
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "connection still open after 5 s (sent {sent:?})");
    }
    // A request head above 16 KiB is refused, not buffered.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let head =
        format!("GET /ws-xmpp HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n", "a".repeat(40_000));
    let _ = s.write_all(head.as_bytes()).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after an oversized request head");
    let reply = String::from_utf8_lossy(&buf);
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 431"), "{reply}");
}

#[tokio::test]
async fn metrics_count_websocket_connections() {
    use crate::stream_management::{metric, scrape};
    let metrics_port = free_port();
    let (server, port) = start(false, &format!("[metrics]\nport = {metrics_port}\n")).await;
    let alice = server.new_user("alice").await;
    let c = ws_login(port, &alice, Mech::Plain, "web", true).await;
    let text = scrape(metrics_port).await;
    assert_eq!(metric(&text, "meerkat_websocket_connections_total"), 1.0, "{text}");
    assert_eq!(metric(&text, "meerkat_websocket_connections"), 1.0, "{text}");
    assert!(metric(&text, "meerkat_http_connections_total") >= 1.0, "{text}");
    c.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metric(&scrape(metrics_port).await, "meerkat_websocket_connections") != 0.0 {
        assert!(std::time::Instant::now() < deadline, "gauge did not return to 0");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn wss_scram_plus_binds_to_the_https_connection() {
    let (server, port) = start(true, "").await;
    let alice = server.new_user("alice").await;
    for kind in ["tls-exporter", "tls-server-end-point"] {
        let mut c = Client::connect_wss(port, "alice").await;
        c.open_stream().await;
        c.auth_scram_plus(&alice.name, &alice.password, kind, false)
            .await
            .unwrap_or_else(|f| panic!("SCRAM-SHA-256-PLUS with {kind} over wss: {}", xml(&f)));
        // Binding data of another connection is refused.
        let mut c = Client::connect_wss(port, "alice").await;
        c.open_stream().await;
        let f = c.auth_scram_plus(&alice.name, &alice.password, kind, true).await;
        assert!(f.is_err(), "{kind}: tampered binding data accepted");
    }
}

#[tokio::test]
async fn node_stop_closes_websocket_sessions_with_system_shutdown() {
    let (server, port) = start(false, "").await;
    let alice = server.new_user("alice").await;
    let mut c = ws_login(port, &alice, Mech::Plain, "web", true).await;
    server.ctl(&["stop"]).await.assert_ok();
    expect_ws_stream_error(&mut c, "system-shutdown", 1000).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_message_is_not_well_formed() {
    let (_server, port) = start(false, "").await;
    let mut c = Client::connect_ws(port, "mallory").await;
    c.open_stream().await;
    // A masked text frame (mask 0: the payload goes as is) holding an invalid UTF-8 sequence.
    c.send_ws_raw(&[0x81, 0x82, 0, 0, 0, 0, 0xC3, 0x28]).await.expect("write frame");
    expect_ws_stream_error(&mut c, "not-well-formed", 1007).await;
}
