//! Per account bound on this node: when each local resource was bound (conflicts across nodes)
//! and the resources other nodes hold of it (RFC 6121 §8.5.2 over several nodes). Accounts
//! bound on one node only (the common case) have an empty remote part and cost one small entry.

use crate::session::{SessionEntry, SessionId};
use dashmap::DashMap;
use meerkat_cluster::{Availability, ResourceState};
use meerkat_proto::ns;
use meerkat_xml::Element;
use std::time::{Duration, Instant};

/// Other nodes tracked per account: beyond it, Hello/State of further nodes are ignored (their
/// resources still get stanzas addressed to their full JIDs, the subject reaches them).
const MAX_NODES_PER_ACCOUNT: usize = 32;

struct LocalBind {
    sid: SessionId,
    resource: String,
    bound_at: u64,
}

struct Account {
    local: Vec<LocalBind>,
    remote: Vec<(String, Vec<ResourceState>)>,
    /// When this node said Hello: answers may still be on their way for a moment.
    greeted: Instant,
}

impl Default for Account {
    fn default() -> Self {
        Account { local: Vec::new(), remote: Vec::new(), greeted: Instant::now() }
    }
}

/// How long after its Hello a node publishes its state changes even though no other holder
/// has answered yet (their answer may still be in flight, and they must not miss a change).
const GREETING_WINDOW: Duration = Duration::from_secs(5);

/// The resources of one account held by other nodes, and whether this node is the one that
/// applies the fallback rules (offline storage, errors, archive) for it.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    /// This node's name sorts first among the nodes holding the account.
    pub elected: bool,
    /// Node name and its resources, for nodes holding at least one resource.
    pub nodes: Vec<(String, Vec<ResourceState>)>,
}

impl Remote {
    /// Some other node holds this resource.
    pub fn holds(&self, resource: &str) -> bool {
        self.nodes.iter().any(|(_, rs)| rs.iter().any(|r| r.resource == resource))
    }

    /// Remote resources eligible for messages to the bare JID (available, priority >= 0).
    pub fn eligible(&self) -> impl Iterator<Item = &ResourceState> {
        self.nodes
            .iter()
            .flat_map(|(_, rs)| rs.iter())
            .filter(|r| r.availability != Availability::Unavailable && r.priority >= 0)
    }

    /// Some remote resource is available.
    pub fn any_available(&self) -> bool {
        self.nodes
            .iter()
            .flat_map(|(_, rs)| rs.iter())
            .any(|r| r.availability != Availability::Unavailable)
    }
}

/// Accounts bound on this node, by bare JID (the session table's key).
#[derive(Default)]
pub(crate) struct Views {
    accounts: DashMap<String, Account>,
}

impl Views {
    /// Records a local bind; true when it is the account's first local resource.
    pub fn bind_local(&self, bare: &str, sid: SessionId, resource: &str, bound_at: u64) -> bool {
        let mut a = self.accounts.entry(bare.to_owned()).or_default();
        let first = a.local.is_empty();
        a.local.push(LocalBind { sid, resource: resource.to_owned(), bound_at });
        first
    }

    /// Forgets a local bind. `None` when `sid` was not recorded (nothing to undo), else whether
    /// other nodes hold the account (they must hear the new state).
    pub fn unbind_local(&self, bare: &str, sid: SessionId) -> Option<bool> {
        let mut found = false;
        let mut empty = false;
        let mut shared = false;
        if let Some(mut a) = self.accounts.get_mut(bare) {
            if let Some(pos) = a.local.iter().position(|l| l.sid == sid) {
                a.local.remove(pos);
                found = true;
            }
            empty = a.local.is_empty();
            shared = !a.remote.is_empty();
        }
        if empty {
            // The remote part is rebuilt from Hello answers at the next first bind.
            self.accounts.remove_if(bare, |_, a| a.local.is_empty());
        }
        found.then_some(shared)
    }

    /// When the local session `sid` was bound, if it is.
    pub fn bound_at(&self, bare: &str, resource: &str) -> Option<(SessionId, u64)> {
        let a = self.accounts.get(bare)?;
        a.local.iter().find(|l| l.resource == resource).map(|l| (l.sid, l.bound_at))
    }

    /// Sets what `node` holds of `bare`; ignored when this node holds none of it. Returns true
    /// when this node holds the account.
    pub fn set_remote(&self, bare: &str, node: &str, resources: Vec<ResourceState>) -> bool {
        let Some(mut a) = self.accounts.get_mut(bare) else { return false };
        let pos = a.remote.iter().position(|(n, _)| n == node);
        match (pos, resources.is_empty()) {
            (Some(p), true) => {
                a.remote.remove(p);
            }
            (Some(p), false) => {
                if let Some(slot) = a.remote.get_mut(p) {
                    slot.1 = resources;
                }
            }
            (None, true) => {}
            (None, false) => {
                if a.remote.len() < MAX_NODES_PER_ACCOUNT {
                    a.remote.push((node.to_owned(), resources));
                }
            }
        }
        true
    }

    /// True when another node holds resources of `bare` (as far as this node knows).
    pub fn shared(&self, bare: &str) -> bool {
        self.accounts.get(bare).is_some_and(|a| !a.remote.is_empty())
    }

    /// Whether a change of this node's resources of `bare` must be published: another node
    /// holds it, or may (its answer to the Hello can still be in flight).
    pub fn must_publish(&self, bare: &str) -> bool {
        self.accounts
            .get(bare)
            .is_some_and(|a| !a.remote.is_empty() || a.greeted.elapsed() < GREETING_WINDOW)
    }

    /// The remote part of `bare`, `None` when no other node holds it (no allocation then).
    pub fn remote(&self, bare: &str, me: &str) -> Option<Remote> {
        let a = self.accounts.get(bare)?;
        if a.remote.is_empty() {
            return None;
        }
        let elected = a.remote.iter().all(|(n, _)| me < n.as_str());
        Some(Remote { elected, nodes: a.remote.clone() })
    }

    /// Drops what this node believed `bare`'s other nodes hold (they answered nothing).
    pub fn clear_remote(&self, bare: &str) {
        if let Some(mut a) = self.accounts.get_mut(bare) {
            a.remote.clear();
        }
    }

    /// Drops a node that went down from every account view.
    pub fn forget_node(&self, node: &str) {
        for mut a in self.accounts.iter_mut() {
            a.remote.retain(|(n, _)| n != node);
        }
    }

    /// The state of this node's resources of `bare` as other nodes need it.
    pub fn local_state(&self, bare: &str, sessions: &[SessionEntry]) -> Vec<ResourceState> {
        let Some(a) = self.accounts.get(bare) else { return Vec::new() };
        a.local
            .iter()
            .map(|l| {
                let entry = sessions.iter().find(|e| e.sid == l.sid);
                ResourceState {
                    resource: l.resource.clone(),
                    priority: entry.map_or(0, |e| e.priority),
                    availability: entry
                        .and_then(|e| e.presence.as_deref())
                        .map_or(Availability::Unavailable, availability),
                    bound_at: l.bound_at,
                }
            })
            .collect()
    }
}

/// `<show/>` of an available presence (RFC 6121 §4.7.2.1).
fn availability(p: &Element) -> Availability {
    match p.get_child("show", ns::CLIENT).map(|s| s.text()) {
        Some(s) if s == "chat" => Availability::Chat,
        Some(s) if s == "away" => Availability::Away,
        Some(s) if s == "xa" => Availability::Xa,
        Some(s) if s == "dnd" => Availability::Dnd,
        _ => Availability::Available,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(resource: &str, priority: i8, availability: Availability) -> ResourceState {
        ResourceState { resource: resource.into(), priority, availability, bound_at: 1 }
    }

    #[test]
    fn remote_view_follows_state_and_elects_the_first_name() {
        let v = Views::default();
        assert!(!v.set_remote("a@x", "n2", vec![rs("r", 0, Availability::Available)]));
        assert!(v.bind_local("a@x", SessionId(1), "phone", 5));
        assert!(!v.bind_local("a@x", SessionId(2), "pc", 6));
        assert!(v.remote("a@x", "n1").is_none());
        assert!(v.set_remote("a@x", "n2", vec![rs("r", 3, Availability::Away)]));
        let r = v.remote("a@x", "n1").unwrap();
        assert!(r.elected && r.holds("r") && !r.holds("phone"));
        assert_eq!(r.eligible().count(), 1);
        assert!(!v.remote("a@x", "n3").unwrap().elected);
        assert!(v.set_remote("a@x", "n2", vec![rs("r", -1, Availability::Away)]));
        assert_eq!(v.remote("a@x", "n1").unwrap().eligible().count(), 0);
        v.set_remote("a@x", "n2", Vec::new());
        assert!(!v.shared("a@x"));
        v.set_remote("a@x", "n2", vec![rs("r", 0, Availability::Available)]);
        v.forget_node("n2");
        assert!(!v.shared("a@x"));
        assert_eq!(v.bound_at("a@x", "pc"), Some((SessionId(2), 6)));
        assert_eq!(v.unbind_local("a@x", SessionId(9)), None);
        assert_eq!(v.unbind_local("a@x", SessionId(1)), Some(false));
        assert_eq!(v.unbind_local("a@x", SessionId(2)), Some(false));
        assert!(v.accounts.is_empty());
    }
}
