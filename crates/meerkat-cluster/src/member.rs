//! Member table: a node is running while its heartbeats arrive and stopped after
//! `node_timeout` without one (or at once when it announces a graceful leave).
//!
//! Pure logic driven by [`std::time::Instant`]s passed in, so it is unit-tested without
//! clocks or sockets; the `Cluster` feeds it heartbeats and sweeps it periodically.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Whether a member's heartbeats arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Heartbeats arrive.
    Running,
    /// No heartbeat for `node_timeout`, or it left.
    Stopped,
}

/// One row of [`crate::Cluster::members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Node name (`[general] node_name`).
    pub node: String,
    /// Its admin API address.
    pub admin_address: String,
    /// When it started, ms since the epoch.
    pub started_at: u64,
    /// Running or stopped.
    pub state: MemberState,
    /// Time since its last heartbeat.
    pub last_seen_ago: Duration,
}

/// A change the server may react to (e.g. clean up a dead node's sessions on `NodeDown`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// A node's heartbeats started arriving (new node, back after a timeout, or restarted).
    NodeUp {
        /// Node name.
        node: String,
        /// Its admin API address.
        admin_address: String,
        /// Start time of this incarnation.
        started_at: u64,
    },
    /// A node stopped: heartbeat timeout, graceful leave, or restart (the old incarnation).
    NodeDown {
        /// Node name.
        node: String,
        /// Start time of the incarnation that went down.
        started_at: u64,
    },
}

struct Row {
    admin_address: String,
    started_at: u64,
    last_seen: Instant,
    state: MemberState,
}

/// The table. Bounded: heartbeats of new nodes beyond `max_members` are ignored.
pub struct MemberTable {
    me: String,
    timeout: Duration,
    max_members: usize,
    rows: HashMap<String, Row>,
}

impl MemberTable {
    /// A table for node `me` (never reported up/down to itself).
    pub fn new(me: &str, timeout: Duration, max_members: usize) -> Self {
        MemberTable { me: me.to_owned(), timeout, max_members, rows: HashMap::new() }
    }

    /// Records a heartbeat; returns the events it causes. `None` if the table is full.
    pub fn heartbeat(
        &mut self,
        node: &str,
        admin_address: &str,
        started_at: u64,
        now: Instant,
    ) -> Option<Vec<MemberEvent>> {
        let is_me = node == self.me;
        let up = || MemberEvent::NodeUp {
            node: node.to_owned(),
            admin_address: admin_address.to_owned(),
            started_at,
        };
        let mut events = Vec::new();
        match self.rows.get_mut(node) {
            Some(row) => {
                if row.started_at != started_at && row.state == MemberState::Running {
                    events.push(MemberEvent::NodeDown {
                        node: node.to_owned(),
                        started_at: row.started_at,
                    });
                    events.push(up());
                } else if row.state == MemberState::Stopped || row.started_at != started_at {
                    events.push(up());
                }
                if row.admin_address != admin_address {
                    admin_address.clone_into(&mut row.admin_address);
                }
                row.started_at = started_at;
                row.last_seen = now;
                row.state = MemberState::Running;
            }
            None => {
                if self.rows.len() >= self.max_members {
                    return None;
                }
                self.rows.insert(
                    node.to_owned(),
                    Row {
                        admin_address: admin_address.to_owned(),
                        started_at,
                        last_seen: now,
                        state: MemberState::Running,
                    },
                );
                events.push(up());
            }
        }
        if is_me {
            events.clear();
        }
        Some(events)
    }

    /// A node announced it leaves: stopped at once.
    pub fn leave(&mut self, node: &str) -> Option<MemberEvent> {
        let row = self.rows.get_mut(node)?;
        if row.state == MemberState::Stopped || node == self.me {
            return None;
        }
        row.state = MemberState::Stopped;
        Some(MemberEvent::NodeDown { node: node.to_owned(), started_at: row.started_at })
    }

    /// Marks running nodes silent for longer than the timeout as stopped.
    pub fn sweep(&mut self, now: Instant) -> Vec<MemberEvent> {
        let mut events = Vec::new();
        for (node, row) in &mut self.rows {
            if row.state == MemberState::Running
                && now.saturating_duration_since(row.last_seen) > self.timeout
                && *node != self.me
            {
                row.state = MemberState::Stopped;
                events
                    .push(MemberEvent::NodeDown { node: node.clone(), started_at: row.started_at });
            }
        }
        events
    }

    /// Forgets a stopped node (after `remove_from_cluster`). Returns whether it was there.
    pub fn remove(&mut self, node: &str) -> bool {
        self.rows.remove(node).is_some()
    }

    /// Snapshot sorted by node name.
    pub fn snapshot(&self, now: Instant) -> Vec<Member> {
        let mut v: Vec<Member> = self
            .rows
            .iter()
            .map(|(node, r)| Member {
                node: node.clone(),
                admin_address: r.admin_address.clone(),
                started_at: r.started_at,
                state: r.state,
                last_seen_ago: now.saturating_duration_since(r.last_seen),
            })
            .collect();
        v.sort_by(|a, b| a.node.cmp(&b.node));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(10);

    fn up(node: &str, started_at: u64) -> MemberEvent {
        MemberEvent::NodeUp { node: node.into(), admin_address: "a".into(), started_at }
    }

    fn down(node: &str, started_at: u64) -> MemberEvent {
        MemberEvent::NodeDown { node: node.into(), started_at }
    }

    #[test]
    fn up_down_and_back() {
        let t0 = Instant::now();
        let mut m = MemberTable::new("me", T, 10);
        assert_eq!(m.heartbeat("me", "a", 1, t0), Some(vec![]));
        assert_eq!(m.heartbeat("b", "a", 5, t0), Some(vec![up("b", 5)]));
        assert_eq!(m.heartbeat("b", "a", 5, t0 + Duration::from_secs(1)), Some(vec![]));
        assert!(m.sweep(t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(m.sweep(t0 + Duration::from_secs(12)), vec![down("b", 5)]);
        assert!(m.sweep(t0 + Duration::from_secs(30)).is_empty(), "reported once");
        let snap = m.snapshot(t0 + Duration::from_secs(30));
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].node, "b");
        assert_eq!(snap[0].state, MemberState::Stopped);
        assert_eq!(snap[1].state, MemberState::Running, "a node never reports itself stopped");
        assert_eq!(m.heartbeat("b", "a", 5, t0 + Duration::from_secs(31)), Some(vec![up("b", 5)]));
    }

    #[test]
    fn restart_is_down_then_up_and_leave_is_immediate() {
        let t0 = Instant::now();
        let mut m = MemberTable::new("me", T, 10);
        m.heartbeat("b", "a", 5, t0);
        assert_eq!(m.heartbeat("b", "a", 9, t0), Some(vec![down("b", 5), up("b", 9)]));
        assert_eq!(m.leave("b"), Some(down("b", 9)));
        assert_eq!(m.leave("b"), None);
        assert_eq!(m.leave("unknown"), None);
        assert!(m.remove("b"));
        assert!(m.snapshot(t0).is_empty());
    }

    #[test]
    fn table_is_bounded() {
        let t0 = Instant::now();
        let mut m = MemberTable::new("me", T, 2);
        assert!(m.heartbeat("a", "x", 1, t0).is_some());
        assert!(m.heartbeat("b", "x", 1, t0).is_some());
        assert_eq!(m.heartbeat("c", "x", 1, t0), None);
        assert_eq!(m.heartbeat("a", "x", 1, t0), Some(vec![]));
    }
}
