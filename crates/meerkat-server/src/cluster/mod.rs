//! Cluster mode (design: `docs/cluster.md`): this node's side of the NATS transport of the
//! `meerkat-cluster` crate. Subject-based routing: one subject per account bound here, a
//! request/ack per stanza for an account held elsewhere, no directory lookup.
//!
//! # Layout
//! - [`start`] (`startup.rs`): checks the configuration and connects at node start-up.
//! - `view.rs`: per account bound here, when each local resource was bound and which resources
//!   other nodes hold of it (from Hello/State), and the election of the one node that handles
//!   the fallbacks (`router::local` applies RFC 6121 §8.5.2 over the merged view).
//! - `workers.rs`: tasks routing stanzas from the cluster and fallbacks, sharded by account.
//! - `bind.rs`: subscribe/Hello/Kick at bind, State at presence changes, unsubscribe at unbind.
//! - `outbound.rs`: the ordered outbox that sends stanzas to other nodes and applies the
//!   single-node "no session" rules when nobody takes them.
//! - `own.rs`: copies for the user's own resources on other nodes (presence, sent carbons).
//! - `fanout.rs`: PEP notifications for an account's resources on other nodes.
//! - `relay.rs`: bare-JID messages to accounts on several nodes, handled once by the elected
//!   node and relayed, stamped, to the others.
//! - `inbound.rs`: stanzas, Hello/State, Kick, Resume and BOSH requests from other nodes
//!   (BOSH requests are answered by `http::bosh::forward`).
//! - [`resume`]: XEP-0198 resumption of a session another node held.
//! - [`membership`]: this node's and its sessions' rows in PostgreSQL, and the cleanup after a
//!   dead node (unavailable presence on behalf of its sessions).
//! - [`operator`]: `cluster_status`, the settings a joining node adopts, `remove_from_cluster`.
//!
//! A standalone node has `Server::cluster == None` and none of this runs.

mod bind;
mod fanout;
mod inbound;
pub mod membership;
pub mod operator;
mod outbound;
mod own;
mod relay;
pub mod resume;
mod startup;
mod view;
mod workers;

pub use bind::{on_bind, on_presence_change, on_unbind};
pub(crate) use fanout::take_fanout;
pub use fanout::to_account_nodes;
pub(crate) use outbound::plan;
pub(crate) use own::deliver_push;
pub use own::to_own_resources;
pub(crate) use relay::{mark, relay, take_mark};
pub use startup::{spawn, start, Pending};
pub(crate) use view::Remote;

use meerkat_cluster::Cluster;
use std::sync::Arc;

/// The cluster side of a node: the transport plus what this node knows of accounts it shares
/// with other nodes.
pub struct ClusterNode {
    transport: Cluster,
    pub(crate) views: view::Views,
    pub(crate) outbox: outbound::Outbox,
}

impl ClusterNode {
    /// The NATS transport (members, heartbeats, statistics, admin subjects).
    pub fn transport(&self) -> &Cluster {
        &self.transport
    }

    /// This node's name in the cluster (`[general] node_name`).
    pub fn node_name(&self) -> &str {
        self.transport.node_name()
    }
}

impl std::ops::Deref for ClusterNode {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.transport
    }
}

/// Shared handle.
pub type ClusterRef = Arc<ClusterNode>;
