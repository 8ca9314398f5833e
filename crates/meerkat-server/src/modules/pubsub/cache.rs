//! In-memory snapshots of services (node configurations and last items), so presence-driven
//! last-item sending and disco do not query storage each time.
//!
//! Writers change storage first, then [`NodeCache::invalidate`]; a reader that loaded from
//! storage inserts its snapshot only if no invalidation happened meanwhile (a generation
//! counter), so a stale snapshot never outlives a write. Bounded by entry count: when full,
//! an arbitrary entry is evicted (cheap, and every entry reloads on demand).
//!
//! A capacity of 0 turns caching off. Cluster members use that: a write on another node
//! invalidates nothing here, and telling every node of every write would grow each node's
//! traffic with the cluster, so they read the shared storage instead.

use super::config::{Limits, NodeConfig};
use super::error::PubsubError;
use super::item::parse_item;
use meerkat_storage::Storage;
use meerkat_xml::Element;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// One node as cached.
#[derive(Debug, Clone)]
pub struct NodeSnapshot {
    /// Configuration.
    pub config: NodeConfig,
    /// The newest `<item/>` (with id and payload), if any.
    pub last: Option<Arc<Element>>,
}

/// Every node of a service.
#[derive(Debug, Default)]
pub struct ServiceSnapshot {
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeSnapshot>,
}

/// The cache.
pub struct NodeCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Arc<ServiceSnapshot>>,
    generation: u64,
}

impl NodeCache {
    /// A cache of at most `capacity` services (0: no caching).
    pub fn new(capacity: usize) -> Self {
        NodeCache { inner: Mutex::new(Inner::default()), capacity }
    }

    /// The snapshot of `service`, loaded from storage when not cached.
    pub async fn get(
        &self,
        storage: &Storage,
        service: &str,
        limits: &Limits,
    ) -> Result<Arc<ServiceSnapshot>, PubsubError> {
        let generation = {
            let inner = self.inner.lock().map_err(|_| PubsubError::internal())?;
            if let Some(s) = inner.map.get(service) {
                return Ok(s.clone());
            }
            inner.generation
        };
        let mut snap = ServiceSnapshot::default();
        for n in storage.pubsub.list_nodes(service).await? {
            let config = NodeConfig::from_pairs(&n.config, limits);
            let last = storage
                .pubsub
                .get_items(service, &n.node, Some(1))
                .await?
                .pop()
                .and_then(|i| parse_item(&i))
                .map(Arc::new);
            snap.nodes.insert(n.node, NodeSnapshot { config, last });
        }
        let snap = Arc::new(snap);
        let mut inner = self.inner.lock().map_err(|_| PubsubError::internal())?;
        if inner.generation == generation && self.capacity > 0 {
            if inner.map.len() >= self.capacity {
                if let Some(k) = inner.map.keys().next().cloned() {
                    inner.map.remove(&k);
                }
            }
            inner.map.insert(service.to_owned(), snap.clone());
        }
        Ok(snap)
    }

    /// Forgets `service` after a write.
    pub fn invalidate(&self, service: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.generation = inner.generation.wrapping_add(1);
            inner.map.remove(service);
        }
    }
}
