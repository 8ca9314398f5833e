//! Blocking Command (XEP-0191): the JIDs a user blocks.

use crate::Result;

/// Blocklists of local users. Items are normalised JID strings (bare, full or domain).
#[async_trait::async_trait]
pub trait BlockingStore: Send + Sync {
    /// The user's blocklist, sorted.
    async fn get_blocklist(&self, host: &str, username: &str) -> Result<Vec<String>>;
    /// Adds `jids` (duplicates of stored items are ignored). Fails with
    /// [`crate::StorageError::LimitReached`] and stores nothing when the list would grow past
    /// `max_items`.
    async fn block(
        &self,
        host: &str,
        username: &str,
        jids: &[String],
        max_items: usize,
    ) -> Result<()>;
    /// Removes `jids` (absent ones are ignored).
    async fn unblock(&self, host: &str, username: &str, jids: &[String]) -> Result<()>;
    /// Empties the blocklist.
    async fn unblock_all(&self, host: &str, username: &str) -> Result<()>;
}
