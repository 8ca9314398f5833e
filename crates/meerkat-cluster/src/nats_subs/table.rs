//! The accounts this node is subscribed to: reference counts, their subscription ids both
//! ways, and the SUB/UNSUB commands waiting for the connection task.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, Notify};

/// A command for the connection task, in the order the callers made them.
#[derive(Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Subscribe `subject` under `sid`.
    Sub {
        /// Subscription id.
        sid: u64,
        /// The account's subject.
        subject: String,
    },
    /// Drop subscription `sid`.
    Unsub(u64),
}

struct Entry {
    sid: u64,
    refs: u32,
}

/// What [`State::add`] did.
#[derive(Debug)]
pub enum Added {
    /// The account was already subscribed: one more reference.
    Existing,
    /// First reference: a new subscription `sid` on `subject`. With `confirm`, the
    /// connection is up and answers it once NATS has applied the SUB (a PING after it came
    /// back); without, the connection is down and subscribes everything when it is back.
    New {
        /// Subscription id.
        sid: u64,
        /// The account's subject.
        subject: String,
        /// Fires once the SUB is applied (dropped if the connection is lost first).
        confirm: Option<oneshot::Receiver<()>>,
    },
}

/// Guarded by [`Table::state`].
#[derive(Default)]
pub struct State {
    // One `Arc<str>` per account, shared by both maps.
    by_account: HashMap<Arc<str>, Entry>,
    by_sid: HashMap<u64, Arc<str>>,
    next_sid: u64,
    /// A connection takes commands: set from its handshake until it is lost. While clear,
    /// commands are not queued (the next connection subscribes from the maps).
    online: bool,
    pending: Vec<Cmd>,
    waiters: Vec<oneshot::Sender<()>>,
}

impl State {
    /// Takes a reference on `account`; `subject` is asked for only on the first one.
    pub fn add(&mut self, account: &str, subject: impl FnOnce() -> String) -> Added {
        if let Some(e) = self.by_account.get_mut(account) {
            e.refs = e.refs.saturating_add(1);
            return Added::Existing;
        }
        self.next_sid += 1;
        let sid = self.next_sid;
        let key: Arc<str> = Arc::from(account);
        self.by_account.insert(key.clone(), Entry { sid, refs: 1 });
        self.by_sid.insert(sid, key);
        let subject = subject();
        let confirm = self.online.then(|| {
            self.pending.push(Cmd::Sub { sid, subject: subject.clone() });
            let (tx, rx) = oneshot::channel();
            self.waiters.push(tx);
            rx
        });
        Added::New { sid, subject, confirm }
    }

    /// Releases a reference; returns the subscription id when it was the last one.
    pub fn remove(&mut self, account: &str) -> Option<u64> {
        let e = self.by_account.get_mut(account)?;
        e.refs -= 1;
        if e.refs > 0 {
            return None;
        }
        let sid = e.sid;
        self.by_account.remove(account);
        self.by_sid.remove(&sid);
        if self.online {
            self.pending.push(Cmd::Unsub(sid));
        }
        Some(sid)
    }

    /// Whether `account` is subscribed.
    pub fn holds(&self, account: &str) -> bool {
        self.by_account.contains_key(account)
    }

    /// Whether `sid` is a current subscription (a message may still arrive for one just
    /// dropped).
    pub fn has_sid(&self, sid: u64) -> bool {
        self.by_sid.contains_key(&sid)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.by_account.len()
    }

    /// Every subscription, for a new connection; from now on commands are queued for it.
    pub fn go_online(&mut self) -> Vec<(u64, Arc<str>)> {
        self.online = true;
        self.pending.clear();
        self.waiters.clear();
        self.by_sid.iter().map(|(s, a)| (*s, a.clone())).collect()
    }

    /// The subscription id of `account` (tests).
    #[cfg(test)]
    pub fn sid_of(&self, account: &str) -> u64 {
        self.by_account.get(account).map_or(0, |e| e.sid)
    }

    /// The connection is lost: forget queued commands; waiting callers are released.
    pub fn go_offline(&mut self) {
        self.online = false;
        self.pending.clear();
        self.waiters.clear();
    }

    /// The commands queued since the last call and the callers waiting for them.
    pub fn take(&mut self) -> (Vec<Cmd>, Vec<oneshot::Sender<()>>) {
        (std::mem::take(&mut self.pending), std::mem::take(&mut self.waiters))
    }
}

/// Shared by the handle and the connection task.
#[derive(Default)]
pub struct Table {
    state: Mutex<State>,
    /// Wakes the connection task when commands are queued.
    pub wake: Notify,
    /// The connection is up and its handshake (re-subscriptions included) answered.
    pub connected: AtomicBool,
}

impl Table {
    /// The state; a panic while it was held cannot leave it inconsistent, so keep going.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_counts_and_commands() {
        let mut s = State::default();
        // Offline: nothing queued, nothing to wait for.
        let Added::New { sid: a, confirm: None, .. } = s.add("a@x", || "A".into()) else {
            panic!()
        };
        assert!(s.go_online().iter().any(|(sid, acc)| *sid == a && &**acc == "a@x"));
        assert!(matches!(s.add("a@x", || unreachable!()), Added::Existing));
        let Added::New { sid: b, confirm: Some(_), .. } = s.add("b@x", || "B".into()) else {
            panic!()
        };
        assert_ne!(a, b);
        assert_eq!(s.remove("a@x"), None);
        assert_eq!(s.remove("a@x"), Some(a));
        assert_eq!(s.remove("a@x"), None);
        assert!(!s.has_sid(a) && s.has_sid(b) && s.holds("b@x") && s.len() == 1);
        let (cmds, waiters) = s.take();
        assert_eq!(cmds, vec![Cmd::Sub { sid: b, subject: "B".into() }, Cmd::Unsub(a)]);
        assert_eq!(waiters.len(), 1);
        s.go_offline();
        assert_eq!(s.remove("b@x"), Some(b));
        assert_eq!(s.take().0, vec![]);
    }
}
