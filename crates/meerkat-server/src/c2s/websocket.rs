//! XMPP over WebSocket (RFC 7395): the message transport under a c2s
//! [`Conn`](super::conn::Conn).
//!
//! A WebSocket connection is one more [`Transport`](super::transport::Transport) of the c2s
//! code, so SASL, bind, Stream Management, CSI and every module run unchanged; only the framing
//! differs, and it is handled at the edge: reading and writing whole messages here, and the
//! framing itself (one element per message, `<open/>`/`<close/>`) in the sans-I/O
//! [`meerkat_stream::websocket`].
//!
//! - Limits: the WebSocket layer refuses a frame or message above the listener's limits from its
//!   header, before reading the payload, so nothing larger than the limit is ever buffered. The
//!   stream then ends with `policy-violation` and close code 1009 (message too big). A binary
//!   message ends it with `not-well-formed` and close code 1003 (unsupported data).
//! - Keepalive: the session's ping timer sends a WebSocket Ping here (browsers answer it without
//!   the page's help); any frame, Pong included, counts as activity.

use super::conn::ConnEnd;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use meerkat_stream::websocket::parse_message;
pub use meerkat_stream::websocket::{prime, write_close, write_element, write_open, NS_FRAMING};
use meerkat_xml::{StreamEvent, StreamParser, XmlError};
use std::io;

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
