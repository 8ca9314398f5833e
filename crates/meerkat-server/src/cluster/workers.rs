//! The tasks that route stanzas for the cluster: those other nodes sent here, and those no
//! other node took (offline fallback). Sharded by recipient, so stanzas to one account keep
//! their order (RFC 6120 §10.1) while different accounts proceed in parallel.

use crate::addr::Addr;
use crate::router::Origin;
use crate::server::ServerRef;
use meerkat_xml::Element;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use tokio::sync::mpsc;

/// Worker tasks.
const SHARDS: usize = 4;
/// Stanzas waiting per worker. When full, the inbound reader waits, the transport's inbound
/// queue fills and further stanzas are refused (their senders store them offline); the outbox
/// waits too (back-pressure up to the senders' sessions). Worst case about
/// `SHARDS × QUEUE × max_stanza_bytes` of stanzas.
const QUEUE: usize = 256;

pub(crate) struct Work {
    pub stanza: Element,
    pub to: Addr,
    pub origin: Origin,
}

/// Senders to the worker tasks.
#[derive(Clone)]
pub(crate) struct Workers {
    shards: Vec<mpsc::Sender<Work>>,
}

impl Workers {
    /// Starts the workers.
    pub fn spawn(server: &ServerRef) -> Workers {
        let shards = (0..SHARDS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                server.tasks.spawn(run(server.clone(), rx));
                tx
            })
            .collect();
        Workers { shards }
    }

    /// Queues a stanza, waiting while the recipient's worker is busy. False when the node is
    /// stopping.
    pub async fn send(&self, work: Work) -> bool {
        let key = work.to.bare();
        let i = (BuildHasherDefault::<DefaultHasher>::default().hash_one(key) as usize) % SHARDS;
        match self.shards.get(i) {
            Some(tx) => tx.send(work).await.is_ok(),
            None => false,
        }
    }
}

async fn run(server: ServerRef, mut rx: mpsc::Receiver<Work>) {
    while let Some(Work { stanza, to, origin }) = rx.recv().await {
        // A MUC room homed here, published to by another node (components/muc/cluster.rs).
        if let Some(component) = server.components.get(&to.domain).cloned() {
            crate::components::route(&server, component, stanza, to).await;
            continue;
        }
        crate::router::route_local_from(&server, stanza, to, origin).await;
    }
}
