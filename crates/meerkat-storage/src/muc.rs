//! Multi-User Chat rooms (XEP-0045) that outlive their occupants: persistent rooms with their
//! configuration, subject and affiliation lists, keyed by the service domain
//! (`conference.example.org`) and the room's localpart.
//!
//! Room archives (XEP-0313) live in the message archive ([`crate::ArchiveStore`]) under the
//! owner `(service, room)`; [`MucStore::replace_archived`] writes the tombstone of a message
//! withdrawn by a moderator (XEP-0425).

use crate::Result;

/// One stored room.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredRoom {
    /// The service domain, e.g. `conference.example.org`.
    pub service: String,
    /// The room's localpart (normalised).
    pub name: String,
    /// `muc#roomconfig` values by short name (`persistent`, `maxusers`, ...), in the order the
    /// service wrote them; the service parses them back.
    pub config: Vec<(String, String)>,
    /// The current subject (empty when none).
    pub subject: String,
    /// Nick of whoever set the subject (empty when none).
    pub subject_by: String,
    /// Affiliations other than `none`: bare JID and `owner`, `admin`, `member` or `outcast`,
    /// sorted by JID.
    pub affiliations: Vec<(String, String)>,
}

/// Persistent MUC rooms.
#[async_trait::async_trait]
pub trait MucStore: Send + Sync {
    /// The room, `None` when not stored.
    async fn get_room(&self, service: &str, name: &str) -> Result<Option<StoredRoom>>;
    /// Stores the room whole (configuration, subject and affiliations replace the old ones),
    /// in one transaction.
    async fn put_room(&self, room: &StoredRoom) -> Result<()>;
    /// Removes the room and its affiliations (its archive stays). Removing a room that is not
    /// stored is not an error.
    async fn delete_room(&self, service: &str, name: &str) -> Result<()>;
    /// Stored rooms of a service, sorted by name, at most `limit`, without their affiliations
    /// (disco#items, counting against the room limit).
    async fn list_rooms(&self, service: &str, limit: usize) -> Result<Vec<StoredRoom>>;
    /// How many rooms of the service are stored.
    async fn count_rooms(&self, service: &str) -> Result<u64>;
    /// Replaces the stanza of archived message `id` of the room archive `(service, name)`
    /// (a moderation tombstone). Returns false when there is no such message.
    async fn replace_archived(
        &self,
        service: &str,
        name: &str,
        id: i64,
        stanza: &str,
    ) -> Result<bool>;
    /// Claims the room for cluster node `node` (its home, where it is live) unless a running
    /// member holds it already; returns the holder. A claim of a node that left or was declared
    /// dead is taken over. Backends without clusters (SQLite) answer `node`.
    async fn claim_room(&self, service: &str, name: &str, node: &str) -> Result<String> {
        let _ = (service, name);
        Ok(node.to_owned())
    }
    /// Drops `node`'s claim on the room (the room left its memory).
    async fn release_room(&self, service: &str, name: &str, node: &str) -> Result<()> {
        let _ = (service, name, node);
        Ok(())
    }
}

/// Encodes the configuration pairs as the JSON array stored in one column.
pub(crate) fn encode_config(config: &[(String, String)]) -> String {
    serde_json::to_string(config).unwrap_or_else(|_| "[]".into())
}

/// Decodes [`encode_config`]'s text.
pub(crate) fn decode_config(text: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(text)
        .map_err(|e| crate::StorageError::Backend(format!("muc room config unreadable: {e}")))
}
