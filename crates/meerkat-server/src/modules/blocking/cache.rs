//! The blocklists of online users, in memory.

use super::matching;
use crate::addr::Addr;
use dashmap::DashMap;
use std::sync::Arc;

/// Non-empty blocklists of users with at least one bound session, keyed by bare JID. A user
/// online without an entry blocks nobody. Entries are loaded at bind ([`super::on_bind`]),
/// replaced after each change, and dropped when the last resource unbinds.
#[derive(Default)]
pub struct BlockCache {
    bare_items: DashMap<String, Arc<[String]>>,
}

impl BlockCache {
    /// True when the online user `bare` blocks `jid`.
    pub fn blocks(&self, bare: &str, jid: &Addr) -> bool {
        // Cloned out so no shard lock is held while matching.
        let Some(list) = self.bare_items.get(bare).map(|l| l.clone()) else { return false };
        matching::blocks(&list, jid)
    }

    /// True when the online user `bare` has a non-empty blocklist.
    pub fn has(&self, bare: &str) -> bool {
        self.bare_items.contains_key(bare)
    }

    /// The cached list of an online user (empty when none).
    pub fn get(&self, bare: &str) -> Arc<[String]> {
        self.bare_items.get(bare).map(|l| l.clone()).unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// Replaces the list of an online user (sorted); an empty list removes the entry.
    pub fn set(&self, bare: &str, items: Vec<String>) {
        if items.is_empty() {
            self.bare_items.remove(bare);
        } else {
            self.bare_items.insert(bare.to_owned(), Arc::from(items));
        }
    }

    /// Drops the entry of `bare` if `still_online` says no session is left; checked under the
    /// entry's lock so a concurrent bind that inserts after this is not lost.
    pub fn drop_if(&self, bare: &str, still_online: impl Fn() -> bool) {
        self.bare_items.remove_if(bare, |_, _| !still_online());
    }

    /// Number of users whose list is cached.
    pub fn len(&self) -> usize {
        self.bare_items.len()
    }

    /// True when no list is cached.
    pub fn is_empty(&self) -> bool {
        self.bare_items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_empty_lists_are_kept_and_dropped_when_offline() {
        let c = BlockCache::default();
        let bob = Addr::parse("bob@x.org/r").expect("jid");
        c.set("a@x", Vec::new());
        assert!(c.is_empty() && !c.has("a@x"), "an empty list takes no entry");
        c.set("a@x", vec!["bob@x.org".to_owned()]);
        assert!(c.has("a@x") && c.blocks("a@x", &bob));
        assert!(!c.blocks("other@x", &bob));
        c.drop_if("a@x", || true);
        assert_eq!(c.len(), 1, "kept while a resource is online");
        c.drop_if("a@x", || false);
        assert!(!c.has("a@x") && c.get("a@x").is_empty());
    }
}
