//! Publish-subscribe nodes and items (XEP-0060), shared by PEP (XEP-0163, one service per
//! account, named by its bare JID) and a pubsub service (named by its domain).
//!
//! A node is keyed by `(service, node)`. Its configuration is kept as the ordered
//! `(field var, value)` pairs of its XEP-0060 configuration form (a multi-value field gives
//! several pairs), so the store needs no knowledge of which options exist. Items keep their
//! publication order: republishing an id replaces the item and makes it the newest.

use crate::Result;

/// A node of a pubsub service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubsubNode {
    /// The service: an account's bare JID for PEP, a domain for a pubsub service.
    pub service: String,
    /// The node name.
    pub node: String,
    /// Configuration as `(var, value)` pairs, in the order given.
    pub config: Vec<(String, String)>,
}

/// One published item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubsubItem {
    /// Item id, unique within its node.
    pub id: String,
    /// Bare JID of the publisher.
    pub publisher: String,
    /// Publication time, milliseconds since the Unix epoch.
    pub published_at_ms: i64,
    /// The `<item/>` payload as XML.
    pub payload: String,
}

/// Nodes and items of pubsub services.
#[async_trait::async_trait]
pub trait PubsubStore: Send + Sync {
    /// Creates a node unless the service already has `max_nodes`
    /// ([`crate::StorageError::LimitReached`]) or the node exists
    /// ([`crate::StorageError::AlreadyExists`]).
    async fn create_node(
        &self,
        service: &str,
        node: &str,
        config: &[(String, String)],
        max_nodes: usize,
    ) -> Result<()>;

    /// One node, `None` when absent.
    async fn get_node(&self, service: &str, node: &str) -> Result<Option<PubsubNode>>;

    /// Every node of a service, sorted by name.
    async fn list_nodes(&self, service: &str) -> Result<Vec<PubsubNode>>;

    /// Replaces a node's configuration ([`crate::StorageError::NotFound`] when absent).
    async fn set_node_config(
        &self,
        service: &str,
        node: &str,
        config: &[(String, String)],
    ) -> Result<()>;

    /// Deletes a node and its items; false when it did not exist.
    async fn delete_node(&self, service: &str, node: &str) -> Result<bool>;

    /// Deletes every node of a service (an account being removed).
    async fn delete_service(&self, service: &str) -> Result<()>;

    /// Stores an item as the newest of its node (replacing one with the same id), then removes
    /// the oldest items beyond `max_items` and returns their ids, oldest first.
    /// [`crate::StorageError::NotFound`] when the node does not exist.
    async fn publish_item(
        &self,
        service: &str,
        node: &str,
        item: &PubsubItem,
        max_items: usize,
    ) -> Result<Vec<String>>;

    /// Removes one item; false when it did not exist.
    async fn retract_item(&self, service: &str, node: &str, id: &str) -> Result<bool>;

    /// The most recent `max` items (all when `None`), oldest first.
    async fn get_items(
        &self,
        service: &str,
        node: &str,
        max: Option<usize>,
    ) -> Result<Vec<PubsubItem>>;

    /// One item by id.
    async fn get_item(&self, service: &str, node: &str, id: &str) -> Result<Option<PubsubItem>>;
}
