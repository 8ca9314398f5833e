//! XMPP over WebSocket (RFC 7395): the message transport and framing under a c2s
//! [`Conn`](super::conn::Conn).
//!
//! A WebSocket connection is one more [`Transport`](super::transport::Transport) of the c2s code, so SASL, bind, Stream
//! Management, CSI and every module run unchanged; only the framing differs, and it is handled
//! here at the edge:
//!
//! - Reading: each text message must hold exactly one complete element (RFC 7395 §3.3.3). It is
//!   fed to the connection's own [`StreamParser`], which was primed with a synthetic
//!   `<stream:stream xmlns='jabber:client'>` header (never sent by the client), so the parser's
//!   limits and restricted-XML checks apply as on TCP. `<open/>` becomes
//!   [`StreamEvent::Open`] and `<close/>` becomes [`StreamEvent::Close`], so the negotiation
//!   machine and the session loop see the same events as on a TCP stream. A message holding no
//!   complete element, more than one, or trailing text ends the stream with `not-well-formed`.
//!   Stanzas without `xmlns` are read as `jabber:client`; RFC 7395 asks clients to declare it,
//!   and accepting its omission costs nothing.
//! - Writing: every queued top-level element is one message. Our stream header is
//!   `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' .../>`, the footer is `<close .../>`,
//!   stream-namespace elements declare `xmlns:stream`, and every stanza declares its namespace.
//! - Limits: the WebSocket layer refuses a frame or message above the listener's limits from its
//!   header, before reading the payload, so nothing larger than the limit is ever buffered. The
//!   stream then ends with `policy-violation` and close code 1009 (message too big). A binary
//!   message ends it with `not-well-formed` and close code 1003 (unsupported data).
//! - Keepalive: the session's ping timer sends a WebSocket Ping here (browsers answer it without
//!   the page's help); any frame, Pong included, counts as activity.

use super::conn::ConnEnd;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use meerkat_proto::ns;
use meerkat_xml::{Element, StreamEvent, StreamOpen, StreamParser, XmlError};
use std::io;

/// Namespace of `<open/>` and `<close/>` (RFC 7395 §3.3.1).
pub const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// The header the parser is primed with: the scope every message is parsed in.
const WRAPPER: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// A WebSocket under a c2s connection.
pub struct WsIo {
    socket: WebSocket,
    /// `tls-exporter` channel-binding data of the HTTPS connection (RFC 9266), TLS 1.3 only.
    tls_exporter: Option<Vec<u8>>,
    /// True when the HTTP connection is TLS.
    tls: bool,
    /// End offset in the connection's output buffer of each queued message.
    marks: Vec<usize>,
    /// The event read from the last message, until the connection takes it.
    pending: Option<StreamEvent>,
    /// Close code sent with the closing frame: 1000 unless the peer broke a WebSocket rule.
    close_code: u16,
}

impl WsIo {
    /// Wraps an upgraded WebSocket.
    pub fn new(socket: WebSocket, tls: bool, tls_exporter: Option<Vec<u8>>) -> Self {
        WsIo {
            socket,
            tls_exporter,
            tls,
            marks: Vec::new(),
            pending: None,
            close_code: close_code::NORMAL,
        }
    }

    /// True when the HTTP connection under the WebSocket is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `tls-exporter` channel-binding data, when TLS 1.3 protects the connection.
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        self.tls_exporter.clone()
    }

    /// Marks the end of one queued message in the output buffer.
    pub fn mark(&mut self, end: usize) {
        self.marks.push(end);
    }

    /// Takes the event parsed from the last message.
    pub fn take_event(&mut self) -> Option<StreamEvent> {
        self.pending.take()
    }
}

/// Resets `parser` for a new stream and feeds it the synthetic header.
pub fn prime(parser: &mut StreamParser) {
    parser.reset();
    parser.feed(WRAPPER);
    // The header is within every limit, so this yields `Open`, which nobody needs.
    let _ = parser.next_event();
}

/// Reads one WebSocket message into `parser`. Returns the payload bytes received (0 for
/// control frames, which still count as activity).
pub async fn read(ws: &mut WsIo, parser: &mut StreamParser) -> Result<usize, ConnEnd> {
    let msg = match ws.socket.recv().await {
        None => return Err(ConnEnd::Eof),
        Some(Ok(m)) => m,
        Some(Err(e)) => return Err(read_error(ws, e)),
    };
    match msg {
        Message::Text(text) => {
            let n = text.len();
            ws.pending = parse_message(parser, text.as_bytes()).map_err(ConnEnd::Xml)?;
            Ok(n)
        }
        Message::Binary(_) => {
            ws.close_code = close_code::UNSUPPORTED;
            Err(ConnEnd::Xml(XmlError::NotWellFormed("binary WebSocket message".into())))
        }
        Message::Ping(_) | Message::Pong(_) => Ok(0),
        // The client closed the WebSocket without `<close/>`: nothing more can be written.
        Message::Close(_) => Err(ConnEnd::Eof),
    }
}

/// Maps a WebSocket read error: an oversized frame or message is the peer's fault and gets a
/// stream error; anything else means the connection is gone.
fn read_error(ws: &mut WsIo, e: axum::Error) -> ConnEnd {
    let inner = e.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => {
            ws.close_code = close_code::SIZE;
            ConnEnd::Xml(XmlError::LimitExceeded("WebSocket message size"))
        }
        Some(tungstenite::Error::Utf8(_)) => {
            ws.close_code = close_code::INVALID;
            ConnEnd::Xml(XmlError::NotWellFormed("invalid UTF-8 in a WebSocket message".into()))
        }
        Some(tungstenite::Error::Protocol(_)) => {
            ws.close_code = close_code::PROTOCOL;
            ConnEnd::Io(io::Error::new(io::ErrorKind::InvalidData, inner.to_string()))
        }
        _ => ConnEnd::Io(io::Error::other(inner.to_string())),
    }
}

/// Parses one message: exactly one element, mapped to the event a TCP stream would give.
/// `Ok(None)` for a message of whitespace only.
fn parse_message(parser: &mut StreamParser, bytes: &[u8]) -> Result<Option<StreamEvent>, XmlError> {
    parser.feed(bytes);
    let first = parser.next_event()?;
    let incomplete = parser.buffered_bytes() > 0;
    if incomplete || parser.next_event()?.is_some() {
        return Err(XmlError::NotWellFormed(
            "a WebSocket message must hold exactly one complete element".into(),
        ));
    }
    match first {
        None => Ok(None),
        Some(StreamEvent::Stanza(el)) if el.is("open", NS_FRAMING) => {
            let mut element = Element::new("stream", meerkat_xml::NS_STREAM);
            element.attrs = el.attrs;
            Ok(Some(StreamEvent::Open(StreamOpen {
                element,
                default_ns: Some(ns::CLIENT.to_owned()),
            })))
        }
        Some(StreamEvent::Stanza(el)) if el.is("close", NS_FRAMING) => Ok(Some(StreamEvent::Close)),
        Some(StreamEvent::Stanza(el)) => Ok(Some(StreamEvent::Stanza(el))),
        // `</stream:stream>` closed the synthetic header: not an element at all.
        Some(_) => Err(XmlError::NotWellFormed("stream tags are not RFC 7395 framing".into())),
    }
}

/// Appends our `<open/>` (RFC 7395 §3.3.2).
pub fn write_open(out: &mut Vec<u8>, from: &str, id: &str) {
    out.extend_from_slice(b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='");
    meerkat_xml::escape::escape_attr(out, id);
    out.extend_from_slice(b"' from='");
    meerkat_xml::escape::escape_attr(out, from);
    out.extend_from_slice(b"' version='1.0' xml:lang='en'/>");
}

/// Appends `<close/>` (RFC 7395 §3.6).
pub fn write_close(out: &mut Vec<u8>) {
    out.extend_from_slice(b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
}

/// Appends one top-level element with every namespace declared on it.
pub fn write_element(out: &mut Vec<u8>, el: &Element) {
    if el.ns != ns::STREAM {
        el.write_to(out, "");
        return;
    }
    // `<stream:features>` and `<stream:error>` keep their prefix (RFC 7395 §3.4, §3.6.1).
    out.extend_from_slice(b"<stream:");
    out.extend_from_slice(el.name.as_bytes());
    out.extend_from_slice(b" xmlns:stream='http://etherx.jabber.org/streams'");
    for (k, v) in &el.attrs {
        out.extend_from_slice(format!(" {k}='").as_bytes());
        meerkat_xml::escape::escape_attr(out, v);
        out.push(b'\'');
    }
    if el.children.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    for child in &el.children {
        match child {
            meerkat_xml::Node::Element(c) => c.write_to(out, ""),
            meerkat_xml::Node::Text(t) => meerkat_xml::escape::escape_text(out, t),
        }
    }
    out.extend_from_slice(b"</stream:");
    out.extend_from_slice(el.name.as_bytes());
    out.push(b'>');
}

/// Sends the queued messages, one per mark.
pub async fn flush(ws: &mut WsIo, out: &[u8]) -> io::Result<()> {
    let mut start = 0;
    let mut ends = std::mem::take(&mut ws.marks);
    if ends.last().is_none_or(|&e| e < out.len()) {
        ends.push(out.len());
    }
    for end in ends {
        let Some(part) = out.get(start..end) else { break };
        start = end;
        if part.is_empty() {
            continue;
        }
        // Everything queued was serialised from strings, so this never fails in practice.
        let text = std::str::from_utf8(part)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            .to_owned();
        ws.socket.feed(Message::Text(text.into())).await.map_err(io::Error::other)?;
    }
    ws.socket.flush().await.map_err(io::Error::other)
}

/// Sends the closing frame with the close code the connection ended with.
pub async fn shutdown(ws: &mut WsIo) {
    let frame = CloseFrame { code: ws.close_code, reason: "".into() };
    let _ = ws.socket.send(Message::Close(Some(frame))).await;
}

/// Sends a keepalive Ping frame.
pub async fn ping(ws: &mut WsIo) -> io::Result<()> {
    ws.socket.send(Message::Ping(Default::default())).await.map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primed() -> StreamParser {
        let mut p = StreamParser::new(meerkat_xml::Limits::default());
        prime(&mut p);
        p
    }

    #[test]
    fn open_becomes_a_stream_header() {
        let mut p = primed();
        let ev = parse_message(
            &mut p,
            b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>",
        );
        let Ok(Some(StreamEvent::Open(open))) = ev else { panic!("{ev:?}") };
        assert!(open.element.is("stream", meerkat_xml::NS_STREAM));
        assert_eq!(open.element.attr("to"), Some("localhost"));
        assert_eq!(open.element.attr("version"), Some("1.0"));
        assert_eq!(open.default_ns.as_deref(), Some(ns::CLIENT));
    }

    #[test]
    fn close_and_stanzas() {
        let mut p = primed();
        let close = parse_message(&mut p, b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
        assert_eq!(close, Ok(Some(StreamEvent::Close)));
        let mut p = primed();
        let ev = parse_message(
            &mut p,
            b"<message xmlns='jabber:client' to='a@b'><body>x</body></message>",
        );
        let Ok(Some(StreamEvent::Stanza(el))) = ev else { panic!("{ev:?}") };
        assert!(el.is("message", ns::CLIENT));
        // Without xmlns the stanza is read in jabber:client.
        let ev = parse_message(&mut p, b"<presence/>");
        let Ok(Some(StreamEvent::Stanza(el))) = ev else { panic!("{ev:?}") };
        assert!(el.is("presence", ns::CLIENT));
        assert_eq!(parse_message(&mut p, b"  \n"), Ok(None));
    }

    #[test]
    fn one_complete_element_per_message() {
        for bad in [
            &b"<presence/><presence/>"[..],
            b"<presence>",
            b"<presence/>text",
            b"</stream:stream>",
            b"<message><body>x</message>",
        ] {
            let mut p = primed();
            let r = parse_message(&mut p, bad);
            assert!(r.is_err(), "{:?} gave {r:?}", String::from_utf8_lossy(bad));
        }
        let mut p = primed();
        assert_eq!(
            parse_message(&mut p, b"<?xml version='1.0'?><presence/>"),
            Err(XmlError::RestrictedXml("processing instruction"))
        );
    }

    #[test]
    fn written_elements_declare_their_namespaces() {
        let mut out = Vec::new();
        let features = Element::new("features", ns::STREAM)
            .with_child(Element::new("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
        write_element(&mut out, &features);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
        );
        out.clear();
        write_element(&mut out, &Element::new("message", ns::CLIENT).with_attr("to", "a@b"));
        assert_eq!(String::from_utf8_lossy(&out), "<message xmlns='jabber:client' to='a@b'/>");
        out.clear();
        write_open(&mut out, "localhost", "ID");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='ID' from='localhost' \
             version='1.0' xml:lang='en'/>"
        );
    }
}
