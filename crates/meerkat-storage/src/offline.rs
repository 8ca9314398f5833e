//! Offline messages (XEP-0160).

use crate::Result;

/// A message stored for a user who was offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Storage id, increasing in arrival order.
    pub id: i64,
    /// Sender's full JID as stamped by the server.
    pub from: String,
    /// Arrival time, milliseconds since the Unix epoch (for the XEP-0203 delay stamp).
    pub stored_at_ms: i64,
    /// The stanza as XML.
    pub stanza: String,
}

/// Offline message queues of local users.
#[async_trait::async_trait]
pub trait OfflineStore: Send + Sync {
    /// Appends a message unless the user already has `max_messages`
    /// ([`crate::StorageError::LimitReached`], nothing stored). Returns its id.
    async fn store(
        &self,
        host: &str,
        username: &str,
        from: &str,
        stored_at_ms: i64,
        stanza: &str,
        max_messages: usize,
    ) -> Result<i64>;
    /// All queued messages of a user in arrival order, without removing them.
    async fn fetch(&self, host: &str, username: &str) -> Result<Vec<OfflineMessage>>;
    /// Removes the messages with id <= `up_to_id` (call after they were handed to a session, so
    /// a crash between fetch and delivery loses nothing).
    async fn remove_up_to(&self, host: &str, username: &str, up_to_id: i64) -> Result<()>;
    /// Number of queued messages.
    async fn count(&self, host: &str, username: &str) -> Result<u64>;
}
