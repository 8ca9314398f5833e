//! `[modules.pep]` (XEP-0163 personal eventing) and `[modules.caps]` (XEP-0115 entity
//! capabilities), with their validation.

use crate::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[modules.pep]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PepModule {
    /// Offer PEP on every account's bare JID.
    pub enabled: bool,
    /// Nodes one account may have; creating more gets `resource-constraint`.
    pub max_nodes_per_account: usize,
    /// Most items a node keeps (`pubsub#max_items` = `max` means this); a higher number in a
    /// configuration gets `not-acceptable`.
    pub max_items_per_node: usize,
    /// Largest item payload in bytes of XML; a larger one gets `not-acceptable` with
    /// `payload-too-big`.
    pub max_item_bytes: usize,
    /// Accounts whose node configurations and last items are kept in memory (each entry holds
    /// at most `max_nodes_per_account` last items).
    pub cache_accounts: usize,
}

impl Default for PepModule {
    fn default() -> Self {
        PepModule {
            enabled: true,
            max_nodes_per_account: 64,
            max_items_per_node: 256,
            max_item_bytes: 60_000,
            cache_accounts: 10_000,
        }
    }
}

/// `[modules.caps]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CapsModule {
    /// Learn clients' features from their presence (`<c/>`) and advertise the server's own.
    pub enabled: bool,
    /// Verified `node#ver` entries kept in memory.
    pub cache_entries: usize,
    /// Features read from one client's disco#info answer; beyond it the answer is ignored.
    pub max_features: usize,
    /// disco#info queries to clients awaiting an answer, node-wide; beyond it no query is sent.
    pub max_pending_queries: usize,
    /// An unanswered query is forgotten after this long, in milliseconds.
    pub query_timeout_ms: u64,
}

impl Default for CapsModule {
    fn default() -> Self {
        CapsModule {
            enabled: true,
            cache_entries: 10_000,
            max_features: 512,
            max_pending_queries: 10_000,
            query_timeout_ms: 60_000,
        }
    }
}

/// Rules of both sections.
pub(crate) fn validate(pep: &PepModule, caps: &CapsModule, file: &Path) -> Result<(), ConfigError> {
    let positive = [
        ("modules.pep.max_nodes_per_account", pep.max_nodes_per_account),
        ("modules.pep.max_items_per_node", pep.max_items_per_node),
        ("modules.pep.max_item_bytes", pep.max_item_bytes),
        ("modules.pep.cache_accounts", pep.cache_accounts),
        ("modules.caps.cache_entries", caps.cache_entries),
        ("modules.caps.max_features", caps.max_features),
        ("modules.caps.max_pending_queries", caps.max_pending_queries),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(ConfigError::invalid(file, key, "must be above 0"));
        }
    }
    if caps.query_timeout_ms == 0 {
        return Err(ConfigError::invalid(file, "modules.caps.query_timeout_ms", "must be above 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parse_str;
    use std::path::Path;

    #[test]
    fn zero_bounds_are_rejected_naming_the_key() {
        for (toml, key) in [
            ("[modules.pep]\nmax_item_bytes = 0\n", "modules.pep.max_item_bytes"),
            ("[modules.pep]\nmax_nodes_per_account = 0\n", "modules.pep.max_nodes_per_account"),
            ("[modules.caps]\ncache_entries = 0\n", "modules.caps.cache_entries"),
            ("[modules.caps]\nquery_timeout_ms = 0\n", "modules.caps.query_timeout_ms"),
        ] {
            let e = parse_str(toml, Path::new("m.toml")).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
        let c =
            parse_str("[modules.pep]\nmax_items_per_node = 5\n", Path::new("m.toml")).expect("ok");
        assert_eq!(c.modules.pep.max_items_per_node, 5);
    }
}
