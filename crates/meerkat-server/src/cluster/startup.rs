//! Joining the cluster at node start-up.

use super::{outbound, view, ClusterNode, ClusterRef};
use crate::server::ServerRef;
use anyhow::Context;
use meerkat_cluster::{Cluster, Inbound, Settings};
use meerkat_config::{Backend, Config};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What [`start`] hands back for [`spawn`]: the inbound queue and the outbox's receiving end,
/// which need the finished `Server`.
pub struct Pending {
    inbound: mpsc::Receiver<Inbound>,
    outbox: outbound::OutboxRx,
}

/// Connects to NATS when `[cluster] enabled` (returns `None` otherwise). The connection itself
/// is retried in the background forever; errors here are configuration errors (no shared
/// storage, unreadable secret, bad URL).
pub async fn start(
    config: &Config,
    admin_address: &str,
) -> anyhow::Result<Option<(ClusterRef, Pending)>> {
    let c = &config.cluster;
    if !c.enabled {
        return Ok(None);
    }
    if config.storage.backend != Backend::Postgres {
        anyhow::bail!(
            "[cluster] enabled = true needs [storage] backend = \"postgres\": cluster nodes \
             share accounts, rosters and offline messages, which a node-local SQLite file \
             cannot hold"
        );
    }
    let settings = Settings::from_config(c, &config.general.node_name, admin_address)
        .map_err(|e| anyhow::anyhow!("[cluster]: {e}"))?;
    let (transport, inbound) =
        Cluster::start(settings).await.context("starting the cluster transport")?;
    let (outbox, outbox_rx) = outbound::Outbox::new();
    let node = ClusterNode { transport, views: view::Views::default(), outbox };
    Ok(Some((Arc::new(node), Pending { inbound, outbox: outbox_rx })))
}

/// Starts the tasks that need the whole server: inbound handling and the outbox.
pub fn spawn(server: &ServerRef, pending: Pending) {
    let Some(cluster) = server.cluster.clone() else { return };
    let workers = super::workers::Workers::spawn(server);
    super::inbound::spawn(server, &cluster, pending.inbound, workers.clone());
    outbound::spawn(server, &cluster, pending.outbox, workers);
}
