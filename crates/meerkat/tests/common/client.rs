//! A raw-XML XMPP client for the end-to-end tests.
//!
//! It writes XML strings as given and parses what the node sends with
//! [`meerkat_xml::StreamParser`] used as a client-side stream parser (the node's stream header is
//! the `Open` event), so tests assert on [`Element`]s structurally.
//!
//! Over a WebSocket (RFC 7395, [`Client::connect_ws`]) each text message is fed to the same
//! parser, primed with a synthetic stream header the way the node does it, and `<open/>` and
//! `<close/>` come out as [`Event::Open`] and [`Event::Close`], so every helper below (SASL,
//! bind, presence, receive-where) works on both transports. The raw text of every message
//! received is kept ([`Client::ws_messages`]) for exact-XML assertions.
//!
//! Stanzas that a `recv_where` skips are kept in a queue and returned by later receives, so a
//! test can wait for one reply while presence broadcasts keep arriving.

use super::scram::{Hash, ScramClient};
use super::{ns, User, DOMAIN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use meerkat_xml::{Element, Limits, Node, StreamEvent, StreamOpen, StreamParser};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// How long a receive waits by default.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write may block before the test gives up on it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// SASL mechanism used by a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    Plain,
    ScramSha1,
    ScramSha256,
}

impl Mech {
    /// IANA name.
    pub fn name(self) -> &'static str {
        match self {
            Mech::Plain => "PLAIN",
            Mech::ScramSha1 => "SCRAM-SHA-1",
            Mech::ScramSha256 => "SCRAM-SHA-256",
        }
    }
}

/// What arrived from the node.
#[derive(Debug, Clone)]
pub enum Event {
    /// A stream header.
    Open(StreamOpen),
    /// A top-level element.
    Stanza(Element),
    /// `</stream:stream>`.
    Close,
    /// The TCP connection was closed (or reset) by the node.
    Eof,
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Ws(Box<super::websocket::Ws>),
}

impl Conn {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
            Conn::Ws(_) => unreachable!("WebSocket reads go through next_event"),
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Conn::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Conn::Ws(ws) => ws.send_text(data).await,
        }
    }
}

/// Options of [`Client::login_with`].
#[derive(Debug, Clone)]
pub struct LoginOpts {
    /// Negotiate STARTTLS first.
    pub starttls: bool,
    /// Connect with TLS from the first byte (direct TLS listener).
    pub direct_tls: bool,
    /// SASL mechanism.
    pub mech: Mech,
    /// Requested resource (`None`: let the node generate one).
    pub resource: Option<String>,
    /// Send initial presence with this priority (`None`: no presence).
    pub presence: Option<i8>,
}

impl Default for LoginOpts {
    fn default() -> Self {
        LoginOpts {
            starttls: false,
            direct_tls: false,
            mech: Mech::Plain,
            resource: Some("res".into()),
            presence: Some(0),
        }
    }
}

/// One client connection.
pub struct Client {
    /// Name used in assertion messages (`alice`, `bob2`).
    pub name: String,
    conn: Option<Conn>,
    parser: StreamParser,
    pending: VecDeque<Element>,
    /// Full JID after bind, empty before.
    pub jid: String,
    /// Last stream header received.
    pub header: Option<StreamOpen>,
    /// Last `<stream:features/>` received.
    pub features: Option<Element>,
    next_id: u64,
    raw_tail: Vec<u8>,
    /// True after `</stream:stream>` or EOF was seen.
    pub ended: bool,
    /// WebSocket only: the text of every message received, in order.
    pub ws_messages: Vec<String>,
    /// WebSocket only: the close code of the node's closing frame.
    pub ws_close_code: Option<u16>,
    /// WebSocket only: Ping frames received.
    pub ws_pings: u32,
}

fn client_limits() -> Limits {
    Limits {
        max_stanza_bytes: 16 << 20,
        max_depth: 256,
        max_attributes: 1024,
        max_name_bytes: 1024,
        max_header_bytes: 64 << 10,
    }
}

impl Client {
    fn from_conn(conn: Conn, name: &str) -> Client {
        Client {
            name: name.to_string(),
            conn: Some(conn),
            parser: StreamParser::new(client_limits()),
            pending: VecDeque::new(),
            jid: String::new(),
            header: None,
            features: None,
            next_id: 0,
            raw_tail: Vec::new(),
            ended: false,
            ws_messages: Vec::new(),
            ws_close_code: None,
            ws_pings: 0,
        }
    }

    /// Wraps an upgraded XMPP WebSocket.
    pub fn from_ws(ws: super::websocket::Ws, name: &str) -> Client {
        let mut c = Client::from_conn(Conn::Ws(Box::new(ws)), name);
        super::websocket::prime(&mut c.parser);
        c
    }

    /// True when the connection is an XMPP WebSocket.
    pub fn is_ws(&self) -> bool {
        matches!(self.conn, Some(Conn::Ws(_)))
    }

    /// Connects to `ws://127.0.0.1:port/ws-xmpp` with the `xmpp` subprotocol.
    pub async fn connect_ws(port: u16, name: &str) -> Client {
        let ws = super::websocket::connect(port, "/ws-xmpp", Some("xmpp"), false)
            .await
            .unwrap_or_else(|e| panic!("{name}: WebSocket upgrade failed: {e}"));
        Client::from_ws(ws, name)
    }

    /// Connects to `wss://127.0.0.1:port/ws-xmpp` with the `xmpp` subprotocol.
    pub async fn connect_wss(port: u16, name: &str) -> Client {
        let ws = super::websocket::connect(port, "/ws-xmpp", Some("xmpp"), true)
            .await
            .unwrap_or_else(|e| panic!("{name}: wss upgrade failed: {e}"));
        Client::from_ws(ws, name)
    }

    /// Sends a binary WebSocket message; an error means the node closed the connection.
    pub async fn send_ws_binary(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self.conn.as_mut() {
            Some(Conn::Ws(ws)) => ws.send_binary(data).await,
            _ => panic!("{}: not a WebSocket", self.name),
        }
    }

    /// Writes raw bytes under the WebSocket framing (to forge frame headers).
    pub async fn send_ws_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self.conn.as_mut() {
            Some(Conn::Ws(ws)) => ws.send_raw(data).await,
            _ => panic!("{}: not a WebSocket", self.name),
        }
    }

    /// Opens a TCP connection to the c2s port (nothing sent yet).
    pub async fn connect(port: u16, name: &str) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("{name}: connect to 127.0.0.1:{port}: {e}"));
        tcp.set_nodelay(true).ok();
        Client::from_conn(Conn::Plain(tcp), name)
    }

    /// Wraps an already connected socket (e.g. one with a small receive buffer).
    pub fn from_tcp(tcp: TcpStream, name: &str) -> Client {
        Client::from_conn(Conn::Plain(tcp), name)
    }

    /// Connects to a direct TLS (XEP-0368) listener and completes the TLS handshake.
    pub async fn connect_direct_tls(port: u16, name: &str) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("{name}: connect to 127.0.0.1:{port}: {e}"));
        tcp.set_nodelay(true).ok();
        let tls = super::tls::handshake(tcp, DOMAIN)
            .await
            .unwrap_or_else(|e| panic!("{name}: direct TLS handshake failed: {e}"));
        Client::from_conn(Conn::Tls(Box::new(tls)), name)
    }

    /// True when the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.conn, Some(Conn::Tls(_)))
    }

    /// The last bytes received, for failure messages.
    pub fn raw_tail(&self) -> String {
        String::from_utf8_lossy(&self.raw_tail).into_owned()
    }

    /// A fresh stanza id.
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-{}", self.name, self.next_id)
    }

    // ----- sending -----

    /// Sends bytes; an error means the node closed the connection.
    ///
    /// A write blocked for [`SEND_TIMEOUT`] (the node stopped reading us) is an error too.
    pub async fn try_send_bytes(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self.conn.as_mut() {
            Some(c) => match tokio::time::timeout(SEND_TIMEOUT, c.write_all(data)).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("write blocked for {SEND_TIMEOUT:?}: the node is not reading"),
                )),
            },
            None => Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "no connection")),
        }
    }

    /// Sends XML text; panics when the connection is gone.
    pub async fn send(&mut self, xml: &str) {
        if let Err(e) = self.try_send_bytes(xml.as_bytes()).await {
            panic!(
                "{}: send failed ({e}) for: {xml}\nlast bytes received: {}",
                self.name,
                self.raw_tail()
            );
        }
    }

    /// The opening stream header this client sends, addressed to `to`.
    pub fn header_xml(to: &str) -> String {
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0' \
             xml:lang='en'>"
        )
    }

    /// The RFC 7395 `<open/>` a WebSocket client sends, addressed to `to`.
    pub fn open_xml(to: &str) -> String {
        format!("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{to}' version='1.0'/>")
    }

    /// Sends a stream header (`<open/>` on a WebSocket) to `to` and returns the node's header.
    pub async fn open_stream_to(&mut self, to: &str) -> StreamOpen {
        let header = if self.is_ws() { Self::open_xml(to) } else { Self::header_xml(to) };
        self.send(&header).await;
        self.recv_header().await
    }

    /// Waits for the node's stream header.
    pub async fn recv_header(&mut self) -> StreamOpen {
        match self.next_event(RECV_TIMEOUT).await {
            Some(Event::Open(h)) => {
                self.header = Some(h.clone());
                h
            }
            other => panic!(
                "{}: expected the node's stream header, got {}\nlast bytes: {}",
                self.name,
                describe(&other),
                self.raw_tail()
            ),
        }
    }

    /// Opens a stream to the test domain; returns the `<stream:features/>`.
    pub async fn open_stream(&mut self) -> Element {
        self.open_stream_to(DOMAIN).await;
        self.recv_features().await
    }

    /// Waits for `<stream:features/>`.
    pub async fn recv_features(&mut self) -> Element {
        let f = self.recv().await;
        assert!(
            f.is("features", ns::STREAM),
            "{}: expected <stream:features/>, got {}",
            self.name,
            xml(&f)
        );
        self.features = Some(f.clone());
        f
    }

    // ----- receiving -----

    /// The next event from the socket (not from the queue), `None` on timeout.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.parser.next_event() {
                Ok(Some(StreamEvent::Open(o))) => return Some(Event::Open(o)),
                Ok(Some(StreamEvent::Stanza(e))) => return Some(Event::Stanza(e)),
                Ok(Some(StreamEvent::Close)) => {
                    self.ended = true;
                    return Some(Event::Close);
                }
                Ok(None) => {}
                Err(e) => panic!(
                    "{}: the node sent XML our parser rejects: {e}\nlast bytes: {}",
                    self.name,
                    self.raw_tail()
                ),
            }
            if let Some(Conn::Ws(_)) = self.conn {
                match self.next_ws_message(deadline).await {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(ev) => return ev,
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                return Some(Event::Eof);
            };
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            match tokio::time::timeout(deadline - now, conn.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.conn = None;
                    self.ended = true;
                    return Some(Event::Eof);
                }
                Ok(Ok(n)) => {
                    self.raw_tail.extend_from_slice(&buf[..n]);
                    if self.raw_tail.len() > 4096 {
                        let cut = self.raw_tail.len() - 4096;
                        self.raw_tail.drain(..cut);
                    }
                    self.parser.feed(&buf[..n]);
                }
            }
        }
    }

    /// Reads one WebSocket message into the parser (`Ok(true)`), `Ok(false)` on timeout, or the
    /// event that ends the connection; `<open/>` and `<close/>` are turned into stream events.
    async fn next_ws_message(&mut self, deadline: Instant) -> Result<bool, Option<Event>> {
        use super::websocket::Frame;
        let Some(Conn::Ws(ws)) = self.conn.as_mut() else { return Err(Some(Event::Eof)) };
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(left, ws.recv()).await {
            Err(_) => return Ok(false),
            Ok(f) => f,
        };
        match frame {
            Frame::Text(text) => {
                self.raw_tail.extend_from_slice(text.as_bytes());
                if self.raw_tail.len() > 4096 {
                    let cut = self.raw_tail.len() - 4096;
                    self.raw_tail.drain(..cut);
                }
                self.ws_messages.push(text.clone());
                let el = super::websocket::parse_one(&mut self.parser, &text).unwrap_or_else(|e| {
                    panic!("{}: bad message from the node: {e}: {text}", self.name)
                });
                match el {
                    Some(el) if el.is("open", super::websocket::NS_FRAMING) => {
                        let mut element = Element::new("stream", ns::STREAM);
                        element.attrs = el.attrs;
                        let open = StreamOpen { element, default_ns: Some(ns::CLIENT.into()) };
                        Err(Some(Event::Open(open)))
                    }
                    Some(el) if el.is("close", super::websocket::NS_FRAMING) => {
                        self.ended = true;
                        Err(Some(Event::Close))
                    }
                    Some(el) => Err(Some(Event::Stanza(el))),
                    None => Ok(true),
                }
            }
            Frame::Ping => {
                self.ws_pings += 1;
                Ok(true)
            }
            Frame::Other => Ok(true),
            Frame::Closed(code) => {
                self.ws_close_code = code;
                self.conn = None;
                self.ended = true;
                Err(Some(Event::Eof))
            }
        }
    }

    /// The next stanza matching `pred` within `timeout` (queued ones first); stanzas that do
    /// not match are queued. Panics if the stream ends first.
    pub async fn try_recv_where(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Element) -> bool,
    ) -> Option<Element> {
        if let Some(pos) = self.pending.iter().position(&pred) {
            return self.pending.remove(pos);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                None => return None,
                Some(Event::Stanza(e)) if pred(&e) => return Some(e),
                Some(Event::Stanza(e)) => self.pending.push_back(e),
                Some(other) => panic!(
                    "{}: stream ended ({}) while waiting for a stanza; queued: [{}]\nlast bytes: {}",
                    self.name,
                    describe(&Some(other)),
                    self.pending.iter().map(xml).collect::<Vec<_>>().join(", "),
                    self.raw_tail()
                ),
            }
        }
    }

    /// The next stanza matching `pred`; panics after [`RECV_TIMEOUT`] naming `what`.
    pub async fn recv_where(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        match self.try_recv_where(RECV_TIMEOUT, pred).await {
            Some(e) => e,
            None => panic!(
                "{}: timed out after {RECV_TIMEOUT:?} waiting for {what}; received meanwhile: [{}]",
                self.name,
                self.pending.iter().map(xml).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The next stanza (queued first).
    pub async fn recv(&mut self) -> Element {
        self.recv_where("any stanza", |_| true).await
    }

    /// The next `<message/>` (other stanzas stay queued).
    pub async fn recv_message(&mut self) -> Element {
        self.recv_where("a <message/>", |e| e.name == "message").await
    }

    /// The next `<presence/>` from `from` (other stanzas stay queued).
    pub async fn recv_presence_from(&mut self, from: &str) -> Element {
        let what = format!("a <presence/> from {from}");
        self.recv_where(&what, |e| e.name == "presence" && e.attr("from") == Some(from)).await
    }

    /// Panics if a stanza matching `pred` arrives within `wait`.
    pub async fn expect_none(
        &mut self,
        what: &str,
        wait: Duration,
        pred: impl Fn(&Element) -> bool,
    ) {
        if let Some(e) = self.try_recv_where(wait, pred).await {
            panic!("{}: expected no {what}, got {}", self.name, xml(&e));
        }
    }

    /// Panics if any `<message/>` arrives within `wait`.
    pub async fn expect_no_message(&mut self, wait: Duration) {
        self.expect_none("<message/>", wait, |e| e.name == "message").await;
    }

    /// Reads and discards whatever arrives for `wait` (queue included); returns false if the
    /// stream ended.
    pub async fn drain(&mut self, wait: Duration) -> bool {
        self.pending.clear();
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match self.next_event(left).await {
                None => return true,
                Some(Event::Stanza(_)) | Some(Event::Open(_)) => {}
                Some(Event::Close) | Some(Event::Eof) => return false,
            }
        }
    }

    /// Expects `<stream:error><COND xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`
    /// (stanzas and a stream header before it are skipped), then `</stream:stream>` and the TCP
    /// close. Returns the error element.
    pub async fn expect_stream_error(&mut self, cond: &str, timeout: Duration) -> Element {
        let err = self.recv_stream_error(timeout).await;
        assert!(
            err.has_child(cond, ns::STREAMS),
            "{}: expected stream error <{cond}/>, got {}",
            self.name,
            xml(&err)
        );
        self.expect_close_tag_and_eof().await;
        err
    }

    /// Waits for `<stream:error/>` (any condition); skips stanzas and headers. Panics when the
    /// stream ends without one or on timeout.
    pub async fn recv_stream_error(&mut self, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Some(Event::Stanza(e)) if e.is("error", ns::STREAM) => return e,
                Some(Event::Stanza(e)) => skipped.push(xml(&e)),
                Some(Event::Open(_)) => skipped.push("<stream:stream>".into()),
                other => panic!(
                    "{}: expected <stream:error/> within {timeout:?}, got {} (after [{}])\nlast bytes: {}",
                    self.name,
                    describe(&other),
                    skipped.join(", "),
                    self.raw_tail()
                ),
            }
        }
    }

    /// After a stream error: expects `</stream:stream>` and then the node closing TCP.
    pub async fn expect_close_tag_and_eof(&mut self) {
        match self.next_event(RECV_TIMEOUT).await {
            Some(Event::Close) => {}
            other => panic!(
                "{}: expected </stream:stream> after the stream error, got {}\nlast bytes: {}",
                self.name,
                describe(&other),
                self.raw_tail()
            ),
        }
        match self.next_event(RECV_TIMEOUT).await {
            Some(Event::Eof) => {}
            other => panic!(
                "{}: expected the node to close TCP after </stream:stream>, got {}",
                self.name,
                describe(&other)
            ),
        }
    }

    /// Waits until the node ends the stream (`</stream:stream>` or TCP close), skipping
    /// stanzas; returns the stream error if one came. Panics on timeout.
    pub async fn expect_stream_end(&mut self, timeout: Duration) -> Option<Element> {
        let deadline = Instant::now() + timeout;
        let mut error = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Some(Event::Stanza(e)) if e.is("error", ns::STREAM) => error = Some(e),
                Some(Event::Stanza(_)) | Some(Event::Open(_)) => {}
                Some(Event::Close) | Some(Event::Eof) => return error,
                None => panic!(
                    "{}: the node did not end the stream within {timeout:?}\nlast bytes: {}",
                    self.name,
                    self.raw_tail()
                ),
            }
        }
    }

    // ----- negotiation -----

    /// STARTTLS (RFC 6120 §5): `<starttls/>`, `<proceed/>`, handshake, new stream; returns
    /// the new features.
    pub async fn starttls(&mut self) -> Element {
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await;
        let p = self.recv().await;
        assert!(p.is("proceed", ns::TLS), "{}: expected <proceed/>, got {}", self.name, xml(&p));
        let Some(Conn::Plain(tcp)) = self.conn.take() else {
            panic!("{}: STARTTLS on a connection that is not plain TCP", self.name)
        };
        let tls = super::tls::handshake(tcp, DOMAIN).await.unwrap_or_else(|e| {
            panic!("{}: TLS handshake after <proceed/> failed: {e}", self.name)
        });
        self.conn = Some(Conn::Tls(Box::new(tls)));
        self.parser.reset();
        self.open_stream().await
    }

    /// SASL authentication (RFC 6120 §6). On success, restarts the stream and returns
    /// `Ok(features)`; on failure returns `Err(<failure/>)` (or the stream error).
    pub async fn auth(
        &mut self,
        mech: Mech,
        user: &str,
        password: &str,
    ) -> Result<Element, Element> {
        match mech {
            Mech::Plain => {
                let payload = B64.encode(format!("\0{user}\0{password}"));
                self.send(&format!(
                    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"
                ))
                .await;
                let r = self.recv_sasl().await;
                if r.is("success", ns::SASL) {
                    Ok(self.restart().await)
                } else {
                    Err(r)
                }
            }
            Mech::ScramSha1 | Mech::ScramSha256 => {
                let hash = if mech == Mech::ScramSha1 { Hash::Sha1 } else { Hash::Sha256 };
                self.scram(mech.name(), ScramClient::new(hash, user, password)).await
            }
        }
    }

    /// SCRAM-SHA-256-PLUS bound to this TLS connection with `kind` (`tls-exporter` or
    /// `tls-server-end-point`); `tamper` flips a bit of the binding data to check the server
    /// refuses a mismatch.
    pub async fn auth_scram_plus(
        &mut self,
        user: &str,
        password: &str,
        kind: &str,
        tamper: bool,
    ) -> Result<Element, Element> {
        let mut data = self.channel_binding(kind);
        if tamper {
            if let Some(b) = data.first_mut() {
                *b ^= 1;
            }
        }
        let scram = ScramClient::new(Hash::Sha256, user, password).with_channel_binding(kind, data);
        self.scram("SCRAM-SHA-256-PLUS", scram).await
    }

    /// Channel-binding data of this TLS connection as the client computes it.
    fn channel_binding(&self, kind: &str) -> Vec<u8> {
        if let Some(Conn::Ws(ws)) = &self.conn {
            let Some((exporter, end_point)) = &ws.channel_binding else {
                panic!("{}: WebSocket not on TLS", self.name)
            };
            return match kind {
                "tls-exporter" => exporter.clone(),
                "tls-server-end-point" => end_point.clone(),
                other => panic!("unknown channel binding {other}"),
            };
        }
        let Some(Conn::Tls(tls)) = &self.conn else { panic!("{}: not on TLS", self.name) };
        let (_, conn) = tls.get_ref();
        match kind {
            "tls-exporter" => conn
                .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                .map(Vec::from)
                .unwrap_or_else(|e| panic!("{}: exporter: {e}", self.name)),
            "tls-server-end-point" => {
                use sha2::Digest;
                let certs = conn.peer_certificates().unwrap_or_default();
                let leaf = certs.first().unwrap_or_else(|| panic!("{}: no server cert", self.name));
                sha2::Sha256::digest(leaf.as_ref()).to_vec()
            }
            other => panic!("unknown channel binding {other}"),
        }
    }

    /// One SCRAM exchange with `mechanism`; the server signature is checked.
    async fn scram(&mut self, mechanism: &str, mut scram: ScramClient) -> Result<Element, Element> {
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{}'>{}</auth>",
            mechanism,
            B64.encode(scram.client_first())
        ))
        .await;
        let ch = self.recv_sasl().await;
        if !ch.is("challenge", ns::SASL) {
            return Err(ch);
        }
        let server_first = decode_b64_text(&ch, &self.name);
        let fin = scram
            .client_final(&server_first)
            .unwrap_or_else(|e| panic!("{}: bad server-first-message: {e}", self.name));
        self.send(&format!(
            "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
            B64.encode(fin)
        ))
        .await;
        let mut r = self.recv_sasl().await;
        if r.is("challenge", ns::SASL) {
            // RFC 6120 §6.3.10 allows the server-final in a challenge, answered empty.
            let server_final = decode_b64_text(&r, &self.name);
            scram.verify_server_final(&server_final).unwrap_or_else(|e| {
                panic!("{}: {e}", self.name);
            });
            self.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>").await;
            r = self.recv_sasl().await;
        } else if r.is("success", ns::SASL) {
            let server_final = decode_b64_text(&r, &self.name);
            scram.verify_server_final(&server_final).unwrap_or_else(|e| {
                panic!("{}: SCRAM <success/>: {e}", self.name);
            });
        }
        if r.is("success", ns::SASL) {
            Ok(self.restart().await)
        } else {
            Err(r)
        }
    }

    /// Waits for a SASL reply (`<challenge/>`, `<success/>`, `<failure/>`) or a stream error.
    async fn recv_sasl(&mut self) -> Element {
        let what = "a SASL <challenge/>, <success/> or <failure/>";
        let r =
            self.try_recv_where(RECV_TIMEOUT, |e| e.ns == ns::SASL || e.is("error", ns::STREAM));
        match r.await {
            Some(e) => e,
            None => panic!("{}: timed out waiting for {what}", self.name),
        }
    }

    /// Stream restart after SASL success; returns the new features.
    async fn restart(&mut self) -> Element {
        if self.is_ws() {
            super::websocket::prime(&mut self.parser);
        } else {
            self.parser.reset();
        }
        self.open_stream().await
    }

    /// Resource binding (RFC 6120 §7); returns the full JID the node assigned.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let payload = match resource {
            Some(r) => format!(
                "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{r}</resource></bind>"
            ),
            None => "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>".to_string(),
        };
        let r = self.iq("set", None, &payload).await;
        assert_eq!(r.attr("type"), Some("result"), "{}: bind failed: {}", self.name, xml(&r));
        let jid = r
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .map(|j| j.text())
            .unwrap_or_else(|| panic!("{}: bind result without <jid/>: {}", self.name, xml(&r)));
        self.jid = jid.clone();
        jid
    }

    /// Sends presence (with a priority) and waits until the node has processed it.
    pub async fn presence(&mut self, priority: i8) {
        if priority == 0 {
            self.send("<presence/>").await;
        } else {
            self.send(&format!("<presence><priority>{priority}</priority></presence>")).await;
        }
        self.sync().await;
    }

    /// A ping round trip to the node: everything sent before has been processed.
    pub async fn sync(&mut self) {
        let r = self.iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>").await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "{}: ping to the server (used to sync) failed: {}",
            self.name,
            xml(&r)
        );
    }

    /// Sends an IQ and waits for the reply with the same id (any type).
    pub async fn iq(&mut self, typ: &str, to: Option<&str>, payload: &str) -> Element {
        let id = self.new_id();
        let to_attr = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
        self.send(&format!("<iq type='{typ}' id='{id}'{to_attr}>{payload}</iq>")).await;
        let what = format!("the reply to iq id={id} ({payload})");
        self.recv_where(&what, |e| {
            e.name == "iq"
                && e.attr("id") == Some(id.as_str())
                && matches!(e.attr("type"), Some("result") | Some("error"))
        })
        .await
    }

    /// Sends an IQ and asserts a `result`; returns it.
    pub async fn iq_result(&mut self, typ: &str, to: Option<&str>, payload: &str) -> Element {
        let r = self.iq(typ, to, payload).await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "{}: expected an IQ result for {payload}, got {}",
            self.name,
            xml(&r)
        );
        r
    }

    /// Answers an IQ `get`/`set` with an empty result.
    pub async fn reply_result(&mut self, iq: &Element) {
        let id = iq.attr("id").unwrap_or_default().to_string();
        let to = iq.attr("from").map(|f| format!(" to='{f}'")).unwrap_or_default();
        self.send(&format!("<iq type='result' id='{id}'{to}/>")).await;
    }

    /// XEP-0077 registration on an open, unauthenticated stream; panics unless it succeeds.
    pub async fn register_in_band(&mut self, user: &str, password: &str) {
        let r = self
            .iq(
                "set",
                None,
                &format!(
                    "<query xmlns='jabber:iq:register'><username>{user}</username>\
                     <password>{password}</password></query>"
                ),
            )
            .await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "{}: in-band registration of {user} failed: {}",
            self.name,
            xml(&r)
        );
    }

    /// Connect, open, (STARTTLS), SASL, bind, (presence) with options.
    pub async fn login_with(port: u16, user: &User, opts: LoginOpts) -> Client {
        let mut c = if opts.direct_tls {
            Client::connect_direct_tls(port, &user.name).await
        } else {
            Client::connect(port, &user.name).await
        };
        c.open_stream().await;
        if opts.starttls {
            c.starttls().await;
        }
        if let Err(f) = c.auth(opts.mech, &user.name, &user.password).await {
            panic!("{}: {} login failed: {}", user.name, opts.mech.name(), xml(&f));
        }
        let jid = c.bind(opts.resource.as_deref()).await;
        c.name = jid.clone();
        if let Some(p) = opts.presence {
            c.presence(p).await;
        }
        c
    }

    /// Login with PLAIN over plain TCP, resource `res`, initial presence (priority 0).
    pub async fn login(port: u16, user: &User, res: &str) -> Client {
        Client::login_with(
            port,
            user,
            LoginOpts { resource: Some(res.into()), ..Default::default() },
        )
        .await
    }

    /// Ends the stream politely and waits (briefly) for the node to close it.
    pub async fn close(mut self) {
        let end: &[u8] = if self.is_ws() {
            b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
        } else {
            b"</stream:stream>"
        };
        if self.try_send_bytes(end).await.is_ok() {
            let deadline = Instant::now() + Duration::from_secs(3);
            while !self.ended {
                let left = deadline.saturating_duration_since(Instant::now());
                if self.next_event(left).await.is_none() {
                    break;
                }
            }
        }
    }

    /// The underlying plain TCP connection, for tests that need to read and write it
    /// concurrently (e.g. a flooding sender that must keep reading its bounces).
    pub fn into_tcp(mut self) -> TcpStream {
        match self.conn.take() {
            Some(Conn::Plain(tcp)) => tcp,
            _ => panic!("{}: into_tcp on a connection that is not plain TCP", self.name),
        }
    }

    /// Drops the TCP connection without closing the stream.
    pub fn drop_abruptly(self) {
        drop(self);
    }
}

fn decode_b64_text(e: &Element, who: &str) -> String {
    let t = e.text();
    let t = t.trim();
    if t.is_empty() || t == "=" {
        return String::new();
    }
    let bytes = B64
        .decode(t)
        .unwrap_or_else(|err| panic!("{who}: SASL payload not base64 ({err}): {}", xml(e)));
    String::from_utf8(bytes).unwrap_or_else(|_| panic!("{who}: SASL payload not UTF-8: {}", xml(e)))
}

fn describe(e: &Option<Event>) -> String {
    match e {
        None => "nothing (timeout)".into(),
        Some(Event::Open(o)) => format!("a stream header {}", xml(&o.element)),
        Some(Event::Stanza(s)) => xml(s),
        Some(Event::Close) => "</stream:stream>".into(),
        Some(Event::Eof) => "the TCP connection closed".into(),
    }
}

/// Compact rendering of an element for assertion messages (namespaces shown where they change).
pub fn xml(e: &Element) -> String {
    let mut out = String::new();
    render(e, "jabber:client", &mut out);
    out
}

fn render(e: &Element, parent_ns: &str, out: &mut String) {
    let _ = write!(out, "<{}", e.name);
    if e.ns != parent_ns {
        let _ = write!(out, " xmlns='{}'", e.ns);
    }
    for (k, v) in &e.attrs {
        let _ = write!(out, " {k}='{v}'");
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &e.children {
        match c {
            Node::Element(ch) => render(ch, &e.ns, out),
            Node::Text(t) => {
                if t.len() > 200 {
                    let mut end = 200;
                    while !t.is_char_boundary(end) {
                        end -= 1;
                    }
                    let _ = write!(out, "{}...({} bytes)", &t[..end], t.len());
                } else {
                    out.push_str(t);
                }
            }
        }
    }
    let _ = write!(out, "</{}>", e.name);
}

// ----- structural assertions -----

/// Asserts `<KIND type='error'>` with `<error type=ERROR_TYPE?><COND xmlns=stanzas/></error>`;
/// returns the `<error/>` child. `conds` lists acceptable conditions.
pub fn assert_stanza_error(stanza: &Element, kind: &str, conds: &[&str]) -> Element {
    assert_eq!(stanza.name, kind, "expected a <{kind}/> error, got {}", xml(stanza));
    assert_eq!(stanza.attr("type"), Some("error"), "expected type='error': {}", xml(stanza));
    let err = stanza
        .get_child("error", ns::CLIENT)
        .unwrap_or_else(|| panic!("error stanza without <error/>: {}", xml(stanza)));
    assert!(
        conds.iter().any(|c| err.has_child(c, ns::STANZAS)),
        "expected condition {conds:?} (ns {}), got {}",
        ns::STANZAS,
        xml(stanza)
    );
    err.clone()
}

/// Child element texts with this name and namespace (e.g. the `<mechanism/>`s).
pub fn child_texts(e: &Element, name: &str, ns: &str) -> Vec<String> {
    e.children().filter(|c| c.is(name, ns)).map(|c| c.text()).collect()
}

/// The `<mechanism/>` names offered in `features`.
pub fn mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", ns::SASL)
        .map(|m| child_texts(m, "mechanism", ns::SASL))
        .unwrap_or_default()
}

/// The bare part of a JID.
pub fn bare(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}
