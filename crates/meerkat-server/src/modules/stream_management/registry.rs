//! Resumption ids of this node's resumable sessions (XEP-0198 §5) and the hand-off of a session
//! to the connection that resumes it.
//!
//! One entry per resumable session, whether its connection is attached or detached; the task
//! that serves the session (attached or waiting detached) owns the entry and removes it when
//! the session ends. A resuming connection never touches the session directly: it leaves a
//! oneshot sender in the entry and raises [`Mailbox::request_takeover`]; the owner sends the
//! session through it. If the owner ends first, the sender is dropped and the resumption fails
//! with `item-not-found`, as for an unknown id.

use super::Detached;
use crate::server::ServerRef;
use crate::session::Mailbox;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a resuming connection waits for the owner to hand the session over. An attached
/// owner blocked writing to a dead socket may not answer in time; the client then gets
/// `<failed/>` and binds a new session (the old one still ends and re-routes its stanzas).
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

/// Hand-off channel of one take-over.
pub type Handoff = oneshot::Sender<Box<Detached>>;

struct Slot {
    /// `user@host` the id belongs to: another user's id is "not found".
    bare: String,
    mailbox: Mailbox,
    /// A resuming connection waiting for the session.
    waiter: Option<Handoff>,
}

/// Resumable sessions by resumption id. Touched only on enable, resume and session end, never
/// on the routing path.
#[derive(Default)]
pub struct Registry {
    slots: Mutex<HashMap<String, Slot>>,
    /// Ids of sessions that moved to another node (cluster), until their resumption time is
    /// over: this node then leaves the answer to the node that holds them now.
    moved: Mutex<HashMap<String, std::time::Instant>>,
}

impl Registry {
    // Never held across an await; a poisoned map is still consistent (plain inserts/removes).
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a resumable session.
    pub fn insert(&self, id: &str, bare: &str, mailbox: Mailbox) {
        self.lock().insert(id.to_owned(), Slot { bare: bare.to_owned(), mailbox, waiter: None });
    }

    /// The owner ends the session: the id is forgotten (a waiting resumer fails).
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// The owner answers [`crate::session::Mail::Takeover`]: the waiting resumer, if any.
    pub fn claim(&self, id: &str) -> Option<Handoff> {
        self.lock().get_mut(id).and_then(|s| s.waiter.take())
    }

    /// True when a resuming connection waits for the session `id`.
    pub fn has_waiter(&self, id: &str) -> bool {
        self.lock().get(id).is_some_and(|s| s.waiter.as_ref().is_some_and(|w| !w.is_closed()))
    }

    /// Remembers that the session `id` moved to another node, for `for_s` seconds.
    pub fn mark_moved(&self, id: &str, for_s: u32) {
        let now = std::time::Instant::now();
        let mut moved = self.moved.lock().unwrap_or_else(|p| p.into_inner());
        moved.retain(|_, until| *until > now);
        moved.insert(id.to_owned(), now + Duration::from_secs(u64::from(for_s)));
    }

    /// True when the session `id` moved to another node and may still be resumed there.
    pub fn moved_away(&self, id: &str) -> bool {
        let moved = self.moved.lock().unwrap_or_else(|p| p.into_inner());
        moved.get(id).is_some_and(|until| *until > std::time::Instant::now())
    }

    /// True when `id` is registered here for `bare`.
    pub fn holds(&self, id: &str, bare: &str) -> bool {
        self.lock().get(id).is_some_and(|s| s.bare == bare)
    }

    /// Number of registered (resumable) sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is resumable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Takes over the session `previd` for the authenticated `bare` JID: `None` when the id is
/// unknown, expired, another user's, or its owner did not hand it over in time. In a cluster,
/// an id another node issued is asked of that node (see [`crate::cluster::resume`]).
pub async fn take_over(server: &ServerRef, bare: &str, previd: &str) -> Option<Box<Detached>> {
    let mut taken = take_over_local(server, bare, previd).await;
    if taken.is_none() && server.cluster.is_some() {
        taken = crate::cluster::resume::take_over_remote(server, bare, previd).await;
    }
    let m = crate::metrics::get();
    if taken.is_some() {
        m.sm_resumed.increment(1);
    } else {
        m.sm_resume_failed.increment(1);
        tracing::info!(what = "sm_resume_failed", jid = %bare);
    }
    taken
}

/// [`take_over`] of a session of this node only.
pub async fn take_over_local(
    server: &ServerRef,
    bare: &str,
    previd: &str,
) -> Option<Box<Detached>> {
    let (tx, rx) = oneshot::channel();
    let mailbox = {
        let mut slots = server.sm_registry.lock();
        match slots.get_mut(previd) {
            Some(slot) if slot.bare == bare => {
                // A second resumer replaces the first, whose receiver then fails.
                slot.waiter = Some(tx);
                Some(slot.mailbox.clone())
            }
            _ => None,
        }
    };
    let mailbox = mailbox?;
    mailbox.request_takeover();
    tokio::time::timeout(TAKEOVER_WAIT, rx).await.ok().and_then(Result::ok)
}
