//! A client connection's transport: plain TCP, TLS (direct or after STARTTLS), a WebSocket
//! (RFC 7395) or a BOSH session (XEP-0206). TCP and TLS are byte streams (the
//! `AsyncRead`/`AsyncWrite` impls); a WebSocket carries messages and BOSH carries request
//! bodies, so [`super::conn::Conn`] reads and writes them through [`super::websocket`] and
//! [`super::bosh`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// The transport under an XMPP stream.
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP. Boxed: the rustls state is large and plain connections should not pay it.
    Tls(Box<TlsStream<TcpStream>>),
    /// XMPP over WebSocket (RFC 7395). Boxed: the WebSocket state is large. Its byte-stream
    /// impls below behave as `Detached`: the connection uses its message API instead.
    WebSocket(Box<super::websocket::WsIo>),
    /// BOSH (XEP-0124/XEP-0206): reads are request payloads, writes answer held requests.
    /// Its byte-stream impls behave as `Detached`.
    Bosh(Box<super::bosh::BoshIo>),
    /// Taken out for the STARTTLS handshake; reads see EOF, writes fail.
    Detached,
}

impl Transport {
    /// True when TLS protects the stream.
    pub fn is_tls(&self) -> bool {
        match self {
            Transport::Tls(_) => true,
            Transport::WebSocket(ws) => ws.is_tls(),
            Transport::Bosh(b) => b.is_tls(),
            _ => false,
        }
    }

    /// True for a WebSocket (RFC 7395 framing instead of one XML stream).
    pub fn is_websocket(&self) -> bool {
        matches!(self, Transport::WebSocket(_))
    }

    /// True for BOSH (request bodies instead of one XML stream).
    pub fn is_bosh(&self) -> bool {
        matches!(self, Transport::Bosh(_))
    }

    /// `tls-exporter` channel binding data (RFC 9266), TLS 1.3 only.
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        let tls = match self {
            Transport::Tls(tls) => tls,
            Transport::WebSocket(ws) => return ws.tls_exporter(),
            _ => return None,
        };
        let (_, conn) = tls.get_ref();
        exporter(conn)
    }
}

/// `tls-exporter` channel binding data (RFC 9266) of a server TLS connection, TLS 1.3 only.
pub fn exporter(conn: &rustls::ServerConnection) -> Option<Vec<u8>> {
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return None;
    }
    conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None).ok().map(Vec::from)
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Transport::WebSocket(_) | Transport::Bosh(_) | Transport::Detached => {
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, data),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
            Transport::WebSocket(_) | Transport::Bosh(_) | Transport::Detached => {
                Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Transport::WebSocket(_) | Transport::Bosh(_) | Transport::Detached => {
                Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Transport::WebSocket(_) | Transport::Bosh(_) | Transport::Detached => {
                Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
            }
        }
    }
}
