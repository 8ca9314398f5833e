//! Persistent data behind one trait per data kind.
//!
//! # Layout
//! - [`cluster`]: member nodes and their bound sessions (PostgreSQL only).
//! - [`users`], [`roster`], [`offline`], [`last`], [`archive`], [`pubsub`], [`blocking`],
//!   [`vcard`], [`private`], [`upload`], [`pubsub_members`], [`muc`]: the traits and their plain
//!   data types.
//! - [`sqlite`]: the embedded backend (one SQLite file, migrations in `migrations/sqlite`).
//! - [`postgres`]: the shared backend of a cluster (migrations in `migrations/postgres`).
//! - `codec` (private): text forms of roster values shared by the SQL backends.
//! - `testsuite` (hidden): the conformance suite every backend's tests run, and a throwaway
//!   PostgreSQL server for tests (`testsuite::PgServer`).
//! - [`Storage`]: the bundle of trait objects the server is given; the backend is chosen once
//!   at start-up.
//!
//! Users are identified by `(host, username)`, where `username` is the JID localpart already
//! normalised (nodeprep) by the caller, and contacts by their bare JID as a normalised string.
#![warn(missing_docs)]

pub mod archive;
pub mod blocking;
pub mod cluster;
mod codec;
pub mod last;
pub mod muc;
pub mod offline;
pub mod postgres;
pub mod private;
pub mod pubsub;
pub mod pubsub_members;
pub mod roster;
pub mod sqlite;
#[doc(hidden)]
pub mod testsuite;
pub mod upload;
pub mod users;
pub mod vcard;

use std::sync::Arc;

pub use archive::{ArchivePrefs, ArchiveStore, ArchivedMessage, DefaultMode, IdSlot};
pub use blocking::BlockingStore;
pub use cluster::{ClusterNodeRow, ClusterStore, Incarnations};
pub use last::{LastActivity, LastStore};
pub use muc::{MucStore, StoredRoom};
pub use offline::{OfflineMessage, OfflineStore};
pub use private::PrivateStore;
pub use pubsub::{PubsubItem, PubsubNode, PubsubStore};
pub use pubsub_members::PubsubMemberStore;
pub use roster::{Ask, RosterItem, RosterStore, Subscription};
pub use upload::{UploadStore, UploadedFile};
pub use users::UserStore;
pub use vcard::{StoredVcard, VcardStore};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The record to create exists already (e.g. registering a taken username).
    #[error("already exists")]
    AlreadyExists,
    /// The record to change does not exist.
    #[error("not found")]
    NotFound,
    /// A per-user limit was reached (e.g. offline messages); nothing was stored.
    #[error("limit of {limit} reached")]
    LimitReached {
        /// The limit in force.
        limit: usize,
    },
    /// The backend failed (I/O, corruption, pool exhausted, ...).
    #[error("backend: {0}")]
    Backend(String),
}

/// Shorthand for storage results.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Every store, behind trait objects so the backend is chosen at run time.
#[derive(Clone)]
pub struct Storage {
    /// Accounts and their SCRAM credentials.
    pub users: Arc<dyn UserStore>,
    /// Rosters.
    pub roster: Arc<dyn RosterStore>,
    /// Offline messages.
    pub offline: Arc<dyn OfflineStore>,
    /// Last activity (logout time and status).
    pub last: Arc<dyn LastStore>,
    /// Message archives and archiving preferences (XEP-0313).
    pub archive: Arc<dyn ArchiveStore>,
    /// Publish-subscribe nodes and items (PEP, pubsub services).
    pub pubsub: Arc<dyn PubsubStore>,
    /// Blocklists (XEP-0191), vCards (XEP-0054) and private XML (XEP-0049).
    pub misc: MiscStores,
    /// Cluster membership rows (PostgreSQL only; SQLite answers "cluster needs PostgreSQL").
    pub cluster: Arc<dyn ClusterStore>,
    /// Files stored through HTTP File Upload (XEP-0363), for quotas and expiry.
    pub upload: Arc<dyn UploadStore>,
    /// Subscriptions and affiliations of pubsub service nodes (XEP-0060).
    pub pubsub_members: Arc<dyn PubsubMemberStore>,
}

/// The stores of blocking, vCards and private XML, grouped so the [`Storage`] bundle grows by
/// one field for them.
#[derive(Clone)]
pub struct MiscStores {
    /// Blocklists (XEP-0191).
    pub blocking: Arc<dyn BlockingStore>,
    /// vCards (XEP-0054).
    pub vcard: Arc<dyn VcardStore>,
    /// Private XML storage (XEP-0049).
    pub private: Arc<dyn PrivateStore>,
    /// Persistent Multi-User Chat rooms (XEP-0045).
    pub muc: Arc<dyn MucStore>,
}
