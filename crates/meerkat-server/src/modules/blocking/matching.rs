//! Blocklist items and how they match a JID (XEP-0191 §3.3, the order of XEP-0016 §2.1).

use crate::addr::Addr;

/// The normalised form of a blocklist item JID, `None` when it is not a valid JID.
pub fn normalize_item(jid: &str) -> Option<String> {
    let a = Addr::parse(jid)?;
    Some(a.full())
}

/// True when `list` (sorted, normalised items) blocks `jid`: an item equal to its full JID,
/// bare JID, domain/resource or domain.
pub fn blocks(list: &[String], jid: &Addr) -> bool {
    if list.is_empty() {
        return false;
    }
    let has = |s: &str| list.binary_search_by(|i| i.as_str().cmp(s)).is_ok();
    if has(&jid.domain) {
        return true;
    }
    if let Some(node) = &jid.node {
        let bare = format!("{node}@{}", jid.domain);
        if has(&bare) {
            return true;
        }
        if let Some(res) = &jid.resource {
            if has(&format!("{bare}/{res}")) {
                return true;
            }
        }
    }
    if let (None, Some(res)) = (&jid.node, &jid.resource) {
        if has(&format!("{}/{res}", jid.domain)) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    }

    fn addr(s: &str) -> Addr {
        Addr::parse(s).expect("valid")
    }

    #[test]
    fn bare_item_matches_every_resource() {
        let l = list(&["romeo@example.net"]);
        assert!(blocks(&l, &addr("romeo@example.net")));
        assert!(blocks(&l, &addr("romeo@example.net/orchard")));
        assert!(!blocks(&l, &addr("juliet@example.net")));
        assert!(!blocks(&l, &addr("example.net")));
    }

    #[test]
    fn full_item_matches_only_that_resource() {
        let l = list(&["romeo@example.net/orchard"]);
        assert!(blocks(&l, &addr("romeo@example.net/orchard")));
        assert!(!blocks(&l, &addr("romeo@example.net/balcony")));
        assert!(!blocks(&l, &addr("romeo@example.net")));
    }

    #[test]
    fn domain_items() {
        let l = list(&["example.net"]);
        assert!(blocks(&l, &addr("romeo@example.net/orchard")));
        assert!(blocks(&l, &addr("example.net")));
        assert!(!blocks(&l, &addr("romeo@example.org")));
        let l = list(&["example.net/res"]);
        assert!(blocks(&l, &addr("example.net/res")));
        assert!(!blocks(&l, &addr("romeo@example.net/res")));
        assert!(!blocks(&l, &addr("example.net")));
    }

    #[test]
    fn items_are_normalised() {
        assert_eq!(normalize_item("Romeo@Example.NET").as_deref(), Some("romeo@example.net"));
        assert_eq!(normalize_item("not a jid@").as_deref(), None);
        assert!(!blocks(&[], &addr("a@b")));
    }
}
