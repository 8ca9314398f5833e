//! One XMPP client connection: a TCP (optionally TLS) transport, or XMPP over WebSocket
//! (RFC 7395), and a stream parser.
//!
//! On a WebSocket every message is one element: `open()` sends `<open/>` and primes the parser
//! with a stream header of its own, so that the server's messages parse as the stanzas of one
//! stream; the server's `<open/>` and `<close/>` come back as [`Event::Open`] and
//! [`Event::Close`].
//!
//! The server's stream header is the parser's `Open` event: [`meerkat_xml::StreamParser`] is
//! symmetric, so the server-side parser serves as a client-side one. Memory per connection is
//! the fixed read buffer ([`READ_BUFFER_BYTES`]), the parser's partial stanza, the write buffer
//! (reused, so no allocation per sent message) and, with STARTTLS, rustls' buffers.
//!
//! Reads are cancel-safe ([`XmppStream::next_event`] only feeds the parser after a read has
//! completed), so callers may `select!` between reading and their own timers.

use futures_util::{SinkExt, StreamExt};
use meerkat_xml::{Element, Limits, StreamEvent, StreamParser};
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// RFC 7395 framing namespace.
const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// Read buffer per connection. Stanzas in a load test are a few hundred bytes; a larger stanza
/// just takes several reads.
pub const READ_BUFFER_BYTES: usize = 2048;

/// What arrived from the server.
#[derive(Debug)]
pub enum Event {
    /// The server's stream header.
    Open,
    /// A complete top-level element.
    Stanza(Element),
    /// `</stream:stream>`.
    Close,
    /// The server closed the TCP connection.
    Eof,
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent XML the parser refused.
    #[error("xml: {0}")]
    Xml(#[from] meerkat_xml::XmlError),
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// XMPP over WebSocket (boxed: the WebSocket state is large).
    Ws(Box<WebSocketStream<TcpStream>>),
    /// Transient state while the TCP stream is handed to the TLS handshake.
    Upgrading,
}

/// A client stream to an XMPP server.
pub struct XmppStream {
    io: Transport,
    parser: StreamParser,
    read_buf: Box<[u8]>,
    /// Reused for every write, so sending a message does not allocate once warmed up.
    write_buf: Vec<u8>,
}

/// Opens a TCP connection from `source` (port chosen by the kernel) to `target`.
///
/// `IP_BIND_ADDRESS_NO_PORT` defers the choice of source port to `connect`, so the kernel can
/// reuse a port for different destinations and the ~28k ephemeral ports per source address
/// are only a limit per (source, destination) pair.
pub async fn connect_tcp(target: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        set_bind_no_port(&socket);
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    // Small kernel buffers: thousands of idle sockets should not reserve megabytes each.
    socket.set_recv_buffer_size(16 * 1024)?;
    socket.set_send_buffer_size(16 * 1024)?;
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(target_os = "linux")]
fn set_bind_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd owned by `socket`, a pointer to a live c_int and its size.
    // Failure only means the kernel picks the port at bind time, as without the option.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn set_bind_no_port(_socket: &TcpSocket) {}

/// Parser limits for what servers send us: generous, since servers are trusted here, but finite.
fn limits() -> Limits {
    Limits { max_stanza_bytes: 256 * 1024, ..Limits::default() }
}

impl XmppStream {
    /// Wraps a connected TCP stream.
    pub fn new(tcp: TcpStream) -> Self {
        XmppStream::new_plain(Transport::Plain(tcp))
    }

    /// Upgrades a connected TCP stream to an XMPP WebSocket at `url` (`ws://host:port/path`,
    /// subprotocol `xmpp`).
    pub async fn websocket(tcp: TcpStream, url: &str) -> Result<Self, StreamError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().map_err(std::io::Error::other)?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static("xmpp"),
        );
        let (ws, _) =
            tokio_tungstenite::client_async(req, tcp).await.map_err(std::io::Error::other)?;
        let mut s = XmppStream::new_plain(Transport::Ws(Box::new(ws)));
        s.parser.reset();
        Ok(s)
    }

    fn new_plain(io: Transport) -> Self {
        XmppStream {
            io,
            parser: StreamParser::new(limits()),
            read_buf: vec![0u8; READ_BUFFER_BYTES].into_boxed_slice(),
            write_buf: Vec::new(),
        }
    }

    /// Sends the opening stream header to `domain` and expects a new server stream
    /// (initial stream and every restart, RFC 6120 §4.3.3; on a WebSocket, `<open/>`).
    pub async fn open(&mut self, domain: &str) -> Result<(), StreamError> {
        self.parser.reset();
        if matches!(self.io, Transport::Ws(_)) {
            // The server's messages are single elements: parse them as one stream's stanzas.
            self.parser.feed(
                b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
            );
            let _ = self.parser.next_event()?;
            let open =
                format!("<open xmlns='{NS_FRAMING}' to='{}' version='1.0'/>", escape(domain));
            return self.send_raw(open.as_bytes()).await;
        }
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{}' version='1.0'>",
            escape(domain)
        );
        self.send_raw(header.as_bytes()).await
    }

    /// Upgrades to TLS after `<proceed/>` (RFC 6120 §5.4.3.3).
    pub async fn start_tls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        domain: &str,
    ) -> Result<(), StreamError> {
        let Transport::Plain(tcp) = std::mem::replace(&mut self.io, Transport::Upgrading) else {
            return Err(StreamError::Io(std::io::Error::other("TLS already active")));
        };
        let name = rustls_pki_types::ServerName::try_from(domain.to_owned())
            .map_err(|e| std::io::Error::other(format!("server name {domain}: {e}")))?;
        let tls = connector.connect(name, tcp).await?;
        self.io = Transport::Tls(Box::new(tls));
        Ok(())
    }

    /// Writes bytes and flushes.
    pub async fn send_raw(&mut self, data: &[u8]) -> Result<(), StreamError> {
        match &mut self.io {
            Transport::Plain(s) => s.write_all(data).await?,
            Transport::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await?;
            }
            Transport::Ws(ws) => {
                let text = qualify_stanza(String::from_utf8_lossy(data).into_owned());
                ws.send(Message::Text(text.into())).await.map_err(std::io::Error::other)?;
            }
            Transport::Upgrading => return Err(closed()),
        }
        Ok(())
    }

    /// Builds a stanza in the reused write buffer with `build`, then sends it.
    pub async fn send_with(&mut self, build: impl FnOnce(&mut Vec<u8>)) -> Result<(), StreamError> {
        let mut buf = std::mem::take(&mut self.write_buf);
        buf.clear();
        build(&mut buf);
        let res = self.send_raw(&buf).await;
        self.write_buf = buf;
        res
    }

    /// Next event from the server; waits for bytes as needed.
    pub async fn next_event(&mut self) -> Result<Event, StreamError> {
        loop {
            if let Some(ev) = self.parser.next_event()? {
                return Ok(match ev {
                    StreamEvent::Open(_) => Event::Open,
                    StreamEvent::Stanza(el) if el.is("open", NS_FRAMING) => Event::Open,
                    StreamEvent::Stanza(el) if el.is("close", NS_FRAMING) => Event::Close,
                    StreamEvent::Stanza(el) => Event::Stanza(el),
                    StreamEvent::Close => Event::Close,
                });
            }
            let n = match &mut self.io {
                Transport::Plain(s) => s.read(&mut self.read_buf).await?,
                Transport::Tls(s) => s.read(&mut self.read_buf).await?,
                Transport::Ws(ws) => match ws.next().await {
                    None | Some(Ok(Message::Close(_))) => return Ok(Event::Eof),
                    Some(Ok(Message::Text(t))) => {
                        self.parser.feed(t.as_bytes());
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(StreamError::Io(std::io::Error::other(e))),
                },
                Transport::Upgrading => return Err(closed()),
            };
            if n == 0 {
                return Ok(Event::Eof);
            }
            self.parser.feed(self.read_buf.get(..n).unwrap_or_default());
        }
    }

    /// Next top-level element, skipping a stream header; a close or EOF is an error.
    pub async fn next_stanza(&mut self) -> Result<Element, StreamError> {
        loop {
            match self.next_event().await? {
                Event::Open => continue,
                Event::Stanza(el) => return Ok(el),
                Event::Close | Event::Eof => return Err(closed()),
            }
        }
    }

    /// Closes the stream politely (`</stream:stream>`), then shuts the socket down.
    pub async fn close(&mut self) {
        if let Transport::Ws(ws) = &mut self.io {
            let close = format!("<close xmlns='{NS_FRAMING}'/>");
            let _ = ws.send(Message::Text(close.into())).await;
            let _ = SinkExt::close(ws.as_mut()).await;
            return;
        }
        let _ = self.send_raw(b"</stream:stream>").await;
        match &mut self.io {
            Transport::Plain(s) => {
                let _ = s.shutdown().await;
            }
            Transport::Tls(s) => {
                let _ = s.shutdown().await;
            }
            Transport::Ws(_) | Transport::Upgrading => {}
        }
    }
}

/// Over a WebSocket each message is a document of its own, with no stream header to declare
/// the default namespace (RFC 7395), so a stanza must carry `xmlns='jabber:client'` itself.
/// Meerkat and ejabberd assume it when it is missing; Prosody takes such an `<iq>` as
/// namespace-less and never answers the bind. Adds it to an `iq`, `message` or `presence`
/// start tag that declares no default namespace; anything else is returned unchanged.
fn qualify_stanza(mut text: String) -> String {
    let name_len = ["iq", "message", "presence"]
        .into_iter()
        .find(|n| {
            text.strip_prefix('<')
                .and_then(|t| t.strip_prefix(n))
                .is_some_and(|rest| rest.starts_with([' ', '/', '>']))
        })
        .map(str::len);
    let Some(name_len) = name_len else { return text };
    let start_tag = text.split('>').next().unwrap_or_default();
    if start_tag.contains(" xmlns=") {
        return text;
    }
    text.insert_str(1 + name_len, " xmlns='jabber:client'");
    text
}

fn closed() -> StreamError {
    StreamError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "stream closed"))
}

/// Escapes text for an attribute or element body.
pub fn escape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    meerkat_xml::escape::escape_attr(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::qualify_stanza;

    #[test]
    fn websocket_stanzas_get_the_client_namespace() {
        let q = |s: &str| qualify_stanza(s.to_owned());
        assert_eq!(q("<presence/>"), "<presence xmlns='jabber:client'/>");
        assert_eq!(
            q("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
            "<iq xmlns='jabber:client' type='set' id='bind1'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
        );
        assert_eq!(
            q("<message to='a@b' type='chat'><body>x</body></message>"),
            "<message xmlns='jabber:client' to='a@b' type='chat'><body>x</body></message>"
        );
        // Already qualified, or not a stanza: unchanged.
        let iq = "<iq xmlns='jabber:client' type='get' id='1'/>";
        assert_eq!(q(iq), iq);
        let auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>";
        assert_eq!(q(auth), auth);
        assert_eq!(q("<iqx/>"), "<iqx/>");
        assert_eq!(
            q("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
        );
    }
}
