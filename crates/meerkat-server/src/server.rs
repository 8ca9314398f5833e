//! The node's shared state, built once at start-up and shared by every task.

use crate::auth_limits::FailureLimiter;
use crate::session::{SendError, SessionEntry, SessionTable};
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
    /// Resumable Stream Management sessions (XEP-0198) by resumption id.
    pub sm_registry: crate::modules::stream_management::Registry,
    /// The BOSH endpoints of this node's HTTP listeners, for requests other nodes forward.
    pub bosh: crate::http::bosh::forward::Endpoints,
    /// Message archive state (XEP-0313): writer queue, id generator, preferences cache.
    pub mam: crate::modules::mam::MamState,
    /// XEP-0115 caps cache and pending disco queries.
    pub caps: crate::modules::caps::CapsState,
    /// XEP-0163 PEP (pubsub core and node cache).
    pub pep: crate::modules::pep::PepState,
    /// Last-activity records (XEP-0012) waiting to be written in a batch.
    pub last_activity: crate::modules::last_writer::LastWriter,
    /// In-memory state of the blocking and ad-hoc command modules.
    pub misc: crate::modules::misc_state::MiscState,
    /// Services on subdomains (MUC, pubsub, upload) by domain.
    pub components: crate::components::Components,
    /// The cluster transport and this node's view of accounts shared with other nodes;
    /// `None` on a standalone node (`[cluster] enabled = false`), which then pays nothing.
    pub cluster: Option<Arc<crate::cluster::ClusterNode>>,
    /// Membership rows in PostgreSQL (this node, its bound sessions) and dead-node cleanup;
    /// set once at start-up on a cluster member only.
    pub membership: std::sync::OnceLock<crate::cluster::membership::Membership>,
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
    /// The cluster handle when this node is a cluster member.
    pub fn cluster(&self) -> Option<&crate::cluster::ClusterNode> {
        self.cluster.as_deref()
    }

    /// True when `domain` is one of the hosts served.
    pub fn serves(&self, domain: &str) -> bool {
        self.config.general.hosts.iter().any(|h| h == domain)
    }

    /// Hands a stanza to one session without waiting. A full mailbox means the client does not
    /// read: its connection closes with a stream error, and the stanza is given back so the
    /// caller can store or bounce it; nothing is dropped silently.
    pub fn deliver(&self, entry: &SessionEntry, stanza: Element) -> Result<(), DeliveryError> {
        match entry.mailbox.try_send(stanza) {
            Ok(()) => Ok(()),
            Err(SendError::Full(e)) => {
                crate::metrics::get().queue_overflows.increment(1);
                tracing::warn!(what = "session_queue_overflow", resource = %entry.resource);
                Err(DeliveryError::Overflow(e))
            }
            Err(SendError::Closed(e)) => Err(DeliveryError::Closed(e)),
        }
    }
}
