//! Stream Management (XEP-0198, `urn:xmpp:sm:3`) in the c2s session: acks, and resumption of a
//! session whose connection broke.
//!
//! The protocol state (counters, unacked queue, nonzas) is sans-I/O in [`meerkat_stream::sm`];
//! this module glues it to the session loop:
//! - [`StreamExt`] hangs off the connection (`Conn::ext`, `None` until the client enables SM or
//!   says it is inactive, so idle sessions pay one pointer). Every `jabber:client` stanza the
//!   connection writes is counted there and kept until acknowledged.
//! - [`session`]: `<enable/>`, `<r/>`, `<a/>` in a bound session, the server's own `<r/>`.
//! - [`registry`]: resumption ids of resumable sessions, and the take-over hand-off.
//! - [`detached`]: the wait of a session whose connection broke, and what happens at its end.
//!
//! # Resumption, step by step
//! ```text
//! old connection breaks -> session task: Detached wait (still bound, presence unchanged)
//!                          mailbox stanzas -> unacked queue (bounded)
//! new connection: SASL, <resume previd h/> -> registry: id known, same user?
//!                          -> slot.waiter = oneshot; mailbox.request_takeover()
//! old task sees Mail::Takeover -> sends its state through the oneshot, ends (old conn closed)
//! new task: acks h, <resumed/>, retransmits the unacked queue, serves the same session
//! timeout / clean close -> unbind, unavailable presence, unacked messages re-routed to the
//!                          bare JID (other resource or offline), unacked IQ requests bounced
//! ```
//! The take-over works the same whether the old connection is already detached or still
//! attached (the client noticed the break first); an attached one is closed with `conflict`.
//!
//! In a cluster the id names the node that issued it, and a client may resume on any node:
//! the session moves there (see [`crate::cluster::resume`]).

pub mod detached;
pub mod registry;
pub mod session;

use crate::modules::csi;
use crate::modules::presence::SessionPresence;
use crate::modules::Me;
use crate::session::Mailbox;
use meerkat_stream::sm::StreamManagement;
use meerkat_xml::Element;

pub use registry::{take_over, Registry};

/// Per-connection state of the optional stream extensions (XEP-0198, XEP-0352). Allocated the
/// first time the client uses one, so idle sessions without them do not grow.
#[derive(Debug, Default)]
pub struct StreamExt {
    /// Stream Management once enabled.
    pub sm: Option<StreamManagement>,
    /// Client State Indication once the client said it is inactive.
    pub csi: Option<csi::Held>,
}

impl StreamExt {
    /// A `jabber:client` stanza was written: counted and kept until acknowledged.
    pub fn on_written(&mut self, stanza: &Element) {
        if let Some(sm) = &mut self.sm {
            sm.on_outbound(stanza.clone(), std::time::Instant::now());
        }
    }
}

/// A session without a connection, handed from the task that held it to the one resuming it.
pub struct Detached {
    /// Who.
    pub me: Me,
    /// Presence state (the session stays available while detached).
    pub presence: SessionPresence,
    /// The session's mailbox (the same entry stays in the session table).
    pub mailbox: Mailbox,
    /// Counters and unacked stanzas.
    pub sm: StreamManagement,
}

/// A fresh, unguessable resumption id: 128 random bits from the thread's CSPRNG. Resuming also
/// checks that the id belongs to the authenticated user (see [`registry`]).
pub fn new_resumption_id() -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{n:032x}")
}

/// Moves a resumable session off its broken connection: the SM state leaves the connection,
/// and what CSI held joins the unacked queue (a resumed stream starts active, XEP-0352 §3).
/// Gives the parts back (boxed) when the connection's session is not resumable.
pub fn detach(
    conn: &mut crate::c2s::conn::Conn,
    me: Me,
    presence: SessionPresence,
    mailbox: Mailbox,
) -> Result<Box<Detached>, Box<(Me, SessionPresence, Mailbox)>> {
    let ext = conn.ext.take();
    let Some(StreamExt { sm: Some(mut sm), csi }) = ext.map(|b| *b) else {
        return Err(Box::new((me, presence, mailbox)));
    };
    if let Some(csi) = csi {
        let now = std::time::Instant::now();
        for el in csi.into_held() {
            sm.on_outbound(el, now);
        }
    }
    Ok(Box::new(Detached { me, presence, mailbox, sm }))
}

/// Serves `<resume/>` on the new connection (XEP-0198 §5): acknowledges the client's `h`,
/// queues `<resumed/>` and retransmits every unacknowledged stanza, and installs the SM state
/// on the connection. The flag is false when `h` acknowledges more than was sent: the stream
/// error is queued, and the caller closes the stream and ends the session (whose stanzas then
/// get re-routed from the state left on the connection).
pub fn resume(
    conn: &mut crate::c2s::conn::Conn,
    d: Detached,
    previd: &str,
    h: u32,
) -> (Me, SessionPresence, Mailbox, bool) {
    let Detached { me, presence, mailbox, mut sm } = d;
    if let Err(meerkat_stream::sm::AckError::HandledCountTooHigh { h, sent }) = sm.on_ack(h) {
        tracing::warn!(what = "sm_handled_count_too_high", jid = %me.full(), h, sent);
        conn.queue(&session::handled_count_too_high(h, sent));
        conn.ext = Some(Box::new(StreamExt { sm: Some(sm), csi: None }));
        return (me, presence, mailbox, false);
    }
    conn.queue(&meerkat_stream::sm::resumed(previd, sm.handled()));
    // Not counted again: the connection has no SM state yet, and these stay in the queue.
    for el in sm.unacked() {
        conn.queue(el);
    }
    tracing::info!(what = "session_resumed", jid = %me.full(), retransmitted = sm.unacked_len());
    conn.ext = Some(Box::new(StreamExt { sm: Some(sm), csi: None }));
    (me, presence, mailbox, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_without_sm_or_csi_pay_one_pointer() {
        assert_eq!(std::mem::size_of::<Option<Box<StreamExt>>>(), 8);
        // Allocated only once SM or CSI is used; keep growth visible.
        let size = std::mem::size_of::<StreamExt>();
        assert!(size <= 192, "StreamExt is {size} bytes");
    }

    #[test]
    fn resumption_ids_are_128_bit_hex_and_differ() {
        let (a, b) = (new_resumption_id(), new_resumption_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
