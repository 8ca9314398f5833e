//! Stanzas for accounts held by other nodes: the routing decision ([`plan`]) and the outbox,
//! one task that publishes them in order and acts on each acknowledgement without making the
//! sender's session wait for it.

use super::view::Remote;
use super::workers::{Work, Workers};
use super::{ClusterNode, ClusterRef};
use crate::addr::Addr;
use crate::router::Origin;
use crate::server::ServerRef;
use crate::session::SessionEntry;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use meerkat_cluster::{ClusterError, Delivery};
use meerkat_proto::ns;
use meerkat_xml::Element;
use std::time::Duration;
use tokio::sync::mpsc;

/// Stanzas waiting for the outbox task; when full, senders wait (back-pressure on the
/// sessions that send to other nodes faster than NATS takes them).
const QUEUE: usize = 1024;
/// Longest a sender waits for room in the outbox. Bounded because the tasks that route stanzas
/// from the cluster also feed the outbox (bounces, probe answers) while the outbox feeds them
/// (fallbacks): an unbounded wait could close that loop into a deadlock under overload.
const SEND_WAIT: Duration = Duration::from_secs(1);
/// Stanzas published and not acknowledged yet; beyond it the outbox stops taking new ones
/// until acknowledgements (or `request_timeout_ms`) come. With the queue, at most about
/// `(QUEUE + MAX_IN_FLIGHT) × 2 × max_stanza_bytes` held (serialised and parsed forms).
const MAX_IN_FLIGHT: usize = 4096;

/// What to do when no node takes a stanza.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// No local resource: the single-node "no session" rules, here.
    Sole,
    /// This node holds resources of the account too and has handled its own part: forget the
    /// stale view and, unless this node already applied the fallback, apply it now.
    Shared { elected: bool },
    /// Nothing to do when nobody takes it: a presence probe sent at login (nobody holds the
    /// contact, nobody answers), a copy for the user's own resources on other nodes.
    NoFallback,
    /// A bare-JID message relayed by the elected node: if the other holders are gone, handle
    /// it here as if alone (it is archived already).
    Relay,
}

struct Job {
    to: Addr,
    xml: Bytes,
    stanza: Element,
    mode: Mode,
}

impl Job {
    fn new(stanza: Element, to: &Addr, mode: Mode) -> Job {
        let mut xml = Vec::with_capacity(256);
        stanza.write_to(&mut xml, ns::CLIENT);
        Job { to: to.clone(), xml: Bytes::from(xml), stanza, mode }
    }
}

/// Sending end of the outbox.
pub(crate) struct Outbox {
    tx: mpsc::Sender<Job>,
}

/// Receiving end, for [`spawn`].
pub struct OutboxRx(mpsc::Receiver<Job>);

impl Outbox {
    pub fn new() -> (Outbox, OutboxRx) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Outbox { tx }, OutboxRx(rx))
    }

    /// Queues a stanza without waiting; gives it back when the outbox is full or closed.
    pub(crate) fn try_send(&self, stanza: Element, to: &Addr, mode: Mode) -> Result<(), Element> {
        let job = Job::new(stanza, to, mode);
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j.stanza,
        })
    }

    /// Queues a stanza for the cluster, waiting at most [`SEND_WAIT`] for room; gives it back
    /// when the node is stopping or the outbox stayed full (the caller then applies the local
    /// rules: offline storage rather than an unbounded wait).
    pub(crate) async fn send(&self, stanza: Element, to: &Addr, mode: Mode) -> Result<(), Element> {
        let permit = match tokio::time::timeout(SEND_WAIT, self.tx.reserve()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(stanza),
            Err(_) => {
                tracing::warn!(what = "cluster_outbox_full", to = %to.full());
                return Err(stanza);
            }
        };
        permit.send(Job::new(stanza, to, mode));
        Ok(())
    }
}

/// Where a stanza for a local-domain account goes in cluster mode: `None` when it was handed
/// to the outbox (no local resource: the holder, if any, handles it entirely), else the
/// stanza back with what other nodes hold, for the local rules. On `Origin::Local` with
/// resources here and on other nodes, a copy is also published for the other nodes' part.
pub(crate) async fn plan(
    c: &ClusterNode,
    stanza: Element,
    to: &Addr,
    bare: &str,
    sessions: &[SessionEntry],
    origin: Origin,
) -> Option<(Element, Option<Remote>)> {
    match origin {
        Origin::Fallback => return Some((stanza, None)),
        Origin::Cluster => return Some((stanza, c.views.remote(bare, c.node_name()))),
        Origin::Local => {}
    }
    // An IQ to the account itself is answered from shared storage by any node (vCard,
    // roster of others, PEP, ...): no hop needed.
    if stanza.name == "iq" && to.resource.is_none() {
        return Some((stanza, None));
    }
    if sessions.is_empty() {
        let probe = stanza.name == "presence" && stanza.attr("type") == Some("probe");
        let mode = if probe { Mode::NoFallback } else { Mode::Sole };
        return match c.outbox.send(stanza, to, mode).await {
            Ok(()) => None,
            Err(stanza) => Some((stanza, None)),
        };
    }
    let Some(remote) = c.views.remote(bare, c.node_name()) else {
        return Some((stanza, None));
    };
    // A bare-JID message is the elected node's: it relays it to the others after archiving.
    if stanza.name == "message" && to.resource.is_none() {
        if remote.elected {
            return Some((stanza, Some(remote)));
        }
        return match c.outbox.send(stanza, to, Mode::Shared { elected: false }).await {
            Ok(()) => None,
            Err(stanza) => Some((stanza, None)),
        };
    }
    let local_target =
        to.resource.as_ref().is_some_and(|r| sessions.iter().any(|e| &e.resource == r));
    // A local full JID: delivered here (received carbons for the other nodes' resources go
    // from here too, stamped, see `carbons::fork_received_to_other_nodes`).
    if local_target {
        return Some((stanza, Some(remote)));
    }
    let mode = Mode::Shared { elected: remote.elected };
    match c.outbox.send(stanza.clone(), to, mode).await {
        Ok(()) => Some((stanza, Some(remote))),
        // Stopping: handle it as if alone.
        Err(stanza) => Some((stanza, None)),
    }
}

/// Starts the outbox task.
pub fn spawn(server: &ServerRef, cluster: &ClusterRef, rx: OutboxRx, workers: Workers) {
    let stop = server.shutdown.clone();
    // `send_stanza` bounds the wait for the acknowledgement, not the hand-over to the NATS
    // client, which waits while a long outage fills the client's buffer: bound both, so the
    // outbox (and the sessions behind it) never hangs.
    let limit = Duration::from_millis(server.config.cluster.request_timeout_ms)
        .saturating_add(Duration::from_secs(1));
    server.tasks.spawn(run(cluster.clone(), rx.0, workers, stop, limit));
}

async fn run(
    cluster: ClusterRef,
    mut rx: mpsc::Receiver<Job>,
    workers: Workers,
    stop: tokio_util::sync::CancellationToken,
    limit: Duration,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut stopping = false;
    loop {
        tokio::select! {
            // At shutdown, later stanzas are handled locally by their senders (the queue is
            // closed); the queued ones still go out, and every acknowledgement is awaited.
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                rx.close();
            }
            job = rx.recv(), if in_flight.len() < MAX_IN_FLIGHT => {
                let Some(job) = job else { break };
                let t = cluster.transport().clone();
                // Pushed futures are first polled in push order and `send_stanza` writes to
                // the NATS connection at its first poll: stanzas leave in the order sent.
                in_flight.push(async move {
                    let to = job.to.full();
                    let send = t.send_stanza(&to, job.xml.clone());
                    let d = tokio::time::timeout(limit, send).await.unwrap_or(Ok(Delivery::TimedOut));
                    (job, d)
                });
            }
            Some((job, d)) = in_flight.next(), if !in_flight.is_empty() => {
                settle(&cluster, &workers, job, d).await;
            }
        }
    }
    while let Some((job, d)) = in_flight.next().await {
        settle(&cluster, &workers, job, d).await;
    }
}

async fn settle(
    cluster: &ClusterNode,
    workers: &Workers,
    job: Job,
    d: Result<Delivery, ClusterError>,
) {
    let m = crate::metrics::get();
    let why = match d {
        Ok(Delivery::Delivered { .. }) => {
            m.cluster_sent.increment(1);
            return;
        }
        Ok(Delivery::NoResponders) => "no_responders",
        Ok(Delivery::TimedOut) => "timed_out",
        Ok(Delivery::Refused { .. }) => "refused",
        Err(e) => {
            tracing::warn!(what = "cluster_send_failed", error = %e);
            "error"
        }
    };
    tracing::debug!(what = "cluster_not_taken", to = %job.to.full(), why);
    let run_fallback = match job.mode {
        Mode::Sole => true,
        Mode::NoFallback => false,
        Mode::Shared { elected } => {
            cluster.views.clear_remote(&job.to.bare());
            !elected
        }
        Mode::Relay => {
            cluster.views.clear_remote(&job.to.bare());
            true
        }
    };
    if run_fallback {
        m.cluster_fallbacks.increment(1);
        let work = Work { stanza: job.stanza, to: job.to, origin: Origin::Fallback };
        if !workers.send(work).await {
            tracing::warn!(what = "cluster_fallback_dropped", reason = "node stopping");
        }
    }
}
