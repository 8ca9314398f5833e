//! The WebSocket side of the test client (RFC 7395): the HTTP upgrade with tokio-tungstenite,
//! plain or over TLS, and the framing helpers [`super::client::Client`] uses to read messages.

use super::DOMAIN;
use futures_util::{SinkExt, StreamExt};
use meerkat_xml::{Element, StreamEvent, StreamParser};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// Namespace of `<open/>` and `<close/>`.
pub const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// Plain TCP or TLS under the WebSocket.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An upgraded WebSocket.
pub struct Ws {
    inner: WebSocketStream<Box<dyn Io>>,
    /// The subprotocol the node selected.
    pub protocol: Option<String>,
    /// Over TLS: channel-binding data (`tls-exporter`, `tls-server-end-point`) as the client
    /// computes it, taken before the TLS stream disappears under the WebSocket.
    pub channel_binding: Option<(Vec<u8>, Vec<u8>)>,
}

/// What one read gave.
pub enum Frame {
    /// A text message.
    Text(String),
    /// A Ping from the node (answered by the library on the next read or write).
    Ping,
    /// A Pong or a binary message.
    Other,
    /// The node's closing frame (its code), or the connection's end (`None`).
    Closed(Option<u16>),
}

/// Connects and upgrades `GET path` on 127.0.0.1:port, offering `protocol` when given.
pub async fn connect(
    port: u16,
    path: &str,
    protocol: Option<&str>,
    tls: bool,
) -> Result<Ws, tungstenite::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true).ok();
    let mut channel_binding = None;
    let io: Box<dyn Io> = if tls {
        let stream = super::tls::handshake(tcp, DOMAIN).await?;
        let conn = stream.get_ref().1;
        let exporter = conn
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
            .map(Vec::from)
            .unwrap_or_default();
        let end_point = {
            use sha2::Digest;
            let certs = conn.peer_certificates().unwrap_or_default();
            certs.first().map(|c| sha2::Sha256::digest(c.as_ref()).to_vec()).unwrap_or_default()
        };
        channel_binding = Some((exporter, end_point));
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let scheme = if tls { "wss" } else { "ws" };
    let mut request = format!("{scheme}://{DOMAIN}:{port}{path}").into_client_request()?;
    if let Some(p) = protocol {
        let value = p.parse().map_err(|_| {
            tungstenite::Error::Url(tungstenite::error::UrlError::UnableToConnect(p.to_string()))
        })?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", value);
    }
    let config = WebSocketConfig::default().max_message_size(Some(16 << 20));
    let (inner, response) =
        tokio_tungstenite::client_async_with_config(request, io, Some(config)).await?;
    let protocol = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(Ws { inner, protocol, channel_binding })
}

impl Ws {
    /// Sends one text message.
    pub async fn send_text(&mut self, data: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8(data.to_vec())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.inner.send(Message::text(text)).await.map_err(std::io::Error::other)
    }

    /// Sends one binary message.
    pub async fn send_binary(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.inner.send(Message::binary(data.to_vec())).await.map_err(std::io::Error::other)
    }

    /// Writes bytes straight to the connection, under the WebSocket framing.
    pub async fn send_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        let io = self.inner.get_mut();
        io.write_all(data).await?;
        io.flush().await
    }

    /// The next message or frame.
    pub async fn recv(&mut self) -> Frame {
        match self.inner.next().await {
            Some(Ok(Message::Text(t))) => Frame::Text(t.to_string()),
            Some(Ok(Message::Close(f))) => Frame::Closed(f.map(|f| u16::from(f.code))),
            Some(Ok(Message::Ping(_))) => Frame::Ping,
            Some(Ok(_)) => Frame::Other,
            Some(Err(_)) | None => Frame::Closed(None),
        }
    }
}

/// Resets `parser` and feeds it the stream header every message is parsed under.
pub fn prime(parser: &mut StreamParser) {
    parser.reset();
    parser.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    let _ = parser.next_event();
}

/// Parses one message: exactly one element (`None` for whitespace).
pub fn parse_one(parser: &mut StreamParser, text: &str) -> Result<Option<Element>, String> {
    parser.feed(text.as_bytes());
    let first = parser.next_event().map_err(|e| e.to_string())?;
    if parser.buffered_bytes() > 0 {
        return Err("incomplete element".into());
    }
    if parser.next_event().map_err(|e| e.to_string())?.is_some() {
        return Err("more than one element in one message".into());
    }
    match first {
        None => Ok(None),
        Some(StreamEvent::Stanza(el)) => Ok(Some(el)),
        Some(other) => Err(format!("not an element: {other:?}")),
    }
}
