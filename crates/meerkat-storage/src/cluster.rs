//! Cluster membership rows (design: `docs/cluster.md`): the member nodes and the sessions bound
//! on each, kept in the shared database so a surviving node can clean up after a dead one.
//!
//! Only the PostgreSQL backend holds them; a node-local SQLite file cannot be shared, so the
//! SQLite backend answers every call with [`needs_postgres`].

use crate::{Result, StorageError};

/// One row of `cluster_nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNodeRow {
    /// Node name (`[general] node_name`).
    pub name: String,
    /// Its admin API address (`ip:port`).
    pub admin_address: String,
    /// Start time (ms since the epoch) of the process that last registered it.
    pub incarnation: i64,
    /// When it first joined, seconds since the epoch.
    pub joined_at: i64,
    /// When it last registered or refreshed its row, seconds since the epoch.
    pub last_seen: i64,
    /// When it stopped (or was declared dead), seconds since the epoch; `None` while it runs.
    pub left_at: Option<i64>,
}

/// Membership rows of a cluster.
#[async_trait::async_trait]
pub trait ClusterStore: Send + Sync + 'static {
    /// Records `node` as started with this incarnation: inserts its row, or updates the admin
    /// address, incarnation and `last_seen` and clears `left_at`, keeping `joined_at`.
    async fn register_node(&self, node: &str, admin_address: &str, incarnation: i64) -> Result<()>;

    /// Refreshes `last_seen` of `node`'s row if it still has this incarnation (and clears a
    /// `left_at` set by a survivor that wrongly took it for dead); false if no such row.
    async fn touch_node(&self, node: &str, incarnation: i64) -> Result<bool>;

    /// Every member row, sorted by name.
    async fn nodes(&self) -> Result<Vec<ClusterNodeRow>>;

    /// Marks `node` stopped (sets `left_at`) if its row still has this incarnation.
    async fn mark_stopped(&self, node: &str, incarnation: i64) -> Result<()>;

    /// Deletes the member row of `node` (leave or removal); true if there was one.
    async fn delete_node(&self, node: &str) -> Result<bool>;

    /// Records sessions bound on `node` (an existing row for the same full JID is replaced;
    /// a JID may appear twice). One statement for the batch: a login storm costs PostgreSQL
    /// a few transactions, not one per login.
    async fn add_sessions(&self, node: &str, jids: &[String], incarnation: i64) -> Result<()>;

    /// Deletes the rows of sessions that unbound; missing rows are fine.
    async fn remove_sessions(&self, node: &str, jids: &[String]) -> Result<()>;

    /// Full JIDs of the sessions recorded for `node`, sorted.
    async fn sessions(&self, node: &str) -> Result<Vec<String>>;

    /// Takes over the session rows of a dead run of `node`: if this caller wins the lock on
    /// the node's row (another caller holding it makes this return `None` at once rather than
    /// wait), deletes the rows of the sessions matching `which` and returns their full JIDs,
    /// sorted. When the node's row still has a matching incarnation it is marked stopped in
    /// the same transaction. A node without a row is not locked, its rows are still taken.
    async fn claim_sessions(&self, node: &str, which: Incarnations) -> Result<Option<Vec<String>>>;
}

/// Which runs of a node [`ClusterStore::claim_sessions`] takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incarnations {
    /// Only this run (a node declared dead by its heartbeats).
    Only(i64),
    /// Every run except this one (a node cleaning up after its own earlier run).
    AllBut(i64),
    /// Every run (a node removed by the operator).
    All,
}

/// The error of every [`ClusterStore`] call on a backend that cannot be shared.
pub fn needs_postgres() -> StorageError {
    StorageError::Backend(
        "the cluster needs PostgreSQL ([storage] backend = \"postgres\"); SQLite is node-local"
            .into(),
    )
}

/// The [`ClusterStore`] of a standalone backend: every call fails with [`needs_postgres`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCluster;

#[async_trait::async_trait]
impl ClusterStore for NoCluster {
    async fn register_node(&self, _: &str, _: &str, _: i64) -> Result<()> {
        Err(needs_postgres())
    }
    async fn touch_node(&self, _: &str, _: i64) -> Result<bool> {
        Err(needs_postgres())
    }
    async fn nodes(&self) -> Result<Vec<ClusterNodeRow>> {
        Err(needs_postgres())
    }
    async fn mark_stopped(&self, _: &str, _: i64) -> Result<()> {
        Err(needs_postgres())
    }
    async fn delete_node(&self, _: &str) -> Result<bool> {
        Err(needs_postgres())
    }
    async fn add_sessions(&self, _: &str, _: &[String], _: i64) -> Result<()> {
        Err(needs_postgres())
    }
    async fn remove_sessions(&self, _: &str, _: &[String]) -> Result<()> {
        Err(needs_postgres())
    }
    async fn sessions(&self, _: &str) -> Result<Vec<String>> {
        Err(needs_postgres())
    }
    async fn claim_sessions(&self, _: &str, _: Incarnations) -> Result<Option<Vec<String>>> {
        Err(needs_postgres())
    }
}
