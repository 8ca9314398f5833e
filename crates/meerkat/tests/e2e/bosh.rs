//! Issue 6: BOSH (XEP-0124 1.11 / XEP-0206) at `/http-bind` of an HTTP listener, over real
//! sockets with a hand-written HTTP/1.1 client: session creation attributes (exact XML), SASL
//! PLAIN + restart + bind, chat with a TCP user both ways (the TCP user's message answers a
//! held request), retransmission of a rid, item-not-found for unknown sids and rids outside
//! the window, oversized bodies refused before they are read, wait expiry, hold overflow,
//! inactivity ending the session (the contact sees unavailable), pause, client terminate,
//! CORS.

use crate::common::bosh::{exchange, post, spawn_post, Bosh, NS_HTTPBIND};
use crate::common::client::LoginOpts;
use crate::common::{free_port, ns, Client, ServerBuilder, TestServer, TlsMode, User};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const ITEM_NOT_FOUND: &str =
    "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='item-not-found'/>";
const POLICY_VIOLATION: &str = "<body xmlns='http://jabber.org/protocol/httpbind' \
                                type='terminate' condition='policy-violation'/>";
const EMPTY: &str = "<body xmlns='http://jabber.org/protocol/httpbind'/>";

/// A node with a TCP listener and an HTTP listener (BOSH at /http-bind) with `extra_http`
/// keys; returns it and the HTTP port.
async fn start(extra_http: &str) -> (TestServer, u16) {
    start_with("", extra_http).await
}

/// [`start`] with `top` (whole TOML sections) in the config as well.
async fn start_with(top: &str, extra_http: &str) -> (TestServer, u16) {
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let http = free_port();
        let builder = ServerBuilder::new()
            .listeners(&[TlsMode::None])
            .extra(top)
            .extra(&format!("[[listen.http]]\nport = {http}\n{extra_http}\n"));
        match TestServer::try_start(&builder).await {
            Ok(server) => return (server, http),
            Err(e) => last_err = e,
        }
    }
    panic!("meerkat with an HTTP listener did not start (3 attempts); last attempt:\n{last_err}");
}

/// Logs in over BOSH (wait 2 s, hold 1), binds `res`.
async fn bosh_login(port: u16, u: &User, res: &str) -> Bosh {
    let mut b = Bosh::create(port, 2, 1).await;
    b.login(u, res).await;
    b
}

/// The start tag of `body` with the sid and authid replaced by `SID` and `AUTHID`.
fn start_tag(body: &str, sid: &str) -> String {
    let end = body.find('>').expect("start tag");
    let tag = body[..=end].replace(sid, "SID");
    match tag.find("authid='") {
        Some(i) => {
            let rest = &tag[i + 8..];
            let close = rest.find('\'').expect("authid end");
            format!("{}authid='AUTHID'{}", &tag[..i], &rest[close + 1..])
        }
        None => tag,
    }
}

#[tokio::test]
async fn session_creation_response_has_the_xep_attributes() {
    let (_server, port) = start("").await;
    // The client asks for more than the node allows: wait and hold are capped.
    let r = post(
        port,
        "/http-bind",
        &format!(
            "<body content='text/xml; charset=utf-8' hold='3' rid='1573741820' to='localhost' \
             ver='1.6' wait='300' xml:lang='en' xmpp:version='1.0' xmlns='{NS_HTTPBIND}' \
             xmlns:xmpp='urn:xmpp:xbosh'/>"
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/xml; charset=utf-8"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let body = r.element();
    let sid = body.attr("sid").expect("sid").to_string();
    assert_eq!(sid.len(), 32, "128-bit hex sid: {sid}");
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");
    assert_eq!(
        start_tag(&r.body, &sid),
        "<body xmlns='http://jabber.org/protocol/httpbind' \
         xmlns:stream='http://etherx.jabber.org/streams' xmlns:xmpp='urn:xmpp:xbosh' sid='SID' \
         wait='60' hold='1' requests='2' inactivity='30' polling='2' maxpause='120' ver='1.11' \
         from='localhost' authid='AUTHID' xmpp:version='1.0' xmpp:restartlogic='true'>"
    );
    // The stream features are in the creation response (XEP-0206 §4).
    let features = body.get_child("features", ns::STREAM).expect("features");
    let mechs = crate::common::client::mechanisms(features);
    assert!(mechs.contains(&"PLAIN".to_string()), "{mechs:?}");
    assert!(r.body.contains("<stream:features>"), "{}", r.body);
    // Two sessions never share a sid.
    let other = Bosh::create(port, 2, 1).await;
    assert_ne!(other.sid, sid);
}

#[tokio::test]
async fn unserved_host_and_missing_rid_are_refused() {
    let (_server, port) = start("").await;
    let r = post(
        port,
        "/http-bind",
        &format!("<body rid='1' to='example.org' wait='60' hold='1' xmlns='{NS_HTTPBIND}'/>"),
    )
    .await;
    assert_eq!(
        r.body,
        "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='host-unknown'/>"
    );
    let r =
        post(port, "/http-bind", &format!("<body to='localhost' xmlns='{NS_HTTPBIND}'/>")).await;
    assert_eq!(
        r.body,
        "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='bad-request'/>"
    );
    let r = post(
        port,
        "/http-bind",
        "<body rid='1' xmlns='http://jabber.org/protocol/httpbind'><a></b></body>",
    )
    .await;
    assert_eq!(
        r.body,
        "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='bad-request'/>"
    );
}

#[tokio::test]
async fn plain_restart_bind_and_session_over_bosh() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let mut b = Bosh::create(port, 2, 1).await;
    let creds = base64_plain(&alice);
    let r = b
        .request(
            "",
            &format!(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"
            ),
        )
        .await;
    assert_eq!(
        r.body,
        "<body xmlns='http://jabber.org/protocol/httpbind' \
         xmlns:stream='http://etherx.jabber.org/streams'>\
         <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></body>"
    );
    let r = b.request(" xmpp:restart='true' to='localhost' xml:lang='en'", "").await;
    let body = r.element();
    let features = body.get_child("features", ns::STREAM).expect("features after restart");
    assert!(features.has_child("bind", ns::BIND), "{}", r.body);
    assert!(
        r.body.starts_with(
            "<body xmlns='http://jabber.org/protocol/httpbind' \
         xmlns:stream='http://etherx.jabber.org/streams'><stream:features>"
        ),
        "{}",
        r.body
    );
    let r = b
        .request(
            "",
            "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>web</resource></bind></iq>",
        )
        .await;
    assert_eq!(
        r.body,
        format!(
            "<body xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:stream='http://etherx.jabber.org/streams'>\
             <iq xmlns='jabber:client' type='result' id='b1'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{}</jid></bind></iq></body>",
            alice.full("web")
        )
    );
    let r = b
        .request("", "<iq xmlns='jabber:client' type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        .await;
    assert_eq!(
        r.body,
        format!(
            "<body xmlns='http://jabber.org/protocol/httpbind' \
         xmlns:stream='http://etherx.jabber.org/streams'>\
         <iq xmlns='jabber:client' type='result' id='s1' to='{}'/></body>",
            alice.full("web")
        )
    );
    // A wrong password: the failure comes back in a body, the session stays usable.
    let mut c = Bosh::create(port, 2, 1).await;
    let wrong = base64_plain(&User { name: alice.name.clone(), password: "wrong".into() });
    let r = c
        .request(
            "",
            &format!(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{wrong}</auth>"
            ),
        )
        .await;
    assert!(
        r.body.contains("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>"),
        "{}",
        r.body
    );
}

fn base64_plain(u: &User) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", u.name, u.password))
}

/// Alice over BOSH, Bob over TCP; Bob subscribes to Alice's presence and gets her available.
async fn alice_bosh_bob_tcp(server: &TestServer, port: u16) -> (Bosh, Client, User, User) {
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let mut a = bosh_login(port, &alice, "web").await;
    let mut b = Client::login_with(server.port(), &bob, LoginOpts::default()).await;
    a.send("<presence xmlns='jabber:client'/>").await;
    b.send(&format!("<presence to='{}' type='subscribe'/>", alice.bare())).await;
    a.recv_where("subscribe", |e| e.name == "presence" && e.attr("type") == Some("subscribe"))
        .await;
    a.send(&format!("<presence xmlns='jabber:client' to='{}' type='subscribed'/>", bob.bare()))
        .await;
    let aj = a.jid.clone();
    b.recv_where("alice available", |e| {
        e.name == "presence" && e.attr("from") == Some(aj.as_str()) && e.attr("type").is_none()
    })
    .await;
    (a, b, alice, bob)
}

#[tokio::test]
async fn bosh_and_tcp_users_chat_both_ways() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let mut a = Bosh::create(port, 10, 1).await;
    a.login(&alice, "web").await;
    let mut b = Client::login_with(server.port(), &bob, LoginOpts::default()).await;
    // BOSH -> TCP.
    a.send(&format!(
        "<message xmlns='jabber:client' to='{}' type='chat' id='m1'><body>from bosh</body></message>",
        b.jid
    ))
    .await;
    let m = b.recv_message().await;
    assert_eq!(m.attr("from"), Some(alice.full("web").as_str()));
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("from bosh"));
    // TCP -> BOSH: the message answers a request held before it was sent.
    let held_body = a.next_body("", "");
    let held = spawn_post(port, held_body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "the poll was not held");
    let started = Instant::now();
    b.send(&format!(
        "<message to='{}' type='chat' id='m2'><body>from tcp</body></message>",
        alice.full("web")
    ))
    .await;
    let r = held.await.expect("poll task");
    assert!(started.elapsed() < Duration::from_secs(5), "held request answered late");
    // One body holding the message, which declares jabber:client (XEP-0206 §3); the archive
    // id the node adds (XEP-0359) follows the text.
    let head = format!(
        "<body xmlns='http://jabber.org/protocol/httpbind' \
         xmlns:stream='http://etherx.jabber.org/streams'>\
         <message xmlns='jabber:client' to='{}' type='chat' id='m2' from='{}'>\
         <body>from tcp</body>",
        alice.full("web"),
        b.jid
    );
    assert!(r.body.starts_with(&head), "{}", r.body);
    assert!(r.body.ends_with("</message></body>"), "{}", r.body);
    assert_eq!(r.element().children().count(), 1, "{}", r.body);
}

#[tokio::test]
async fn a_repeated_rid_gets_the_same_response() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let mut a = bosh_login(port, &alice, "web").await;
    let r1 = a
        .request(
            "",
            "<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .await;
    assert!(r1.body.contains("id='p1'"), "{}", r1.body);
    // The same rid again (a client whose connection broke): the same bytes, stanza not re-run.
    let again = a.body_with_rid(
        a.rid,
        "",
        "<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    let r2 = post(port, "/http-bind", &again).await;
    assert_eq!(r2.body, r1.body);
    // The previous rid too, within the window of 2.
    let prev = a.body_with_rid(a.rid - 1, "", "");
    let r3 = post(port, "/http-bind", &prev).await;
    assert_ne!(r3.body, ITEM_NOT_FOUND);
    // The session goes on.
    let r = a
        .request(
            "",
            "<iq xmlns='jabber:client' type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .await;
    assert!(r.body.contains("id='p2'"), "{}", r.body);
}

#[tokio::test]
async fn unknown_sid_and_rid_outside_the_window_are_item_not_found() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let r = post(
        port,
        "/http-bind",
        &format!("<body rid='5' sid='0123456789abcdef0123456789abcdef' xmlns='{NS_HTTPBIND}'/>"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, ITEM_NOT_FOUND);
    // Too far ahead: the session ends.
    let a = bosh_login(port, &alice, "web").await;
    let ahead = a.body_with_rid(a.rid + 5, "", "");
    assert_eq!(post(port, "/http-bind", &ahead).await.body, ITEM_NOT_FOUND);
    let next = a.body_with_rid(a.rid + 1, "", "");
    assert_eq!(post(port, "/http-bind", &next).await.body, ITEM_NOT_FOUND);
    // Too old (before the window of kept responses).
    let b = bosh_login(port, &alice, "web2").await;
    let old = b.body_with_rid(b.rid - 3, "", "");
    assert_eq!(post(port, "/http-bind", &old).await.body, ITEM_NOT_FOUND);
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let (server, port) = start("bosh_max_body_bytes = 4096\n").await;
    let alice = server.new_user("alice").await;
    let mut a = bosh_login(port, &alice, "web").await;
    // A declared length above the limit: answered at once, though the body never comes.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(
        b"POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
          Content-Length: 1000000000\r\nConnection: close\r\n\r\n<body rid='1'",
    )
    .await
    .unwrap();
    let r = crate::common::bosh::read_response(&mut tcp, Duration::from_secs(5)).await;
    assert_eq!(r.body, POLICY_VIOLATION);
    // Chunked, no length: refused once the limit is read, and the session it names ends.
    let big = a.next_body(
        "",
        &format!(
            "<message xmlns='jabber:client' to='{}'><body>{}</body></message>",
            alice.bare(),
            "x".repeat(8000)
        ),
    );
    let mut raw = String::from(
        "POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in big.as_bytes().chunks(1000) {
        raw.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), std::str::from_utf8(chunk).unwrap()));
    }
    raw.push_str("0\r\n\r\n");
    assert_eq!(exchange(port, raw.as_bytes()).await.body, POLICY_VIOLATION);
    let next = a.next_body("", "");
    assert_eq!(post(port, "/http-bind", &next).await.body, ITEM_NOT_FOUND);
}

#[tokio::test]
async fn wait_expiry_answers_an_empty_body() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let mut a = Bosh::create(port, 1, 1).await;
    a.login(&alice, "web").await;
    let started = Instant::now();
    let r = a.request("", "").await;
    let took = started.elapsed();
    assert_eq!(r.body, EMPTY);
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test]
async fn a_new_request_answers_the_held_one_beyond_hold() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let mut a = Bosh::create(port, 30, 1).await;
    a.login(&alice, "web").await;
    let first = a.next_body("", "");
    let held = spawn_post(port, first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "the first poll was not held");
    let started = Instant::now();
    let second = a.next_body("", "");
    let second = spawn_post(port, second);
    let r = held.await.unwrap();
    assert_eq!(r.body, EMPTY);
    assert!(started.elapsed() < Duration::from_secs(3), "older request not answered at once");
    // The second is now the held one; output answers it.
    let r = a.body_with_rid(
        a.rid + 1,
        "",
        "<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    a.rid += 1;
    let third = post(port, "/http-bind", &r).await;
    let second = second.await.unwrap();
    assert_eq!(second.body, EMPTY, "hold overflow answers the older request empty");
    // The ping result comes on the newest request.
    assert!(third.body.contains("id='p'"), "{}", third.body);
}

#[tokio::test]
async fn inactivity_ends_the_session_and_contacts_see_unavailable() {
    let (server, port) = start("bosh_max_inactivity_s = 2\n").await;
    let (mut a, mut b, _alice, _bob) = alice_bosh_bob_tcp(&server, port).await;
    let started = Instant::now();
    let aj = a.jid.clone();
    let p = b
        .recv_where("unavailable", |e| {
            e.name == "presence"
                && e.attr("from") == Some(aj.as_str())
                && e.attr("type") == Some("unavailable")
        })
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"));
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    let next = a.next_body("", "");
    assert_eq!(post(port, "/http-bind", &next).await.body, ITEM_NOT_FOUND);
}

#[tokio::test]
async fn pause_extends_inactivity_once_and_is_capped() {
    let (server, port) = start("bosh_max_inactivity_s = 2\nbosh_max_pause_s = 10\n").await;
    let alice = server.new_user("alice").await;
    let mut a = bosh_login(port, &alice, "web").await;
    let started = Instant::now();
    let r = a.request(" pause='6'", "").await;
    assert_eq!(r.body, EMPTY);
    assert!(started.elapsed() < Duration::from_secs(1), "pause not answered at once");
    // Longer than inactivity, shorter than the pause: the session is still there.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = a
        .request(
            "",
            "<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .await;
    assert!(r.body.contains("id='p'"), "{}", r.body);
    // A pause above maxpause ends the session.
    let next = a.next_body(" pause='11'", "");
    assert_eq!(post(port, "/http-bind", &next).await.body, POLICY_VIOLATION);
}

#[tokio::test]
async fn client_terminate_ends_the_session_with_its_last_stanzas() {
    let (server, port) = start("").await;
    let (mut a, mut b, _alice, _bob) = alice_bosh_bob_tcp(&server, port).await;
    let r = a
        .request(
            " type='terminate'",
            "<presence xmlns='jabber:client' type='unavailable'><status>gone</status></presence>",
        )
        .await;
    assert_eq!(r.body, "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate'/>");
    let aj = a.jid.clone();
    let p = b
        .recv_where("unavailable", |e| e.name == "presence" && e.attr("from") == Some(aj.as_str()))
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"));
    assert_eq!(p.get_child("status", ns::CLIENT).map(|s| s.text()).as_deref(), Some("gone"));
    let next = a.next_body("", "");
    assert_eq!(post(port, "/http-bind", &next).await.body, ITEM_NOT_FOUND);
}

#[tokio::test]
async fn cors_preflight_and_get_for_browsers() {
    let (_server, port) = start("").await;
    let r = exchange(
        port,
        b"OPTIONS /http-bind HTTP/1.1\r\nHost: x\r\nOrigin: https://chat.example\r\n\
          Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\
          Connection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST, OPTIONS"));
    assert_eq!(r.header("access-control-allow-headers"), Some("Content-Type"));
    let r =
        exchange(port, b"GET /http-bind HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.body.contains("BOSH"), "{}", r.body);
}

#[tokio::test]
async fn empty_bosh_path_disables_the_endpoint() {
    let (_server, port) = start("bosh_path = \"\"\n").await;
    let r =
        exchange(port, b"GET /http-bind HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn metrics_count_bosh_sessions() {
    use crate::stream_management::{metric, scrape};
    let metrics_port = free_port();
    let (server, port) = start_with(&format!("[metrics]\nport = {metrics_port}\n"), "").await;
    let alice = server.new_user("alice").await;
    let mut a = bosh_login(port, &alice, "web").await;
    let text = scrape(metrics_port).await;
    assert_eq!(metric(&text, "meerkat_bosh_sessions_total"), 1.0, "{text}");
    assert_eq!(metric(&text, "meerkat_bosh_sessions"), 1.0, "{text}");
    a.request(" type='terminate'", "").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&scrape(metrics_port).await, "meerkat_bosh_sessions") != 0.0 {
        assert!(Instant::now() < deadline, "gauge did not return to 0");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn node_stop_ends_held_requests_with_a_terminate() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let mut a = Bosh::create(port, 30, 1).await;
    a.login(&alice, "web").await;
    let poll = spawn_post(port, a.next_body("", ""));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.ctl(&["stop"]).await.assert_ok();
    let r = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("held request answered on stop")
        .expect("poll task");
    let body = r.element();
    assert_eq!(body.attr("type"), Some("terminate"), "{}", r.body);
    let cond = body.attr("condition").unwrap_or_default();
    assert!(
        cond == "system-shutdown"
            || (cond == "remote-stream-error" && r.body.contains("<system-shutdown ")),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_stream_error_ends_the_session_with_remote_stream_error() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let mut a = bosh_login(port, &alice, "web").await;
    // Not a stanza kind of jabber:client: unsupported-stanza-type (RFC 6120 §4.9.3.22).
    let r = a.request("", "<foo xmlns='jabber:client'/>").await;
    assert_eq!(
        r.body,
        "<body xmlns='http://jabber.org/protocol/httpbind' \
         xmlns:stream='http://etherx.jabber.org/streams' type='terminate' \
         condition='remote-stream-error'><stream:error>\
         <unsupported-stanza-type xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
         </stream:error></body>"
    );
    let next = a.next_body("", "");
    assert_eq!(post(port, "/http-bind", &next).await.body, ITEM_NOT_FOUND);
}

#[tokio::test]
async fn stanzas_without_a_namespace_are_read_as_jabber_client() {
    let (server, port) = start("").await;
    let alice = server.new_user("alice").await;
    let mut a = bosh_login(port, &alice, "web").await;
    // XEP-0206 §3 asks for xmlns='jabber:client'; a client that leaves it out is still served.
    let r = a.request("", "<iq type='get' id='p9'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert!(r.body.contains("<iq xmlns='jabber:client' type='result' id='p9'"), "{}", r.body);
}

/// Cluster (PostgreSQL + NATS): a BOSH session lives on the node that created it; a user on
/// another node chats with it through the cluster, and a request of the session that reaches
/// the other node is forwarded to it (more in `bosh_cluster.rs`).
#[tokio::test]
async fn bosh_user_on_one_node_chats_with_a_tcp_user_on_another() {
    let cluster = crate::common::nats::ClusterFixture::start_with(2, true).await;
    let alice = cluster.node(1).new_user("alice").await;
    let bob = cluster.node(1).new_user("bob").await;
    let http1 = cluster.http_ports[0];
    let http2 = cluster.http_ports[1];
    let mut a = Bosh::create(http1, 10, 1).await;
    a.login(&alice, "web").await;
    let mut b = cluster.node(2).login(&bob, "tcp").await;
    a.send(&format!(
        "<message xmlns='jabber:client' to='{}' type='chat'><body>bosh on node1</body></message>",
        b.jid
    ))
    .await;
    let m = b
        .recv_where("message", |e| {
            e.name == "message"
                && e.get_child("body", ns::CLIENT).is_some_and(|x| x.text() == "bosh on node1")
        })
        .await;
    assert_eq!(m.attr("from"), Some(alice.full("web").as_str()));
    let poll = spawn_post(http1, a.next_body("", ""));
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.send(&format!(
        "<message to='{}' type='chat'><body>tcp on node2</body></message>",
        alice.full("web")
    ))
    .await;
    let r = poll.await.expect("poll task");
    assert!(r.body.contains("<body>tcp on node2</body>"), "{}", r.body);
    // The same session's next request sent to the other node: answered by the holder.
    a.port = http2;
    let r = a
        .send("<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let pong = r.children().find(|e| e.name == "iq").unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(pong.attr("type"), Some("result"));
    assert_eq!(pong.attr("id"), Some("p1"));
}
