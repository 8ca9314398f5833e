//! Who belongs to a node of a pubsub service (XEP-0060 §4.1): explicit subscriptions and
//! affiliations, per node, deleted with their node.
//!
//! PEP needs neither (its subscriptions are implied by presence and caps, its only owner is
//! the account); the `pubsub.<domain>` service uses both. JIDs are stored as given (bare or
//! full, normalised by the caller); states and affiliations as their XEP-0060 names.

use crate::Result;

/// An entity's relation to one node: `(jid or node, state or affiliation)`.
pub type Membership = (String, String);

/// Subscriptions and affiliations of pubsub nodes.
#[async_trait::async_trait]
pub trait PubsubMemberStore: Send + Sync {
    /// Sets `jid`'s subscription to a node (`subscribed`, `pending`, ...), creating it unless
    /// the node already has `max_per_node` subscriptions ([`crate::StorageError::LimitReached`]).
    /// [`crate::StorageError::NotFound`] when the node does not exist.
    async fn set_subscription(
        &self,
        service: &str,
        node: &str,
        jid: &str,
        state: &str,
        max_per_node: usize,
    ) -> Result<()>;
    /// Removes a subscription; false when there was none.
    async fn remove_subscription(&self, service: &str, node: &str, jid: &str) -> Result<bool>;
    /// The subscriptions of a node, `(jid, state)` sorted by JID.
    async fn node_subscriptions(&self, service: &str, node: &str) -> Result<Vec<Membership>>;
    /// The subscriptions of JIDs whose bare form is `bare` (the bare JID or any full JID under
    /// it) in a service: `(node, jid, state)` sorted by node then JID.
    async fn subscriptions_of(
        &self,
        service: &str,
        bare: &str,
    ) -> Result<Vec<(String, String, String)>>;
    /// Sets `jid`'s affiliation to a node (`owner`, `publisher`, `member`, `outcast`); `none`
    /// removes it. [`crate::StorageError::NotFound`] when the node does not exist.
    async fn set_affiliation(
        &self,
        service: &str,
        node: &str,
        jid: &str,
        affiliation: &str,
    ) -> Result<()>;
    /// The affiliations of a node, `(jid, affiliation)` sorted by JID.
    async fn node_affiliations(&self, service: &str, node: &str) -> Result<Vec<Membership>>;
    /// The affiliations of `jid` in a service, `(node, affiliation)` sorted by node.
    async fn affiliations_of(&self, service: &str, jid: &str) -> Result<Vec<Membership>>;
}
