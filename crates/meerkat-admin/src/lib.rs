//! Admin operations shared by the HTTP API and the `meerkat` admin commands.
//!
//! # Layout
//! - this file: [`AdminOps`], the one admin-operations layer the server implements, and its
//!   data types.
//! - [`http`]: the axum router exposing [`AdminOps`] on loopback, protected by a bearer token.
//! - [`client`]: the blocking HTTP client the CLI uses to call a running node.
//! - [`token`]: creating and reading the admin token file (mode 0600 in the data directory).
//! - [`endpoint`]: the file recording the admin address the node bound (for `port = 0`).
#![warn(missing_docs)]

pub mod client;
pub mod endpoint;
pub mod http;
pub mod token;

use serde::{Deserialize, Serialize};

/// A failed admin operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AdminError {
    /// The user, session or host does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The user exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// Bad argument (malformed JID, unknown host, empty password, ...).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The node failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What `meerkat status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Node name.
    pub node: String,
    /// Server version.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Hosts served.
    pub hosts: Vec<String>,
    /// Bound client sessions.
    pub sessions: usize,
    /// Listener addresses (`c2s 127.0.0.1:5222 starttls`).
    pub listeners: Vec<String>,
    /// Operating-system process id.
    pub pid: u32,
}

/// What `meerkat cluster_status` shows: members by state, names sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// Cluster name.
    pub cluster: String,
    /// The node that answered.
    pub node: String,
    /// Members whose heartbeats arrive.
    pub running: Vec<String>,
    /// Members (rows in the shared database) without heartbeats.
    pub stopped: Vec<String>,
}

/// What a node joining the cluster adopts, from a member's `GET /cluster/settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The member that answered.
    pub node: String,
    /// Cluster name.
    pub cluster: String,
    /// NATS URLs.
    pub nats_urls: Vec<String>,
    /// PostgreSQL URL of the shared storage (a password stays in each node's own
    /// `postgres_password_file`).
    pub postgres_url: String,
}

/// Result of removing a dead node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedNode {
    /// The node removed.
    pub node: String,
    /// Its sessions cleaned up by this call (unavailable presence sent on their behalf).
    pub sessions: usize,
}

fn not_clustered() -> AdminError {
    AdminError::BadRequest("this node is not a cluster member ([cluster] enabled = false)".into())
}

/// The admin operations a running node offers.
#[async_trait::async_trait]
pub trait AdminOps: Send + Sync + 'static {
    /// Node status.
    async fn status(&self) -> NodeStatus;
    /// Creates an account.
    async fn register(&self, user: &str, host: &str, password: &str) -> Result<(), AdminError>;
    /// Deletes an account and its data, closing its sessions.
    async fn unregister(&self, user: &str, host: &str) -> Result<(), AdminError>;
    /// Changes a password.
    async fn change_password(
        &self,
        user: &str,
        host: &str,
        password: &str,
    ) -> Result<(), AdminError>;
    /// Usernames of a host, sorted.
    async fn registered_users(&self, host: &str) -> Result<Vec<String>, AdminError>;
    /// Full JIDs of bound sessions, sorted.
    async fn sessions(&self) -> Vec<String>;
    /// Closes the sessions of a full JID (one) or a bare JID (all); returns how many.
    async fn kick(&self, jid: &str, reason: &str) -> Result<usize, AdminError>;
    /// Starts a graceful stop of the node; returns at once.
    async fn stop(&self);
    /// Running and stopped members.
    async fn cluster_status(&self) -> Result<ClusterStatus, AdminError> {
        Err(not_clustered())
    }
    /// The settings a joining node adopts.
    async fn cluster_settings(&self) -> Result<ClusterSettings, AdminError> {
        Err(not_clustered())
    }
    /// Marks this node as leaving: at its next stop it deletes its membership instead of
    /// being listed as stopped.
    async fn leave_cluster(&self) -> Result<(), AdminError> {
        Err(not_clustered())
    }
    /// Removes a stopped member: cleans up its sessions and deletes its membership.
    async fn remove_node(&self, _node: &str) -> Result<RemovedNode, AdminError> {
        Err(not_clustered())
    }
}
