//! Byte-level I/O of one client connection: reading parser events with deadlines, writing
//! elements, and closing with a stream error. Protocol decisions live in the callers.

use super::transport::Transport;
use super::{bosh, websocket};
use meerkat_proto::error::{StreamError, StreamErrorCondition};
use meerkat_proto::ns;
use meerkat_xml::{Element, StreamEvent, StreamParser, XmlError};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// Bytes read per socket read. The buffer lives on the stack only while a read is polled, so an
/// idle connection holds no read buffer at all.
const READ_CHUNK: usize = 4096;

/// Why a connection ends.
#[derive(Debug)]
pub enum ConnEnd {
    /// The peer closed TCP.
    Eof,
    /// Socket error.
    Io(io::Error),
    /// The peer sent bad XML or broke a limit.
    Xml(XmlError),
    /// A deadline passed.
    Timeout,
    /// A protocol rule was broken: close with this stream error.
    Stream(StreamErrorCondition),
}

impl ConnEnd {
    /// The stream error to send for this end, if the stream can still carry one.
    pub fn stream_error(&self) -> Option<StreamError> {
        use StreamErrorCondition as C;
        match self {
            ConnEnd::Eof | ConnEnd::Io(_) => None,
            ConnEnd::Timeout => Some(StreamError::new(C::ConnectionTimeout)),
            ConnEnd::Stream(c) => Some(StreamError::new(*c)),
            ConnEnd::Xml(e) => Some(meerkat_stream::xml_stream_error(e)),
        }
    }
}

/// One client connection's transport and parser.
pub struct Conn {
    /// The byte stream (replaced on STARTTLS).
    pub io: Transport,
    /// Incremental XML parser for the current stream.
    pub parser: StreamParser,
    /// Remote address.
    pub peer: SocketAddr,
    /// True once our stream header was sent (a stream error needs a header first).
    pub header_sent: bool,
    /// Bytes read since the last check (for idle detection).
    pub bytes_in: u64,
    /// Stream Management and CSI state once the client uses either (XEP-0198, XEP-0352);
    /// `None` otherwise, so sessions without them pay one pointer.
    pub ext: Option<Box<crate::modules::stream_management::StreamExt>>,
    out: Vec<u8>,
}

impl Conn {
    /// Wraps an accepted transport.
    pub fn new(io: Transport, mut parser: StreamParser, peer: SocketAddr) -> Self {
        if io.is_websocket() {
            websocket::prime(&mut parser);
        }
        Conn { io, parser, peer, header_sent: false, bytes_in: 0, ext: None, out: Vec::new() }
    }

    /// Expects a new stream header (stream restart after SASL success, RFC 6120 §6.4.6; on a
    /// WebSocket, a new `<open/>`).
    pub fn reset_parser(&mut self) {
        if self.io.is_websocket() {
            websocket::prime(&mut self.parser);
        } else {
            self.parser.reset();
        }
    }

    /// The next parsed event of what was read, `Ok(None)` when more input is needed.
    pub fn next_parsed(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        match &mut self.io {
            // The message was parsed whole when it was read.
            Transport::WebSocket(ws) => Ok(ws.take_event()),
            // Request bodies were parsed whole when they arrived.
            Transport::Bosh(b) => Ok(b.take_event()),
            _ => self.parser.next_event(),
        }
    }

    /// Reads until the parser yields an event or `deadline` passes.
    pub async fn next_event(&mut self, deadline: Option<Instant>) -> Result<StreamEvent, ConnEnd> {
        loop {
            if let Some(ev) = self.next_parsed().map_err(ConnEnd::Xml)? {
                return Ok(ev);
            }
            match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.read_some()).await {
                    Ok(r) => r?,
                    Err(_) => return Err(ConnEnd::Timeout),
                },
                None => self.read_some().await?,
            }
        }
    }

    /// Reads once from the socket into the parser (on a WebSocket: one message or control frame).
    pub async fn read_some(&mut self) -> Result<(), ConnEnd> {
        if let Transport::WebSocket(ws) = &mut self.io {
            let n = websocket::read(ws, &mut self.parser).await?;
            self.bytes_in += n as u64;
            crate::metrics::get().bytes_in.increment(n as u64);
            return Ok(());
        }
        if let Transport::Bosh(b) = &mut self.io {
            let n = bosh::read(b).await?;
            self.bytes_in += n as u64;
            crate::metrics::get().bytes_in.increment(n as u64);
            return Ok(());
        }
        let io = &mut self.io;
        let parser = &mut self.parser;
        let n = poll_fn(|cx| {
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    parser.feed(buf.filled());
                    Poll::Ready(Ok(buf.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
        .map_err(ConnEnd::Io)?;
        if n == 0 {
            return Err(ConnEnd::Eof);
        }
        self.bytes_in += n as u64;
        crate::metrics::get().bytes_in.increment(n as u64);
        Ok(())
    }

    /// Queues a top-level element in the `jabber:client` stream.
    pub fn queue(&mut self, el: &Element) {
        if let Transport::WebSocket(ws) = &mut self.io {
            if el.ns == ns::CLIENT {
                crate::metrics::get().stanzas_out[crate::metrics::kind_index(&el.name)]
                    .increment(1);
                if let Some(ext) = &mut self.ext {
                    ext.on_written(el);
                }
            }
            websocket::write_element(&mut self.out, el);
            ws.mark(self.out.len());
            return;
        }
        if let Transport::Bosh(b) = &mut self.io {
            if el.ns == ns::CLIENT {
                crate::metrics::get().stanzas_out[crate::metrics::kind_index(&el.name)]
                    .increment(1);
                if let Some(ext) = &mut self.ext {
                    ext.on_written(el);
                }
            }
            b.queue(&mut self.out, el);
            return;
        }
        if el.ns == ns::STREAM {
            // Stream-namespace elements use the `stream:` prefix every client expects.
            self.out.extend_from_slice(b"<stream:");
            self.out.extend_from_slice(el.name.as_bytes());
            for (k, v) in &el.attrs {
                self.out.extend_from_slice(format!(" {k}='").as_bytes());
                meerkat_xml::escape::escape_attr(&mut self.out, v);
                self.out.push(b'\'');
            }
            self.out.push(b'>');
            for child in &el.children {
                match child {
                    meerkat_xml::Node::Element(c) => c.write_to(&mut self.out, ns::CLIENT),
                    meerkat_xml::Node::Text(t) => {
                        meerkat_xml::escape::escape_text(&mut self.out, t)
                    }
                }
            }
            self.out.extend_from_slice(b"</stream:");
            self.out.extend_from_slice(el.name.as_bytes());
            self.out.push(b'>');
        } else {
            if el.ns == ns::CLIENT {
                crate::metrics::get().stanzas_out[crate::metrics::kind_index(&el.name)]
                    .increment(1);
                if let Some(ext) = &mut self.ext {
                    ext.on_written(el);
                }
            }
            el.write_to(&mut self.out, ns::CLIENT);
        }
    }

    /// Queues raw bytes (stream header and footer).
    fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Queues the end of our stream: `</stream:stream>`, or `<close/>` on a WebSocket.
    fn queue_footer(&mut self) {
        if let Transport::WebSocket(ws) = &mut self.io {
            websocket::write_close(&mut self.out);
            ws.mark(self.out.len());
        } else if let Transport::Bosh(b) = &mut self.io {
            b.queue_footer();
        } else {
            self.queue_raw(b"</stream:stream>");
        }
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if let Transport::Bosh(b) = &mut self.io {
            // Even with nothing queued: the end of the stream alone answers a held request.
            crate::metrics::get().bytes_out.increment(self.out.len() as u64);
            let out = std::mem::take(&mut self.out);
            return bosh::flush(b, &out);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        crate::metrics::get().bytes_out.increment(self.out.len() as u64);
        let out = std::mem::take(&mut self.out);
        // An idle connection keeps no write buffer: the next write allocates a fresh one, which
        // costs far less than the syscall it precedes.
        if let Transport::WebSocket(ws) = &mut self.io {
            return websocket::flush(ws, &out).await;
        }
        self.io.write_all(&out).await?;
        self.io.flush().await
    }

    /// Sends a transport-level keepalive where the transport has one (a WebSocket Ping);
    /// returns false when the caller should use an XMPP ping (XEP-0199) instead.
    pub async fn send_transport_ping(&mut self) -> io::Result<bool> {
        match &mut self.io {
            Transport::WebSocket(ws) => websocket::ping(ws).await.map(|()| true),
            _ => Ok(false),
        }
    }

    /// Ends the transport after the stream's last bytes.
    async fn shutdown_transport(&mut self) {
        match &mut self.io {
            Transport::WebSocket(ws) => websocket::shutdown(ws).await,
            Transport::Bosh(b) => bosh::shutdown(b),
            io => {
                let _ = io.shutdown().await;
            }
        }
    }

    /// Queues and writes one element.
    pub async fn send(&mut self, el: &Element) -> io::Result<()> {
        self.queue(el);
        self.flush().await
    }

    /// Our stream header (RFC 6120 §4.7; `<open/>` on a WebSocket, RFC 7395 §3.3.2).
    pub fn queue_header(&mut self, from: &str, id: &str) {
        if let Transport::WebSocket(ws) = &mut self.io {
            websocket::write_open(&mut self.out, from, id);
            ws.mark(self.out.len());
            self.header_sent = true;
            return;
        }
        if self.io.is_bosh() {
            // The session creation response carries the header's attributes (XEP-0124 §7.2).
            self.header_sent = true;
            return;
        }
        let mut h = Vec::with_capacity(200);
        h.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='");
        meerkat_xml::escape::escape_attr(&mut h, id);
        h.extend_from_slice(b"' from='");
        meerkat_xml::escape::escape_attr(&mut h, from);
        h.extend_from_slice(b"' version='1.0' xml:lang='en'>");
        self.queue_raw(&h);
        self.header_sent = true;
    }

    /// Sends a stream error and closes the stream (RFC 6120 §4.9.1.1), then TCP.
    pub async fn fail(&mut self, err: StreamError, host: &str) {
        if !self.header_sent {
            self.queue_header(host, &new_stream_id());
        }
        self.queue(&err.to_element());
        self.queue_footer();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            let _ = self.flush().await;
            self.shutdown_transport().await;
        })
        .await;
    }

    /// Closes the stream without error.
    pub async fn close(&mut self) {
        self.queue_footer();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            let _ = self.flush().await;
            self.shutdown_transport().await;
        })
        .await;
    }
}

/// A fresh random stream id.
pub fn new_stream_id() -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{n:032x}")
}
