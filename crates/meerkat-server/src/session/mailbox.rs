//! A session's mailbox: the bounded queue other tasks route stanzas into, read by the session's
//! connection task.
//!
//! Why not `tokio::sync::mpsc`: a bounded tokio channel preallocates a 32-slot block and its
//! semaphore and list heads, about 600 bytes per session, plus a `CancellationToken` for the
//! overflow signal; with ~19k idle sessions per process that was an eighth of the memory per
//! session (measured with meerkat-load `connect`, see BENCHMARKS.md). This queue costs ~150
//! bytes when empty and carries the close and overflow signals itself.
//!
//! Overflow policy: a full queue refuses the stanza (the sender stores or bounces it) and marks
//! the session overflowed; its connection task then closes the stream with `policy-violation`.
//! A close request (conflict, kick, shutdown) is never refused, even when the queue is full.

use meerkat_proto::error::StreamError;
use meerkat_xml::Element;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Why a stanza was not queued; the stanza is given back.
#[derive(Debug)]
pub enum SendError {
    /// The queue is full: the session has been marked overflowed and will close.
    Full(Element),
    /// The session's connection task is gone.
    Closed(Element),
}

impl SendError {
    /// Takes the stanza back.
    pub fn into_stanza(self) -> Element {
        match self {
            SendError::Full(e) | SendError::Closed(e) => e,
        }
    }
}

/// What the connection task gets from [`Mailbox::recv`].
#[derive(Debug)]
pub enum Mail {
    /// Stanzas to write, in order (at most the batch size asked for).
    Stanzas,
    /// Close the stream with this error.
    Close(StreamError),
    /// The queue overflowed: the client does not read.
    Overflow,
    /// Another connection resumes this session (XEP-0198): hand it over. Queued stanzas stay
    /// in the mailbox for the new owner.
    Takeover,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Element>,
    close: Option<StreamError>,
    /// A close was requested (stays set after the receiver took the error).
    closing: bool,
    overflowed: bool,
    receiver_gone: bool,
    /// A resuming connection asked for the session ([`Mailbox::request_takeover`]).
    takeover: bool,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
}

/// Handle to a session's queue; cloned into the session table (sending side) and kept by the
/// connection task (receiving side).
#[derive(Debug, Clone)]
pub struct Mailbox {
    inner: Arc<Inner>,
}

/// Capacity kept by an emptied queue; a burst's larger allocation is given back.
const KEEP_CAPACITY: usize = 8;

impl Mailbox {
    /// An empty mailbox holding at most `capacity` stanzas.
    pub fn new(capacity: usize) -> Self {
        Mailbox {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                notify: Notify::new(),
                capacity: capacity.max(1),
            }),
        }
    }

    // The lock is never held across an await, so a poisoned lock can only come from a panic in
    // this module's short critical sections; the state is still consistent, so keep using it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a stanza without waiting.
    pub fn try_send(&self, stanza: Element) -> Result<(), SendError> {
        {
            let mut s = self.lock();
            if s.receiver_gone || s.closing {
                return Err(SendError::Closed(stanza));
            }
            if s.overflowed || s.queue.len() >= self.inner.capacity {
                s.overflowed = true;
                drop(s);
                self.inner.notify.notify_one();
                return Err(SendError::Full(stanza));
            }
            s.queue.push_back(stanza);
        }
        self.inner.notify.notify_one();
        Ok(())
    }

    /// Asks the session to close with `error` (the first request wins). Never refused.
    pub fn close_with(&self, error: StreamError) {
        {
            let mut s = self.lock();
            if !s.closing {
                s.closing = true;
                s.close = Some(error);
            }
        }
        self.inner.notify.notify_one();
    }

    /// Asks the receiving task to hand the session over to a resuming connection
    /// ([`Mail::Takeover`], seen before queued stanzas, which stay queued).
    pub fn request_takeover(&self) {
        self.lock().takeover = true;
        self.inner.notify.notify_one();
    }

    /// Waits for mail. Queued stanzas come first (up to `batch`, appended to `out`), so a
    /// conflict or kick does not lose what was routed before it.
    pub async fn recv(&self, out: &mut Vec<Element>, batch: usize) -> Mail {
        loop {
            {
                let mut s = self.lock();
                if std::mem::take(&mut s.takeover) {
                    return Mail::Takeover;
                }
                if !s.queue.is_empty() {
                    let n = s.queue.len().min(batch.max(1));
                    out.extend(s.queue.drain(..n));
                    if s.queue.is_empty() && s.queue.capacity() > KEEP_CAPACITY {
                        s.queue = VecDeque::new();
                    }
                    return Mail::Stanzas;
                }
                if let Some(e) = s.close.take() {
                    return Mail::Close(e);
                }
                if s.overflowed {
                    return Mail::Overflow;
                }
            }
            // A notification sent while we were not waiting is kept as a permit, so nothing
            // sent between the check above and this wait is missed.
            self.inner.notify.notified().await;
        }
    }

    /// The receiving side goes away: later sends fail, and what was queued is returned so the
    /// caller can re-route it.
    pub fn close_receiver(&self) -> Vec<Element> {
        let mut s = self.lock();
        s.receiver_gone = true;
        s.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meerkat_proto::error::StreamErrorCondition;

    fn msg(i: usize) -> Element {
        Element::new("message", "jabber:client").with_attr("id", i.to_string())
    }

    #[tokio::test]
    async fn delivers_in_order_then_refuses_when_full_and_signals_overflow() {
        let m = Mailbox::new(2);
        assert!(m.try_send(msg(1)).is_ok());
        assert!(m.try_send(msg(2)).is_ok());
        assert!(matches!(m.try_send(msg(3)), Err(SendError::Full(_))));
        let mut out = Vec::new();
        assert!(matches!(m.recv(&mut out, 64).await, Mail::Stanzas));
        assert_eq!(out.iter().map(|e| e.attr("id").unwrap_or("")).collect::<Vec<_>>(), ["1", "2"]);
        assert!(matches!(m.recv(&mut out, 64).await, Mail::Overflow));
    }

    #[tokio::test]
    async fn close_is_accepted_when_full_and_comes_after_queued_stanzas() {
        let m = Mailbox::new(1);
        assert!(m.try_send(msg(1)).is_ok());
        m.close_with(StreamError::new(StreamErrorCondition::Conflict));
        m.close_with(StreamError::new(StreamErrorCondition::SystemShutdown));
        let mut out = Vec::new();
        assert!(matches!(m.recv(&mut out, 64).await, Mail::Stanzas));
        match m.recv(&mut out, 64).await {
            Mail::Close(e) => assert_eq!(e.condition, StreamErrorCondition::Conflict),
            other => panic!("expected close, got {other:?}"),
        }
        assert!(matches!(m.try_send(msg(2)), Err(SendError::Closed(_))));
    }

    #[tokio::test]
    async fn wakes_a_waiting_receiver() {
        let m = Mailbox::new(4);
        let m2 = m.clone();
        let waiter = tokio::spawn(async move {
            let mut out = Vec::new();
            let _ = m2.recv(&mut out, 64).await;
            out.len()
        });
        tokio::task::yield_now().await;
        assert!(m.try_send(msg(1)).is_ok());
        assert_eq!(waiter.await.unwrap_or(0), 1);
    }

    #[test]
    fn leftovers_come_back_when_the_receiver_goes() {
        let m = Mailbox::new(4);
        assert!(m.try_send(msg(1)).is_ok());
        assert_eq!(m.close_receiver().len(), 1);
        assert!(matches!(m.try_send(msg(2)), Err(SendError::Closed(_))));
    }

    #[tokio::test]
    async fn takeover_comes_first_and_leaves_the_queue_in_place() {
        let m = Mailbox::new(4);
        assert!(m.try_send(msg(1)).is_ok());
        m.request_takeover();
        let mut out = Vec::new();
        assert!(matches!(m.recv(&mut out, 64).await, Mail::Takeover));
        assert!(out.is_empty());
        assert!(matches!(m.recv(&mut out, 64).await, Mail::Stanzas));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn empty_mailbox_is_small() {
        // Arc header + mutex + empty VecDeque + close slot + flags + Notify + capacity.
        assert!(std::mem::size_of::<Inner>() <= 160, "{}", std::mem::size_of::<Inner>());
    }
}
