//! Membership rows in PostgreSQL (`docs/cluster.md`, "Membership and failures"): this node's
//! `cluster_nodes` row, one `cluster_sessions` row per bound session, and the cleanup after a
//! dead node.
//!
//! Session rows are written by one background writer so a login never waits on PostgreSQL:
//! the queue is bounded (back-pressure on the binding session when full, never a drop), rows
//! are written in order (an unbind never overtakes its bind), and a failed write is retried
//! with backoff until it succeeds or the node stops (a stopping node deletes all its rows
//! anyway).
//!
//! Each node refreshes its row's `last_seen` every half `node_timeout_ms`.
//!
//! Dead nodes: on `NodeDown` (and on a periodic sweep of rows neither heard on NATS nor
//! refreshed, for events missed or nodes that died while nobody watched), every survivor that
//! is itself connected to NATS tries to claim the dead run's session rows; the one
//! that wins the row lock ([`meerkat_storage::ClusterStore::claim_sessions`]) sends
//! unavailable presence on behalf of each session to the contacts that had its presence
//! (subscription `from` or `both`). A node starting again under the same name claims what its
//! previous run left in the same way.

use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_cluster::{MemberEvent, MemberState};
use meerkat_storage::{ClusterStore, Incarnations, Subscription};
use meerkat_xml::Element;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Session-row operations waiting for the writer. About 100 bytes each; beyond it the binding
/// session waits for room.
const WRITER_QUEUE: usize = 4096;
/// Most session-row operations taken from the queue at once (a few statements for them all).
const WRITER_BATCH: usize = 512;
/// How long the writer lets operations gather after the first: every statement is a commit
/// (a WAL flush in PostgreSQL), and at 500 logins/s one commit per bind and per unbind cost
/// PostgreSQL more CPU than the queries of the logins themselves. A row written this much
/// later changes nothing: rows only serve the cleanup after a node's death.
const WRITER_LINGER: Duration = Duration::from_millis(20);
/// First and longest pause between two tries of a failed write.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a survivor waits after `NodeDown` before claiming: a node leaving gracefully
/// announces it at once and then deletes its own rows while its sessions close.
const LEAVE_GRACE: Duration = Duration::from_secs(2);
/// How long the stopping node waits for its writer to empty.
const STOP_FLUSH: Duration = Duration::from_secs(5);

/// This node's membership state, in [`crate::server::Server::membership`].
pub struct Membership {
    tx: mpsc::Sender<Op>,
    /// Start time of this run (ms), the `incarnation` of its rows.
    pub incarnation: i64,
    /// Set by `leave_cluster`: the stop deletes the member row instead of marking it stopped.
    leaving: std::sync::atomic::AtomicBool,
    /// The admin address registered in the row.
    admin_address: String,
}

enum Op {
    Add(String),
    Remove(String),
    Flush(oneshot::Sender<()>),
}

impl Op {
    fn same_kind(&self, add: bool) -> bool {
        matches!((self, add), (Op::Add(_), true) | (Op::Remove(_), false))
    }

    fn into_jid(self) -> Option<String> {
        match self {
            Op::Add(jid) | Op::Remove(jid) => Some(jid),
            Op::Flush(_) => None,
        }
    }
}

/// Registers this node (a failure stops the start-up: a member whose row cannot be written
/// would be invisible to `cluster_status`), then starts the writer, the claim of what an
/// earlier run of this node left, and the dead-node watcher.
pub async fn start(server: &ServerRef, admin_address: &str) -> anyhow::Result<()> {
    let Some(c) = server.cluster() else { return Ok(()) };
    let node = c.node_name().to_owned();
    let incarnation = i64::try_from(c.started_at()).unwrap_or(i64::MAX);
    let store = server.storage.cluster.clone();
    store
        .register_node(&node, admin_address, incarnation)
        .await
        .map_err(|e| anyhow::anyhow!("registering node {node} in cluster_nodes: {e}"))?;
    let (tx, rx) = mpsc::channel(WRITER_QUEUE);
    if server
        .membership
        .set(Membership {
            tx,
            incarnation,
            leaving: Default::default(),
            admin_address: admin_address.to_owned(),
        })
        .is_err()
    {
        anyhow::bail!("cluster membership started twice");
    }
    tokio::spawn(writer(store, node.clone(), incarnation, rx));
    let events = c.member_events();
    let s = server.clone();
    server.tasks.spawn(async move {
        cleanup(&s, &node, Incarnations::AllBut(incarnation), "previous run").await;
        watch(s, events).await;
    });
    tracing::info!(what = "cluster_member_registered", incarnation);
    Ok(())
}

/// The admin API's tokens: a member also accepts the cluster token on `/cluster/…`.
pub fn admin_tokens(
    server: &ServerRef,
    admin: String,
) -> anyhow::Result<meerkat_admin::http::Tokens> {
    let cluster = match server.cluster() {
        None => None,
        Some(_) => {
            let secret = meerkat_cluster::Secret::read_file(&server.config.cluster.secret_file)
                .map_err(|e| anyhow::anyhow!("[cluster] secret_file: {e}"))?;
            Some(secret.admin_token())
        }
    };
    Ok(meerkat_admin::http::Tokens { admin, cluster })
}

/// Records a bound session (hook: after the bind).
pub async fn on_bind(server: &ServerRef, full_jid: String) {
    enqueue(server, Op::Add(full_jid)).await;
}

/// Forgets a session that unbound (hook: after the unbind). A newer session that took over
/// the same full JID here (conflict) keeps the row: its `Add` was queued before this check.
pub async fn on_unbind(server: &ServerRef, me: &crate::modules::Me) {
    if server.membership.get().is_none() {
        return;
    }
    let taken_over = server.sessions.resources(&me.bare).iter().any(|e| e.resource == me.resource);
    if !taken_over {
        enqueue(server, Op::Remove(me.full())).await;
    }
}

async fn enqueue(server: &ServerRef, op: Op) {
    let Some(m) = server.membership.get() else { return };
    match m.tx.try_send(op) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(op)) => {
            tracing::debug!(what = "cluster_rows_queue_full");
            let _ = m.tx.send(op).await;
        }
        // The writer is gone only when the runtime stops; the stopping node's final claim
        // deletes every row of this run.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Called last when the node stops gracefully: writes what is queued, then deletes the rows of
/// this run's sessions and marks the node stopped (sessions closing told their contacts
/// themselves).
pub async fn stop(server: &ServerRef) {
    let (Some(c), Some(m)) = (server.cluster(), server.membership.get()) else { return };
    let (tx, rx) = oneshot::channel();
    if m.tx.send(Op::Flush(tx)).await.is_ok() {
        let _ = tokio::time::timeout(STOP_FLUSH, rx).await;
    }
    let store = &server.storage.cluster;
    match store.claim_sessions(c.node_name(), Incarnations::Only(m.incarnation)).await {
        Ok(Some(left)) if !left.is_empty() => {
            tracing::warn!(what = "cluster_rows_left_at_stop", sessions = left.len());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(what = "cluster_stop_not_recorded", error = %e),
    }
    let recorded = if m.leaving.load(std::sync::atomic::Ordering::Relaxed) {
        store.delete_node(c.node_name()).await.map(drop)
    } else {
        store.mark_stopped(c.node_name(), m.incarnation).await
    };
    if let Err(e) = recorded {
        tracing::warn!(what = "cluster_stop_not_recorded", error = %e);
    }
}

/// `leave_cluster`: at its stop this node deletes its member row (it leaves the cluster's
/// lists) instead of being listed as stopped.
pub fn leave(server: &ServerRef) -> Result<(), meerkat_admin::AdminError> {
    let m = server.membership.get().ok_or_else(|| {
        meerkat_admin::AdminError::BadRequest("this node is not a cluster member".into())
    })?;
    m.leaving.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

async fn writer(
    store: Arc<dyn ClusterStore>,
    node: String,
    incarnation: i64,
    mut rx: mpsc::Receiver<Op>,
) {
    let mut ops = Vec::with_capacity(WRITER_BATCH);
    while rx.recv_many(&mut ops, WRITER_BATCH).await > 0 {
        if ops.len() < WRITER_BATCH && !ops.iter().any(|o| matches!(o, Op::Flush(_))) {
            tokio::time::sleep(WRITER_LINGER).await;
            while ops.len() < WRITER_BATCH {
                match rx.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
        }
        // Consecutive operations of one kind go in one statement, and kinds keep their order:
        // an unbind never overtakes its bind.
        let mut queued = ops.drain(..).peekable();
        while let Some(op) = queued.next() {
            let (add, mut jids) = match op {
                Op::Flush(done) => {
                    let _ = done.send(());
                    continue;
                }
                Op::Add(jid) => (true, vec![jid]),
                Op::Remove(jid) => (false, vec![jid]),
            };
            while let Some(jid) = queued.next_if(|o| o.same_kind(add)).and_then(Op::into_jid) {
                jids.push(jid);
            }
            let mut pause = RETRY_FIRST;
            loop {
                let result = if add {
                    store.add_sessions(&node, &jids, incarnation).await
                } else {
                    store.remove_sessions(&node, &jids).await
                };
                match result {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(what = "cluster_row_write_failed", error = %e, retry_ms = pause.as_millis() as u64);
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(RETRY_MAX);
                    }
                }
            }
        }
    }
}

/// Reacts to `NodeDown`, and sweeps every `node_timeout_ms` for member rows of nodes that are
/// not running (events lost to lag, or nodes that died before this one started).
async fn watch(server: ServerRef, mut events: broadcast::Receiver<MemberEvent>) {
    let Some(c) = server.cluster() else { return };
    let me = c.node_name().to_owned();
    let Some(m) = server.membership.get() else { return };
    let (incarnation, admin) = (m.incarnation, m.admin_address.clone());
    let period = Duration::from_millis(server.config.cluster.node_timeout_ms);
    let mut sweep = tokio::time::interval(period);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first sweep only after a full timeout: by then every running node has been heard.
    sweep.reset();
    let mut touch = tokio::time::interval(period / 2);
    touch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            event = events.recv() => match event {
                Ok(MemberEvent::NodeDown { node, started_at }) if node != me => {
                    let s = server.clone();
                    server.tasks.spawn(async move {
                        tokio::time::sleep(LEAVE_GRACE).await;
                        if !may_judge(&s, &node) {
                            return;
                        }
                        let run = Incarnations::Only(i64::try_from(started_at).unwrap_or(i64::MAX));
                        cleanup(&s, &node, run, "node down").await;
                    });
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(what = "cluster_member_events_lagged", missed = n);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = sweep.tick() => sweep_dead(&server, &me).await,
            _ = touch.tick() => match server.storage.cluster.touch_node(&me, incarnation).await {
                Ok(true) => {}
                Ok(false) => {
                    // Removed while running (or a newer run took the name): put it back.
                    if let Err(e) = server.storage.cluster.register_node(&me, &admin, incarnation).await {
                        tracing::warn!(what = "cluster_row_refresh_failed", error = %e);
                    }
                }
                Err(e) => tracing::debug!(what = "cluster_row_refresh_failed", error = %e),
            },
        }
    }
}

/// Whether this node may declare `node` dead now: it must itself be connected to NATS (a node
/// cut off from NATS hears no heartbeats and would take every other node for dead), and
/// `node` must not have come back meanwhile.
fn may_judge(server: &ServerRef, node: &str) -> bool {
    let Some(c) = server.cluster() else { return false };
    let back = c.members().iter().any(|m| m.node == node && m.state == MemberState::Running);
    c.is_connected() && !back
}

/// Claims the sessions of member rows whose node is neither running nor already stopped.
async fn sweep_dead(server: &ServerRef, me: &str) {
    let Some(c) = server.cluster() else { return };
    let running: HashSet<String> = c
        .members()
        .into_iter()
        .filter(|m| m.state == MemberState::Running)
        .map(|m| m.node)
        .collect();
    let rows = match server.storage.cluster.nodes().await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!(what = "cluster_sweep_failed", error = %e);
            return;
        }
    };
    if !c.is_connected() {
        return;
    }
    let timeout_s = i64::try_from(server.config.cluster.node_timeout_ms / 1000).unwrap_or(0) + 1;
    let now = chrono::Utc::now().timestamp();
    for row in rows {
        // Live nodes refresh their row every half timeout: a fresh row is a node not yet heard
        // (just started) or heard only through PostgreSQL (a NATS problem), not a dead one.
        let fresh = now - row.last_seen <= timeout_s;
        if row.name == me || row.left_at.is_some() || running.contains(&row.name) || fresh {
            continue;
        }
        cleanup(server, &row.name, Incarnations::Only(row.incarnation), "sweep").await;
    }
}

/// Claims the session rows of `node`'s `which` runs and, if this node won them, sends
/// unavailable presence on their behalf. Returns how many sessions were cleaned up here.
pub async fn cleanup(server: &ServerRef, node: &str, which: Incarnations, why: &str) -> usize {
    let jids = match server.storage.cluster.claim_sessions(node, which).await {
        Ok(Some(jids)) => jids,
        Ok(None) => {
            tracing::debug!(what = "cluster_cleanup_elsewhere", %node, why);
            return 0;
        }
        Err(e) => {
            // Left for the next sweep (or the node's own next start).
            tracing::warn!(what = "cluster_cleanup_failed", %node, why, error = %e);
            return 0;
        }
    };
    if !jids.is_empty() {
        tracing::info!(what = "cluster_cleanup", %node, why, sessions = jids.len());
    }
    for jid in &jids {
        unavailable_for(server, jid).await;
    }
    jids.len()
}

/// Unavailable presence from `full_jid` to each contact that had its presence, and to the
/// account's own resources on the surviving nodes (RFC 6121 §4.5.2).
async fn unavailable_for(server: &ServerRef, full_jid: &str) {
    let Some(addr) = Addr::parse(full_jid) else { return };
    let Some(user) = addr.node.as_deref() else { return };
    let unavailable = |to: String| {
        Element::new("presence", meerkat_proto::ns::CLIENT)
            .with_attr("from", full_jid)
            .with_attr("type", "unavailable")
            .with_attr("to", to)
    };
    crate::router::route(server, unavailable(format!("{user}@{}", addr.domain))).await;
    let items = match server.storage.roster.get_items(&addr.domain, user).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(what = "cluster_cleanup_roster_failed", jid = %full_jid, error = %e);
            return;
        }
    };
    for item in items {
        if !matches!(item.subscription, Subscription::From | Subscription::Both) {
            continue;
        }
        let local = Addr::parse(&item.jid).is_some_and(|a| server.serves(&a.domain));
        if !local {
            continue;
        }
        crate::router::route(server, unavailable(item.jid)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meerkat_storage::{ClusterNodeRow, Result, StorageError};
    use std::sync::Mutex;

    /// Records session-row writes; the first `fail` calls fail as a database outage would.
    #[derive(Default)]
    struct Flaky {
        fail: Mutex<usize>,
        log: Mutex<Vec<String>>,
    }

    impl Flaky {
        fn call(&self, what: String) -> Result<()> {
            let mut fail = self.fail.lock().expect("lock");
            if *fail > 0 {
                *fail -= 1;
                return Err(StorageError::Backend("connection refused".into()));
            }
            self.log.lock().expect("lock").push(what);
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl ClusterStore for Flaky {
        async fn register_node(&self, _: &str, _: &str, _: i64) -> Result<()> {
            Ok(())
        }
        async fn touch_node(&self, _: &str, _: i64) -> Result<bool> {
            Ok(true)
        }
        async fn nodes(&self) -> Result<Vec<ClusterNodeRow>> {
            Ok(vec![])
        }
        async fn mark_stopped(&self, _: &str, _: i64) -> Result<()> {
            Ok(())
        }
        async fn delete_node(&self, _: &str) -> Result<bool> {
            Ok(true)
        }
        async fn add_sessions(&self, node: &str, jids: &[String], run: i64) -> Result<()> {
            self.call(format!("add {node} {} {run}", jids.join(",")))
        }
        async fn remove_sessions(&self, node: &str, jids: &[String]) -> Result<()> {
            self.call(format!("remove {node} {}", jids.join(",")))
        }
        async fn sessions(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec![])
        }
        async fn claim_sessions(&self, _: &str, _: Incarnations) -> Result<Option<Vec<String>>> {
            Ok(Some(vec![]))
        }
    }

    /// Writes survive a database outage (retried until they succeed) and keep their order, so
    /// an unbind never overtakes its bind; a flush answers once everything before it is written.
    #[tokio::test]
    async fn writer_retries_in_order_and_flushes() {
        let store = Arc::new(Flaky { fail: Mutex::new(3), ..Default::default() });
        let (tx, rx) = mpsc::channel(8);
        let task = tokio::spawn(writer(store.clone(), "n1".into(), 7, rx));
        tx.send(Op::Add("a@h/1".into())).await.expect("send");
        tx.send(Op::Remove("a@h/1".into())).await.expect("send");
        tx.send(Op::Add("b@h/2".into())).await.expect("send");
        let (done, flushed) = oneshot::channel();
        tx.send(Op::Flush(done)).await.expect("send");
        tokio::time::timeout(Duration::from_secs(10), flushed)
            .await
            .expect("flushed in time")
            .expect("flush answered");
        assert_eq!(
            *store.log.lock().expect("lock"),
            vec!["add n1 a@h/1 7", "remove n1 a@h/1", "add n1 b@h/2 7"]
        );
        drop(tx);
        task.await.expect("writer ends when its queue closes");
    }

    /// Operations queued while the writer was busy are written a few statements at a time.
    #[tokio::test]
    async fn writer_batches_consecutive_operations_of_one_kind() {
        let store = Arc::new(Flaky::default());
        let (tx, rx) = mpsc::channel(8);
        for op in [Op::Add("x@h/1".into()), Op::Add("y@h/1".into()), Op::Remove("x@h/1".into())] {
            tx.send(op).await.expect("send");
        }
        tx.send(Op::Remove("y@h/1".into())).await.expect("send");
        drop(tx);
        writer(store.clone(), "n1".into(), 7, rx).await;
        assert_eq!(
            *store.log.lock().expect("lock"),
            vec!["add n1 x@h/1,y@h/1 7", "remove n1 x@h/1,y@h/1"]
        );
    }
}
