//! The node's shared state, built once at start-up and shared by every task.

use crate::auth_limits::FailureLimiter;
use crate::session::{SessionEntry, SessionMsg, SessionTable};
use crate::tls::TlsSetup;
use meerkat_config::Config;
use meerkat_storage::Storage;
use meerkat_xml::Element;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a connection, module or admin call needs.
pub struct Server {
    /// Validated configuration.
    pub config: Config,
    /// Persistent data.
    pub storage: Storage,
    /// Bound sessions.
    pub sessions: SessionTable,
    /// TLS acceptor and channel-binding data.
    pub tls: TlsSetup,
    /// Failed-login rate limiting per source address.
    pub auth_failures: FailureLimiter,
    /// When the node started (uptime, XEP-0012 for the server).
    pub started: Instant,
    /// Cancelled when the node stops.
    pub shutdown: CancellationToken,
    /// Every spawned task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Listener descriptions for `status`.
    pub listeners: std::sync::Mutex<Vec<String>>,
}

/// Shared handle.
pub type ServerRef = Arc<Server>;

/// Why a stanza could not be handed to a session.
#[derive(Debug)]
pub enum DeliveryError {
    /// The session's mailbox is full: it has been told to close (slow reader).
    Overflow(Element),
    /// The session is gone.
    Closed(Element),
}

impl DeliveryError {
    /// Takes the undelivered stanza back.
    pub fn into_stanza(self) -> Element {
        match self {
            DeliveryError::Overflow(e) | DeliveryError::Closed(e) => e,
        }
    }
}

impl Server {
    /// True when `domain` is one of the hosts served.
    pub fn serves(&self, domain: &str) -> bool {
        self.config.general.hosts.iter().any(|h| h == domain)
    }

    /// Hands a stanza to one session without waiting. A full mailbox means the client does not
    /// read: its connection is cancelled (it will close with a stream error) and the stanza is
    /// given back so the caller can store or bounce it; nothing is dropped silently.
    pub fn deliver(&self, entry: &SessionEntry, stanza: Element) -> Result<(), DeliveryError> {
        use tokio::sync::mpsc::error::TrySendError;
        match entry.tx.try_send(Box::new(SessionMsg::Stanza(stanza))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(msg)) => {
                entry.overflow.cancel();
                crate::metrics::get().queue_overflows.increment(1);
                tracing::warn!(what = "session_queue_overflow", resource = %entry.resource);
                Err(DeliveryError::Overflow(unbox(msg)))
            }
            Err(TrySendError::Closed(msg)) => Err(DeliveryError::Closed(unbox(msg))),
        }
    }
}

// The mailbox carries boxes (see `Mailbox`); the box comes back as it went in.
#[allow(clippy::boxed_local)]
fn unbox(msg: Box<SessionMsg>) -> Element {
    match *msg {
        SessionMsg::Stanza(e) => e,
        SessionMsg::Close(_) => Element::new("message", meerkat_proto::ns::CLIENT),
    }
}
