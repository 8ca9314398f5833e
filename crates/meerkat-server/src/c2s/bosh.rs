//! BOSH (XEP-0124/XEP-0206): the transport under a c2s [`Conn`](super::conn::Conn) whose
//! reads are the payloads of HTTP requests and whose writes answer held requests.
//!
//! Like a WebSocket, a BOSH session is one more [`Transport`](super::transport::Transport) of
//! the c2s code, so SASL, bind, Stream Management, CSI and every module run unchanged. The
//! HTTP side ([`crate::http::bosh`]) turns each request body into stream events: the session
//! creation request and each `xmpp:restart='true'` become a stream header, payload elements
//! become stanzas, `type='terminate'` becomes the end of the stream. Here those events are
//! read, and what the connection writes is serialised for a `<body/>` and handed to the
//! session on flush, which answers the oldest held request with it.
//!
//! - Our stream header is not written: the session creation response carries its attributes
//!   (§7.2), and a restart response carries only the new features (XEP-0206 §5).
//! - A stream error is sent inside a body with `type='terminate'
//!   condition='remote-stream-error'` (XEP-0206 §6); the end of our stream is a terminating
//!   body.
//! - Inactivity (no request held for `inactivity` seconds) reads as the peer closing the
//!   connection: the session ends as a broken TCP connection would.

use super::conn::ConnEnd;
use crate::http::bosh::session::Session;
use meerkat_proto::ns;
use meerkat_stream::bosh::Condition;
use meerkat_xml::{Element, StreamEvent};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

/// A BOSH session under a c2s connection.
pub struct BoshIo {
    session: Arc<Session>,
    /// Events read from request bodies, until the connection takes them.
    events: VecDeque<StreamEvent>,
    /// Set once the stream ends: `Some(c)` ends the session with condition `c`.
    terminate: Option<Option<Condition>>,
}

impl BoshIo {
    /// The transport of `session`.
    pub fn new(session: Arc<Session>) -> Self {
        BoshIo { session, events: VecDeque::new(), terminate: None }
    }

    /// True when the session was created over HTTPS.
    pub fn is_tls(&self) -> bool {
        self.session.tls
    }

    /// Takes the next event read from a request.
    pub fn take_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// Serialises one element for a response body. A stream error ends the session with
    /// `remote-stream-error` (XEP-0206 §6).
    pub fn queue(&mut self, out: &mut Vec<u8>, el: &Element) {
        if el.is("error", ns::STREAM) {
            self.terminate = Some(Some(Condition::RemoteStreamError));
        }
        meerkat_stream::bosh::write_element(out, el);
    }

    /// The end of our stream: the next response terminates the session.
    pub fn queue_footer(&mut self) {
        if self.terminate.is_none() {
            self.terminate = Some(None);
        }
    }
}

/// Waits for the next request's events. Returns the request bytes they came from (0 when
/// another event was already queued); EOF once the session is over (inactivity, termination).
pub async fn read(io: &mut BoshIo) -> Result<usize, ConnEnd> {
    io.session.wait_inbound().await;
    io.session.take_inbound(&mut io.events).map_err(|_| ConnEnd::Eof)
}

/// Hands the queued output to the session, which answers a held request with it.
pub fn flush(io: &mut BoshIo, out: &[u8]) -> io::Result<()> {
    io.session
        .push_out(out, io.terminate)
        .map_err(|e| io::Error::new(io::ErrorKind::NotConnected, e))
}

/// Ends the session: every held request learns it.
pub fn shutdown(io: &mut BoshIo) {
    io.session.close();
}
