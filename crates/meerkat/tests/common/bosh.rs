//! A tiny BOSH client (XEP-0124/XEP-0206) for the end-to-end tests: hand-written HTTP/1.1 over
//! a real socket, one connection per request (`Connection: close`), so tests see exactly what
//! the node sends: status line, headers and the raw `<body/>`.

use super::client::RECV_TIMEOUT;
use super::{User, DOMAIN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use meerkat_xml::{Element, Limits, Node, StreamEvent, StreamParser};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body parsed as one element.
    pub fn element(&self) -> Element {
        parse(&self.body)
    }
}

/// Parses one XML element (a `<body/>`).
pub fn parse(text: &str) -> Element {
    let mut p = StreamParser::new(Limits { max_stanza_bytes: 1 << 24, ..Limits::default() });
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    let _ = p.next_event();
    p.feed(text.as_bytes());
    match p.next_event() {
        Ok(Some(StreamEvent::Stanza(el))) => el,
        other => panic!("not one element: {other:?} in {text:?}"),
    }
}

/// Sends raw bytes as one HTTP exchange and reads the response until the node closes.
pub async fn exchange(port: u16, raw: &[u8]) -> HttpResponse {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connect http");
    tcp.write_all(raw).await.expect("write request");
    read_response(&mut tcp, Duration::from_secs(90)).await
}

/// Reads one response (the node closes after it: `Connection: close`).
pub async fn read_response(tcp: &mut TcpStream, timeout: Duration) -> HttpResponse {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(timeout, tcp.read_to_end(&mut buf)).await;
    if read.is_err() {
        panic!("no complete HTTP response within {timeout:?}: {:?}", String::from_utf8_lossy(&buf));
    }
    let text = String::from_utf8(buf).expect("utf-8 response");
    let (head, body) =
        text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("bad response {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpResponse { status, headers, body: body.to_string() }
}

/// POSTs `body` to `path`.
pub async fn post(port: u16, path: &str, body: &str) -> HttpResponse {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(port, raw.as_bytes()).await
}

/// POSTs `body` to `/http-bind` from a task of its own (a request the node will hold).
pub fn spawn_post(port: u16, body: String) -> tokio::task::JoinHandle<HttpResponse> {
    tokio::spawn(async move { post(port, "/http-bind", &body).await })
}

/// A BOSH session seen from the client.
pub struct Bosh {
    pub port: u16,
    pub path: String,
    pub sid: String,
    /// The rid of the last request sent.
    pub rid: u64,
    /// The creation response.
    pub created: Element,
    /// The full JID once bound.
    pub jid: String,
    /// Payload elements received but not yet taken.
    pub queue: VecDeque<Element>,
    /// When not empty, [`Bosh::request`] sends each request to the next of these ports in
    /// turn instead of `port` (the nodes of a cluster).
    pub route: Vec<u16>,
    /// Requests sent through `route` so far.
    routed: usize,
}

impl Bosh {
    /// Creates a session with `wait` and `hold`; the response must carry a sid.
    pub async fn create(port: u16, wait: u64, hold: u32) -> Bosh {
        let rid = 1_000_000 + rand::random::<u32>() as u64;
        let r = post(
            port,
            "/http-bind",
            &format!(
                "<body content='text/xml; charset=utf-8' hold='{hold}' rid='{rid}' to='{DOMAIN}' \
                 ver='1.6' wait='{wait}' xml:lang='en' xmpp:version='1.0' \
                 xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'/>"
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        let created = r.element();
        let sid = created.attr("sid").unwrap_or_else(|| panic!("no sid: {}", r.body)).to_string();
        let mut queue = VecDeque::new();
        push_children(&mut queue, &created);
        Bosh {
            port,
            path: "/http-bind".into(),
            sid,
            rid,
            created,
            jid: String::new(),
            queue,
            route: Vec::new(),
            routed: 0,
        }
    }

    /// The next request's body with extra attributes and a payload, taking the next rid.
    pub fn next_body(&mut self, attrs: &str, payload: &str) -> String {
        self.rid += 1;
        self.body_with_rid(self.rid, attrs, payload)
    }

    pub fn body_with_rid(&self, rid: u64, attrs: &str, payload: &str) -> String {
        format!(
            "<body rid='{rid}' sid='{}' xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'{attrs}>{payload}</body>",
            self.sid
        )
    }

    /// Sends one request (next rid) and returns the raw response; its payload is queued.
    pub async fn request(&mut self, attrs: &str, payload: &str) -> HttpResponse {
        let body = self.next_body(attrs, payload);
        let port = self.next_port();
        let r = post(port, &self.path, &body).await;
        assert_eq!(r.status, 200, "{r:?}");
        let el = r.element();
        push_children(&mut self.queue, &el);
        r
    }

    /// The port the next request goes to: `port`, or the next of `route`.
    pub fn next_port(&mut self) -> u16 {
        if self.route.is_empty() {
            return self.port;
        }
        let port = self.route[self.routed % self.route.len()];
        self.routed += 1;
        port
    }

    /// Sends stanzas (next rid) and returns the response body element.
    pub async fn send(&mut self, payload: &str) -> Element {
        self.request("", payload).await.element()
    }

    /// Polls until an element matching `pred` arrives (others stay queued).
    pub async fn recv_where(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        let deadline = Instant::now() + RECV_TIMEOUT * 2;
        loop {
            if let Some(i) = self.queue.iter().position(&pred) {
                return self.queue.remove(i).expect("queued");
            }
            assert!(Instant::now() < deadline, "{what}: not received; queue {:?}", self.queue);
            let r = self.request("", "").await;
            let el = r.element();
            assert_ne!(el.attr("type"), Some("terminate"), "{what}: session ended: {}", r.body);
        }
    }

    /// SASL PLAIN, restart, bind `res` (XEP-0206 §4-§5); sets `jid`.
    pub async fn login(&mut self, user: &User, res: &str) {
        let creds = B64.encode(format!("\0{}\0{}", user.name, user.password));
        let r = self
            .send(&format!(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"
            ))
            .await;
        let _ = r;
        self.recv_where("success", |e| e.name == "success").await;
        let r = self.request(" xmpp:restart='true' to='localhost' xml:lang='en'", "").await;
        let features = self.queue.iter().find(|e| e.name == "features").cloned();
        assert!(features.is_some(), "no features after restart: {}", r.body);
        self.queue.retain(|e| e.name != "features");
        self.send(&format!(
            "<iq xmlns='jabber:client' type='set' id='bind1'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{res}</resource></bind></iq>"
        ))
        .await;
        let iq = self
            .recv_where("bind result", |e| e.name == "iq" && e.attr("id") == Some("bind1"))
            .await;
        assert_eq!(iq.attr("type"), Some("result"), "{iq:?}");
        let jid = iq
            .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.get_child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
            .map(|j| j.text())
            .expect("bound jid");
        self.jid = jid;
    }
}

fn push_children(queue: &mut VecDeque<Element>, body: &Element) {
    for c in &body.children {
        if let Node::Element(e) = c {
            queue.push_back(e.clone());
        }
    }
}
