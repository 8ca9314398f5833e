//! The cluster's admin operations (`meerkat cluster_status`, `join_cluster`'s settings,
//! `remove_from_cluster`), behind [`crate::admin_ops::NodeAdmin`].

use crate::server::ServerRef;
use meerkat_admin::{AdminError, ClusterSettings, ClusterStatus, RemovedNode};
use meerkat_cluster::MemberState;
use meerkat_storage::Incarnations;
use std::collections::BTreeSet;

fn member(server: &ServerRef) -> Result<&super::ClusterNode, AdminError> {
    server.cluster().ok_or_else(|| {
        AdminError::BadRequest(
            "this node is not a cluster member ([cluster] enabled = false)".into(),
        )
    })
}

fn running(c: &super::ClusterNode) -> BTreeSet<String> {
    let mut running: BTreeSet<String> = c
        .members()
        .into_iter()
        .filter(|m| m.state == MemberState::Running)
        .map(|m| m.node)
        .collect();
    // This node serves the call, whether or not its first heartbeat came back yet.
    running.insert(c.node_name().to_owned());
    running
}

/// Running members (heartbeats) and stopped ones (rows in PostgreSQL without heartbeats).
pub async fn status(server: &ServerRef) -> Result<ClusterStatus, AdminError> {
    let c = member(server)?;
    let mut running = running(c);
    let rows =
        server.storage.cluster.nodes().await.map_err(|e| AdminError::Internal(e.to_string()))?;
    // Until a full node timeout has passed since this node started, a member it has not heard
    // from yet is judged by its row (its heartbeat may simply not have come round yet).
    let timeout = std::time::Duration::from_millis(server.config.cluster.node_timeout_ms);
    if server.started.elapsed() < timeout {
        let heard: BTreeSet<String> = c.members().into_iter().map(|m| m.node).collect();
        for r in &rows {
            if r.left_at.is_none() && !heard.contains(&r.name) {
                running.insert(r.name.clone());
            }
        }
    }
    let stopped = rows.into_iter().map(|r| r.name).filter(|n| !running.contains(n)).collect();
    Ok(ClusterStatus {
        cluster: server.config.cluster.name.clone(),
        node: c.node_name().to_owned(),
        running: running.into_iter().collect(),
        stopped,
    })
}

/// What a joining node adopts.
pub fn settings(server: &ServerRef) -> Result<ClusterSettings, AdminError> {
    let c = member(server)?;
    Ok(ClusterSettings {
        node: c.node_name().to_owned(),
        cluster: server.config.cluster.name.clone(),
        nats_urls: server.config.cluster.nats_urls.clone(),
        postgres_url: server.config.storage.postgres_url.clone(),
    })
}

/// Removes a member that is not running: unavailable presence for its sessions, its session
/// rows and its member row deleted, and this node forgets it.
pub async fn remove(server: &ServerRef, node: &str) -> Result<RemovedNode, AdminError> {
    let c = member(server)?;
    if running(c).contains(node) {
        return Err(AdminError::BadRequest(format!(
            "node {node} is running: stop it first, or run leave_cluster on it"
        )));
    }
    let store = &server.storage.cluster;
    let known = store
        .nodes()
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .iter()
        .any(|r| r.name == node);
    let leftover = store.sessions(node).await.map_err(|e| AdminError::Internal(e.to_string()))?;
    if !known && leftover.is_empty() {
        return Err(AdminError::NotFound(format!("node {node} is not a member of the cluster")));
    }
    let sessions = super::membership::cleanup(server, node, Incarnations::All, "removed").await;
    store.delete_node(node).await.map_err(|e| AdminError::Internal(e.to_string()))?;
    c.forget_member(node);
    tracing::info!(what = "cluster_node_removed", %node, sessions);
    Ok(RemovedNode { node: node.to_owned(), sessions })
}
