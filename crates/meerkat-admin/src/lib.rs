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
}
