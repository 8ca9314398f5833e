//! Stream Management in a bound session (XEP-0198 §3-§4): `<enable/>`, `<r/>`, `<a/>`, and the
//! server's own ack requests. Also the dispatch of every non-`jabber:client` top-level element
//! of a bound stream (SM and CSI nonzas).

use super::StreamExt;
use crate::c2s::conn::Conn;
use crate::modules::{csi, Me};
use crate::server::ServerRef;
use crate::session::Mailbox;
use meerkat_proto::error::{StreamError, StreamErrorCondition as C};
use meerkat_stream::sm::{self, Nonza, StreamManagement};
use meerkat_xml::Element;
use std::time::{Duration, Instant};

/// What the session loop does after a nonza.
#[derive(Debug)]
pub enum Outcome {
    /// Go on.
    Continue,
    /// End the stream with this error.
    Fail(StreamError),
    /// A stream error element was queued: close the stream.
    Close,
}

/// A top-level element outside `jabber:client` in a bound stream.
pub fn nonza(
    server: &ServerRef,
    conn: &mut Conn,
    me: &Me,
    mailbox: &Mailbox,
    el: &Element,
) -> Outcome {
    let modules = &server.config.modules;
    if el.ns == sm::NS && modules.stream_management.enabled {
        return sm_nonza(server, conn, me, mailbox, el);
    }
    if el.ns == csi::NS && modules.csi.enabled {
        return match csi::nonza(conn, el) {
            true => Outcome::Continue,
            false => Outcome::Fail(StreamError::new(C::UnsupportedStanzaType)),
        };
    }
    Outcome::Fail(StreamError::new(C::UnsupportedStanzaType))
}

fn sm_nonza(
    server: &ServerRef,
    conn: &mut Conn,
    me: &Me,
    mailbox: &Mailbox,
    el: &Element,
) -> Outcome {
    let nonza = match sm::parse(el) {
        Ok(Some(n)) => n,
        Ok(None) => return Outcome::Fail(StreamError::new(C::UnsupportedStanzaType)),
        Err(e) => return Outcome::Fail(StreamError::with_text(C::BadFormat, e.to_string())),
    };
    let enabled = conn.ext.as_ref().is_some_and(|x| x.sm.is_some());
    match nonza {
        Nonza::Enable { resume, max } => {
            if enabled {
                conn.queue(&sm::failed("unexpected-request", None));
                return Outcome::Continue;
            }
            enable(server, conn, me, mailbox, resume, max);
        }
        // A bound stream cannot resume another session (XEP-0198 §5: before binding only).
        Nonza::Resume { .. } => conn.queue(&sm::failed("unexpected-request", None)),
        Nonza::Request => match sm_state(conn) {
            Some(s) => {
                let a = sm::ack(s.handled());
                conn.queue(&a);
            }
            None => return not_enabled(),
        },
        Nonza::Ack(h) => {
            let Some(s) = sm_state(conn) else { return not_enabled() };
            if let Err(sm::AckError::HandledCountTooHigh { h, sent }) = s.on_ack(h) {
                tracing::warn!(what = "sm_handled_count_too_high", jid = %me.full(), h, sent);
                conn.queue(&handled_count_too_high(h, sent));
                return Outcome::Close;
            }
        }
    }
    Outcome::Continue
}

fn not_enabled() -> Outcome {
    Outcome::Fail(StreamError::with_text(
        C::UnsupportedStanzaType,
        "Stream Management is not enabled on this stream",
    ))
}

/// `<enable/>`: fresh counters; with `resume`, an id registered for this user and the
/// resumption time (the client's `max` if shorter than ours).
fn enable(
    server: &ServerRef,
    conn: &mut Conn,
    me: &Me,
    mailbox: &Mailbox,
    resume: bool,
    client_max: Option<u32>,
) {
    let cfg = &server.config.modules.stream_management;
    let mut state = StreamManagement::new(limits(server));
    let reply = if resume {
        let id = crate::cluster::resume::resumption_id(server);
        let secs = client_max.unwrap_or(cfg.resume_timeout_s).min(cfg.max_resume_timeout_s).max(1);
        server.sm_registry.insert(&id, &me.bare, mailbox.clone());
        let reply = sm::enabled(Some((&id, secs)));
        state.set_resumable(id, secs);
        reply
    } else {
        sm::enabled(None)
    };
    // Queued before the state exists: `<enabled/>` is a nonza, and counting starts after it.
    conn.queue(&reply);
    conn.ext.get_or_insert_with(Box::default).sm = Some(state);
    tracing::debug!(what = "sm_enabled", jid = %me.full(), resume);
}

/// Bounds of every session's SM state, from `[modules.stream_management]`.
pub fn limits(server: &ServerRef) -> sm::Limits {
    let cfg = &server.config.modules.stream_management;
    sm::Limits {
        max_unacked: cfg.max_unacked_stanzas,
        request_every: cfg.ack_request_every_stanzas,
        request_after: Duration::from_millis(cfg.ack_request_after_ms),
    }
}

fn sm_state(conn: &mut Conn) -> Option<&mut StreamManagement> {
    conn.ext.as_mut().and_then(|x| x.sm.as_mut())
}

/// `<stream:error><undefined-condition/><handled-count-too-high h send-count/></stream:error>`
/// (XEP-0198 §4).
pub fn handled_count_too_high(h: u32, sent: u32) -> Element {
    let mut e = StreamError::new(C::UndefinedCondition).to_element();
    e = e.with_child(sm::handled_count_too_high(h, sent));
    e
}

/// A `jabber:client` stanza from the client was handled: count it.
pub fn on_inbound(conn: &mut Conn) {
    if let Some(s) = sm_state(conn) {
        s.on_inbound();
    }
}

/// When the session loop must wake for a time-based ack request.
pub fn deadline(conn: &Conn) -> Option<tokio::time::Instant> {
    let s = conn.ext.as_ref()?.sm.as_ref()?;
    s.request_deadline().map(tokio::time::Instant::from_std)
}

/// After writing stanzas: queues `<r/>` when one is due; returns the stream error that ends
/// the session when the unacked queue overflowed (the client does not ack: its stanzas are
/// re-routed at cleanup).
pub fn after_write(conn: &mut Conn) -> Option<StreamError> {
    let s = sm_state(conn)?;
    if s.overflowed() {
        return Some(StreamError::with_text(C::PolicyViolation, "Too many unacknowledged stanzas"));
    }
    if s.take_request(Instant::now()) {
        conn.queue(&sm::request());
    }
    None
}

/// An attached session got [`crate::session::Mail::Takeover`]: true when a resuming
/// connection still waits for it (one that gave up leaves this connection serving).
pub fn takeover_wanted(server: &ServerRef, conn: &Conn) -> bool {
    let id = conn.ext.as_ref().and_then(|x| x.sm.as_ref()).and_then(|s| s.resumable());
    id.is_some_and(|(id, _)| server.sm_registry.has_waiter(id))
}

/// True when the connection's SM state is resumable.
pub fn resumable(conn: &Conn) -> bool {
    conn.ext.as_ref().and_then(|x| x.sm.as_ref()).is_some_and(|s| s.resumable().is_some())
}

/// Takes the extension state off the connection (the session ends or moves).
pub fn take_ext(conn: &mut Conn) -> Option<Box<StreamExt>> {
    conn.ext.take()
}
