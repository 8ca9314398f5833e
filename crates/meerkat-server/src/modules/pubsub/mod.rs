//! Publish-subscribe core (XEP-0060 subset): nodes, items, configuration, access checks,
//! publish with publish-options, retract, items retrieval, delete and configure, on the
//! [`meerkat_storage::PubsubStore`] with an in-memory snapshot cache.
//!
//! Services are named by a string (an account's bare JID for PEP, a domain for a future
//! `pubsub.<domain>` service). This layer knows nothing of rosters or sessions: callers
//! compute the requester's [`access::Relation`] and the notification targets (PEP does it from
//! the owner's roster and the contacts' caps, see `modules::pep`).
//!
//! Not implemented: explicit subscriptions, affiliations management, whitelists beyond the
//! owner, collections, purge, pending/authorize access.

pub mod access;
pub mod cache;
pub mod config;
pub mod error;
pub mod item;

use cache::{NodeCache, NodeSnapshot, ServiceSnapshot};
use config::{Limits, NodeConfig};
use error::PubsubError;
use meerkat_proto::error::{ErrorType, StanzaErrorCondition as SEC};
use meerkat_storage::{PubsubItem, Storage, StorageError};
use meerkat_xml::Element;
use std::sync::Arc;

/// Longest node name and item id accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1023;

/// Result of a publication.
#[derive(Debug)]
pub struct Published {
    /// The node's configuration after publishing (created or existing).
    pub config: NodeConfig,
    /// The item as stored, `<item id publisher>payload</item>` in the pubsub namespace.
    pub item: Arc<Element>,
    /// Ids of older items removed to respect `max_items`.
    pub trimmed: Vec<String>,
}

/// The core with its cache and bounds.
pub struct PubsubCore {
    /// Snapshots of services.
    pub cache: NodeCache,
    /// Bounds.
    pub limits: Limits,
}

fn check_name(name: &str) -> Result<(), PubsubError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(
            PubsubError::new(SEC::BadRequest).text("node name or item id empty or too long")
        );
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A fresh item id (128 random bits, hex).
fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl PubsubCore {
    /// A core with these bounds and a cache of `cache_services` services.
    pub fn new(limits: Limits, cache_services: usize) -> Self {
        PubsubCore { cache: NodeCache::new(cache_services), limits }
    }

    /// Snapshot of a service (cached).
    pub async fn service(
        &self,
        storage: &Storage,
        service: &str,
    ) -> Result<Arc<ServiceSnapshot>, PubsubError> {
        self.cache.get(storage, service, &self.limits).await
    }

    /// One node, `item-not-found` when absent.
    pub async fn node(
        &self,
        storage: &Storage,
        service: &str,
        node: &str,
    ) -> Result<NodeSnapshot, PubsubError> {
        self.service(storage, service)
            .await?
            .nodes
            .get(node)
            .cloned()
            .ok_or_else(PubsubError::not_found)
    }

    /// Creates a node (XEP-0060 §8.1); `conflict` if it exists, `resource-constraint` at the
    /// node limit.
    pub async fn create(
        &self,
        storage: &Storage,
        service: &str,
        node: &str,
        config: &NodeConfig,
    ) -> Result<(), PubsubError> {
        check_name(node)?;
        let r = storage
            .pubsub
            .create_node(service, node, &config.to_pairs(), self.limits.max_nodes)
            .await;
        self.cache.invalidate(service);
        match r {
            Ok(()) => Ok(()),
            Err(StorageError::AlreadyExists) => Err(PubsubError::new(SEC::Conflict)),
            Err(StorageError::LimitReached { .. }) => Err(too_many_nodes()),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes `item` (the request's `<item/>`, id optional) to `node`, creating the node
    /// with `options` as its configuration when absent, or checking `options` as
    /// preconditions when present (XEP-0060 §7.1, §7.1.5).
    pub async fn publish(
        &self,
        storage: &Storage,
        service: &str,
        node: &str,
        publisher: &str,
        item: Option<&Element>,
        options: Option<&Element>,
    ) -> Result<Published, PubsubError> {
        check_name(node)?;
        let payloads: Vec<&Element> = item.map(|i| i.children().collect()).unwrap_or_default();
        let payload = match payloads.as_slice() {
            [one] => *one,
            [] => {
                return Err(PubsubError::app(SEC::BadRequest, "item-required")
                    .text("an item with one payload is required"))
            }
            _ => return Err(PubsubError::app(SEC::BadRequest, "invalid-payload")),
        };
        let id = match item.and_then(|i| i.attr("id")) {
            Some(id) => {
                check_name(id)?;
                id.to_owned()
            }
            None => new_id(),
        };
        let xml = payload.to_xml();
        if xml.len() > self.limits.max_item_bytes {
            return Err(
                PubsubError::app(SEC::NotAcceptable, "payload-too-big").typ(ErrorType::Modify)
            );
        }
        let existing =
            self.service(storage, service).await?.nodes.get(node).map(|n| n.config.clone());
        let config = match existing {
            Some(config) => {
                if let Some(x) = options {
                    config.check_preconditions(x, &self.limits)?;
                }
                config
            }
            None => {
                let mut config = NodeConfig::pep_default();
                if let Some(x) = options {
                    config.apply_form(x, &self.limits)?;
                }
                match self.create(storage, service, node, &config).await {
                    Ok(()) => config,
                    // Created concurrently: use (and check against) the stored configuration.
                    Err(e) if e.error.condition == SEC::Conflict => {
                        let stored = storage
                            .pubsub
                            .get_node(service, node)
                            .await?
                            .map(|n| NodeConfig::from_pairs(&n.config, &self.limits))
                            .ok_or_else(PubsubError::internal)?;
                        if let Some(x) = options {
                            stored.check_preconditions(x, &self.limits)?;
                        }
                        stored
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let stored = PubsubItem {
            id: id.clone(),
            publisher: publisher.to_owned(),
            published_at_ms: now_ms(),
            payload: xml,
        };
        let trimmed =
            storage.pubsub.publish_item(service, node, &stored, config.kept_items()).await;
        self.cache.invalidate(service);
        let trimmed = match trimmed {
            Ok(t) => t,
            Err(StorageError::NotFound) => return Err(PubsubError::not_found()),
            Err(e) => return Err(e.into()),
        };
        let item = Arc::new(item::item_element(&id, publisher, payload.clone()));
        Ok(Published { config, item, trimmed })
    }

    /// Retracts one item (XEP-0060 §7.2); returns the node's configuration.
    pub async fn retract(
        &self,
        storage: &Storage,
        service: &str,
        node: &str,
        id: &str,
    ) -> Result<NodeConfig, PubsubError> {
        let n = self.node(storage, service, node).await?;
        let removed = storage.pubsub.retract_item(service, node, id).await?;
        self.cache.invalidate(service);
        if !removed {
            return Err(PubsubError::not_found());
        }
        Ok(n.config)
    }

    /// Items of a node (XEP-0060 §6.5): the given ids, or the most recent `max`, or all.
    /// Access must have been checked by the caller.
    pub async fn items(
        &self,
        storage: &Storage,
        service: &str,
        node: &str,
        max: Option<usize>,
        ids: &[String],
    ) -> Result<Vec<Element>, PubsubError> {
        let mut out = Vec::new();
        if ids.is_empty() {
            let max = max.map(|m| m.min(self.limits.max_items));
            for i in storage.pubsub.get_items(service, node, max).await? {
                out.extend(item::parse_item(&i));
            }
        } else {
            for id in ids.iter().take(self.limits.max_items) {
                if let Some(i) = storage.pubsub.get_item(service, node, id).await? {
                    out.extend(item::parse_item(&i));
                }
            }
        }
        Ok(out)
    }

    /// Deletes a node (XEP-0060 §8.4); returns its last configuration.
    pub async fn delete(
        &self,
        storage: &Storage,
        service: &str,
        node: &str,
    ) -> Result<NodeConfig, PubsubError> {
        let n = self.node(storage, service, node).await?;
        let deleted = storage.pubsub.delete_node(service, node).await?;
        self.cache.invalidate(service);
        if !deleted {
            return Err(PubsubError::not_found());
        }
        Ok(n.config)
    }

    /// Applies a submitted configuration form (XEP-0060 §8.2.3); older items beyond a lowered
    /// `max_items` go at the next publication.
    pub async fn configure(
        &self,
        storage: &Storage,
        service: &str,
        node: &str,
        form: &Element,
    ) -> Result<NodeConfig, PubsubError> {
        let mut config = self.node(storage, service, node).await?.config;
        config.apply_form(form, &self.limits)?;
        let r = storage.pubsub.set_node_config(service, node, &config.to_pairs()).await;
        self.cache.invalidate(service);
        match r {
            Ok(()) => Ok(config),
            Err(StorageError::NotFound) => Err(PubsubError::not_found()),
            Err(e) => Err(e.into()),
        }
    }
}

fn too_many_nodes() -> PubsubError {
    PubsubError::new(SEC::ResourceConstraint).text("too many nodes for this account")
}
