//! Sections of the blocking, vCard, private-storage and ad-hoc command modules.

use serde::{Deserialize, Serialize};

/// `[modules.blocking]`: XEP-0191 blocking command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BlockingModule {
    /// Offer the blocking command.
    pub enabled: bool,
    /// Most JIDs on one user's blocklist; a block beyond it gets `resource-constraint`. Kept
    /// in memory while the user is online (about 64 bytes per item).
    pub max_items: usize,
}

impl Default for BlockingModule {
    fn default() -> Self {
        BlockingModule { enabled: true, max_items: 1000 }
    }
}

/// `[modules.vcard]`: XEP-0054 vCard-temp and XEP-0153 avatar hashes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VcardModule {
    /// Offer vCard-temp.
    pub enabled: bool,
    /// Largest serialised vCard accepted, in bytes (`not-acceptable` beyond). The stanza limit
    /// (`limits.max_stanza_bytes`) caps it too.
    pub max_bytes: usize,
}

impl Default for VcardModule {
    fn default() -> Self {
        VcardModule { enabled: true, max_bytes: 65536 }
    }
}

/// `[modules.private]`: XEP-0049 private XML storage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrivateModule {
    /// Offer private XML storage.
    pub enabled: bool,
    /// Largest serialised item accepted, in bytes (`not-acceptable` beyond).
    pub max_item_bytes: usize,
    /// Most namespaces stored per account (`resource-constraint` beyond).
    pub max_items: usize,
}

impl Default for PrivateModule {
    fn default() -> Self {
        PrivateModule { enabled: true, max_item_bytes: 16384, max_items: 64 }
    }
}

/// `[modules.adhoc]`: XEP-0050 ad-hoc commands with XEP-0133 service administration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdhocModule {
    /// Offer ad-hoc commands.
    pub enabled: bool,
    /// Bare JIDs allowed to run the administration commands.
    pub admins: Vec<String>,
    /// Multi-stage command sessions kept at once on the node (`resource-constraint` beyond).
    pub max_sessions: usize,
    /// A command session not continued within this time is forgotten, in milliseconds.
    pub session_timeout_ms: u64,
}

impl Default for AdhocModule {
    fn default() -> Self {
        AdhocModule {
            enabled: true,
            admins: Vec::new(),
            max_sessions: 100,
            session_timeout_ms: 300_000,
        }
    }
}
