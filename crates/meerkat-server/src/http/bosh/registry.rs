//! The BOSH sessions of one HTTP listener, by sid (XEP-0124 §7.2).
//!
//! A session lives on the node whose listener created it: its c2s session is bound there like
//! any other, and only this node's registry has its sid. In a cluster the sid also names the
//! node, and a request reaching another node is forwarded here ([`super::forward`]).

use super::session::Session;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Sessions by sid.
pub struct Registry {
    /// Std mutex: held for a map lookup or update only, never across an `.await`.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Most sessions at once (the listener's `max_connections`).
    max_sessions: usize,
}

impl Registry {
    /// An empty registry holding at most `max_sessions`.
    pub fn new(max_sessions: usize) -> Self {
        Registry { sessions: Mutex::new(HashMap::new()), max_sessions }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session with `sid`.
    pub fn get(&self, sid: &str) -> Option<Arc<Session>> {
        self.map().get(sid).cloned()
    }

    /// Adds a session; false when the registry is full (or, at 2^-128 odds, the sid is taken).
    pub fn insert(&self, session: Arc<Session>) -> bool {
        let mut map = self.map();
        if map.len() >= self.max_sessions || map.contains_key(&session.sid) {
            return false;
        }
        map.insert(session.sid.clone(), session);
        true
    }

    /// Forgets a session.
    pub fn remove(&self, sid: &str) {
        self.map().remove(sid);
    }
}

/// A fresh session id: 128 bits from the thread's CSPRNG, hex (XEP-0124 §7.2 asks for an
/// unguessable sid: it is the only credential of later requests).
pub fn new_sid() -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{n:032x}")
}
