//! Multi-stage command sessions (XEP-0050 §3.4): bounded in number and forgotten after a
//! timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One command in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSession {
    /// The full JID that started it; only it may continue it.
    pub owner: String,
    /// The command node.
    pub node: String,
    /// When it was started.
    pub started: Instant,
}

/// Why a session could not be started.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    /// `max_sessions` are in progress.
    Full,
}

/// Command sessions of the node, by session id. A std mutex: every operation is a few map
/// steps and none awaits while holding it.
#[derive(Default)]
pub struct AdhocSessions {
    id_session: Mutex<HashMap<String, CommandSession>>,
}

impl AdhocSessions {
    fn purge(map: &mut HashMap<String, CommandSession>, now: Instant, timeout: Duration) {
        map.retain(|_, s| now.saturating_duration_since(s.started) < timeout);
    }

    /// Starts a session and returns its id.
    pub fn start(
        &self,
        owner: &str,
        node: &str,
        now: Instant,
        timeout: Duration,
        max: usize,
    ) -> Result<String, StartError> {
        let Ok(mut map) = self.id_session.lock() else { return Err(StartError::Full) };
        Self::purge(&mut map, now, timeout);
        if map.len() >= max {
            return Err(StartError::Full);
        }
        let id = crate::c2s::conn::new_stream_id();
        map.insert(
            id.clone(),
            CommandSession { owner: owner.to_owned(), node: node.to_owned(), started: now },
        );
        Ok(id)
    }

    /// Takes (ends) the session `id` if it exists, has not expired, and belongs to `owner`
    /// for `node`; otherwise leaves any other owner's session alone and returns `None`.
    pub fn take(
        &self,
        id: &str,
        owner: &str,
        node: &str,
        now: Instant,
        timeout: Duration,
    ) -> Option<CommandSession> {
        let mut map = self.id_session.lock().ok()?;
        Self::purge(&mut map, now, timeout);
        let ok = map.get(id).is_some_and(|s| s.owner == owner && s.node == node);
        if ok {
            map.remove(id)
        } else {
            None
        }
    }

    /// Sessions in progress (expired ones included until the next purge).
    pub fn len(&self) -> usize {
        self.id_session.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no session is in progress.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_owned_and_expiring() {
        let s = AdhocSessions::default();
        let t0 = Instant::now();
        let timeout = Duration::from_secs(10);
        let a = s.start("a@x/r", "n", t0, timeout, 2).expect("first");
        let _b = s.start("a@x/r", "n", t0, timeout, 2).expect("second");
        assert_eq!(s.start("a@x/r", "n", t0, timeout, 2), Err(StartError::Full));
        assert_eq!(s.take(&a, "b@x/r", "n", t0, timeout), None, "other owner");
        assert_eq!(s.take(&a, "a@x/r", "m", t0, timeout), None, "other node");
        assert!(s.take(&a, "a@x/r", "n", t0, timeout).is_some());
        assert_eq!(s.take(&a, "a@x/r", "n", t0, timeout), None, "ended");
        // Expiry frees room.
        let later = t0 + Duration::from_secs(11);
        assert_eq!(s.len(), 1);
        s.start("a@x/r", "n", later, timeout, 1).expect("after expiry");
        assert_eq!(s.len(), 1);
    }
}
