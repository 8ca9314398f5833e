//! One BOSH session (XEP-0124 §7-§14): the state shared by the HTTP requests of the session and
//! the c2s task that runs its XMPP stream.
//!
//! The two sides meet here, under one short-held std mutex (never held across an `.await`):
//! - HTTP requests ([`Session::request`]) pass the rid window, hand their payload to the c2s
//!   task as stream events (in rid order, early requests wait for the gap to fill), and are
//!   then *held*: each waits for the c2s task's next output, at most `wait` seconds.
//! - The c2s task ([`Session::push_out`], via [`crate::c2s::bosh`]) queues what it writes; a
//!   flush answers the oldest held request with everything queued, batched into one body. With
//!   no request held, output waits for the next request.
//!
//! Rules enforced here, with their sections:
//! - hold (§11): when a new request makes more than `hold` requests wait, the oldest is answered
//!   at once (empty when nothing is queued), so a client can always send.
//! - requests (§11, §14): early requests beyond the window, or more early requests than
//!   `requests`, end the session (`item-not-found`, `policy-violation`); a repeated rid gets
//!   the kept response again, or takes over the request still waiting under that rid.
//! - inactivity (§7.2): the session ends when no request is held for `inactivity` seconds; the
//!   c2s task watches [`Session::idle_deadline`] and ends the XMPP session (unavailable
//!   presence is broadcast as for any lost connection).
//! - pause (§12): a request with `pause` (at most `maxpause`) answers every held request and
//!   stretches the next idle period to the pause once.
//! - terminate (§13): the client's terminating body is processed (its stanzas, then the end of
//!   the stream); the c2s task's closing output answers it with `type='terminate'`.
//!
//! Memory per session: the inbound queue is at most [`MAX_INBOUND_BODIES`] bodies of at most
//! `bosh_max_body_bytes`; queued output is at most [`MAX_OUT_BYTES`] (a client that stops
//! polling while stanzas arrive loses its session, and the c2s task re-routes what is still in
//! its mailbox); kept responses are at most `requests` bodies.

use meerkat_stream::bosh::{
    creation_attrs, terminate_attrs, write_body, Body, Condition, Params, RidCheck, RidWindow,
};
use meerkat_xml::{Element, StreamEvent, StreamOpen};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::{oneshot, Notify};
use tokio::time::{Duration, Instant};

/// Most request bodies queued for the c2s task before the client counts as flooding.
pub const MAX_INBOUND_BODIES: usize = 16;

/// Most output bytes queued with no request to carry them.
pub const MAX_OUT_BYTES: usize = 1024 * 1024;

/// The session is over: nothing more can be read or written.
#[derive(Debug, thiserror::Error)]
#[error("BOSH session over")]
pub struct SessionOver;

/// A waiting HTTP request's way back.
pub type Waiter = oneshot::Sender<Vec<u8>>;

/// How a request is answered.
pub enum Reply {
    /// At once with this body.
    Now(Vec<u8>),
    /// Later: held until output, `wait`, hold overflow or the session's end.
    Held(u64, oneshot::Receiver<Vec<u8>>),
}

/// A session's shared state.
pub struct Session {
    /// The session id: 128 random bits, hex.
    pub sid: String,
    /// Negotiated parameters.
    pub params: Params,
    /// The host the session is for (`to` of the creation request).
    pub host: String,
    /// True when the session was created over HTTPS.
    pub tls: bool,
    state: Mutex<State>,
    /// Wakes the c2s task: input arrived, the session ended, or its idle deadline moved.
    conn_wake: Notify,
}

struct Held {
    rid: u64,
    tx: Waiter,
}

struct State {
    window: RidWindow,
    /// Requests ahead of the next rid, waiting for the gap to fill.
    early: Vec<(Body, Waiter)>,
    /// Held requests, oldest (lowest rid) first.
    held: VecDeque<Held>,
    /// Output queued by the c2s task that no response has carried yet.
    out: Vec<u8>,
    /// Set once the stream ended: the next response terminates the session (with a condition).
    out_terminate: Option<Option<Condition>>,
    /// Attributes of the creation response, until the first response carries them.
    creation: Option<Vec<(&'static str, String)>>,
    /// Stream events for the c2s task, and the request bytes they came from.
    inbound: VecDeque<StreamEvent>,
    inbound_bodies: usize,
    inbound_bytes: usize,
    /// Since when no request is held.
    idle_since: Option<Instant>,
    /// A granted pause, in seconds, replacing `inactivity` for the current idle period.
    pause_s: Option<u64>,
    /// When the last request was processed (for `polling`).
    last_request: Option<Instant>,
    /// The session is over: no request is held or accepted any more.
    ended: bool,
    /// Why it ended, for the log.
    end_reason: Option<&'static str>,
}

impl Session {
    /// A new session for the creation request `body` (already checked: host served). The
    /// creation request itself is held until the stream's first output (its features).
    pub fn create(
        sid: String,
        params: Params,
        host: String,
        tls: bool,
        authid: &str,
        body: &Body,
    ) -> (Session, oneshot::Receiver<Vec<u8>>) {
        let (tx, rx) = oneshot::channel();
        let mut held = VecDeque::new();
        held.push_back(Held { rid: body.rid, tx });
        let mut inbound = VecDeque::new();
        inbound.push_back(open_event(&host, body.lang.as_deref()));
        let state = State {
            window: RidWindow::new(body.rid, params.requests),
            early: Vec::new(),
            held,
            out: Vec::new(),
            out_terminate: None,
            creation: Some(creation_attrs(&params, &sid, &host, authid)),
            inbound,
            inbound_bodies: 1,
            inbound_bytes: 0,
            idle_since: None,
            pause_s: None,
            last_request: Some(Instant::now()),
            ended: false,
            end_reason: None,
        };
        let s =
            Session { sid, params, host, tls, state: Mutex::new(state), conn_wake: Notify::new() };
        (s, rx)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough state (every step below
        // completes or does nothing); keep serving rather than poison every later request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Handles a request for this session: `body` was parsed from `len` bytes.
    pub fn request(&self, body: Body, len: usize) -> Reply {
        let mut st = self.lock();
        if st.ended {
            return Reply::Now(terminate(Some(Condition::ItemNotFound)));
        }
        let rid = body.rid;
        let reply = match st.window.check(rid) {
            RidCheck::Invalid => self.fail(&mut st, Condition::ItemNotFound, "rid_out_of_window"),
            RidCheck::Repeat => {
                if let Some(kept) = st.window.kept(rid) {
                    crate::metrics::get().bosh_retransmissions.increment(1);
                    return Reply::Now(kept.to_vec());
                }
                match st.held.iter_mut().find(|h| h.rid == rid) {
                    // The client lost the connection that waited: the new one waits instead.
                    Some(h) => {
                        let (tx, rx) = oneshot::channel();
                        h.tx = tx;
                        Reply::Held(rid, rx)
                    }
                    None => self.fail(&mut st, Condition::ItemNotFound, "rid_repeat_unknown"),
                }
            }
            RidCheck::Early => {
                if st.early.len() >= self.params.requests as usize
                    || st.early.iter().any(|(b, _)| b.rid == rid)
                {
                    self.fail(&mut st, Condition::PolicyViolation, "too_many_requests")
                } else {
                    let (tx, rx) = oneshot::channel();
                    st.early.push((body, tx));
                    Reply::Held(rid, rx)
                }
            }
            RidCheck::Next => {
                let (tx, rx) = oneshot::channel();
                let mut next = Some((body, tx, len));
                while let Some((body, tx, len)) = next.take() {
                    if let Err(c) = self.process(&mut st, body, tx, len) {
                        return self.fail(&mut st, c, "request_refused");
                    }
                    let want = st.window.last().saturating_add(1);
                    if let Some(i) = st.early.iter().position(|(b, _)| b.rid == want) {
                        let (b, tx) = st.early.swap_remove(i);
                        next = Some((b, tx, 0));
                    }
                }
                Reply::Held(rid, rx)
            }
        };
        drop(st);
        self.conn_wake.notify_one();
        reply
    }

    /// Processes the next request in rid order: its payload goes to the c2s task and it is
    /// held (or answered at once for `pause`, or by hold overflow).
    fn process(&self, st: &mut State, body: Body, tx: Waiter, len: usize) -> Result<(), Condition> {
        st.window.advance();
        let now = Instant::now();
        let polled = st.last_request.replace(now);
        // §11: a polling session (hold 0) that sends empty requests faster than `polling` is
        // overactive. Requests that carry something, pause or terminate are always allowed.
        let empty = body.payload.is_empty() && !body.restart && !body.terminate;
        let too_soon = polled
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(self.params.polling_s));
        if self.params.hold == 0
            && empty
            && body.pause_s.is_none()
            && st.held.is_empty()
            && too_soon
        {
            return Err(Condition::PolicyViolation);
        }
        if st.inbound_bodies >= MAX_INBOUND_BODIES {
            return Err(Condition::PolicyViolation);
        }
        if body.restart {
            // XEP-0206 §5: a restart is a new stream header on the same session.
            st.inbound.push_back(open_event(&self.host, body.lang.as_deref()));
        }
        let any = body.restart || body.terminate || !body.payload.is_empty();
        st.inbound.extend(body.payload.into_iter().map(StreamEvent::Stanza));
        if body.terminate {
            st.inbound.push_back(StreamEvent::Close);
        }
        if any {
            st.inbound_bodies += 1;
        }
        st.inbound_bytes = st.inbound_bytes.saturating_add(len);
        st.held.push_back(Held { rid: body.rid, tx });
        st.idle_since = None;
        st.pause_s = None;
        if let Some(p) = body.pause_s {
            if p > self.params.max_pause_s {
                return Err(Condition::PolicyViolation);
            }
            // §12: every held request is answered now; the client comes back within `p`.
            while !st.held.is_empty() {
                answer_oldest(st);
            }
            st.pause_s = Some(p);
            return Ok(());
        }
        // Output already queued goes out at once; and at most `hold` requests wait (§11).
        if !st.out.is_empty() || st.out_terminate.is_some() {
            answer_oldest(st);
        }
        while st.held.len() > self.params.hold as usize {
            answer_oldest(st);
        }
        Ok(())
    }

    /// Ends the session for a client's fault, answering every held request, and gives the
    /// answer for the faulty request.
    fn fail(&self, st: &mut State, c: Condition, why: &'static str) -> Reply {
        tracing::debug!(what = "bosh_terminated", sid = %self.sid, condition = c.as_str(), why);
        crate::metrics::get().bosh_terminated.increment(1);
        end(st, Some(c), why);
        Reply::Now(terminate(Some(c)))
    }

    /// Ends the session from outside (oversized body, node shutdown).
    pub fn terminate(&self, c: Condition, why: &'static str) {
        tracing::debug!(what = "bosh_terminated", sid = %self.sid, condition = c.as_str(), why);
        crate::metrics::get().bosh_terminated.increment(1);
        end(&mut self.lock(), Some(c), why);
        self.conn_wake.notify_one();
    }

    /// A held request's `wait` passed: answer it (empty) unless it was answered meanwhile.
    pub fn expire(&self, rid: u64) {
        let mut st = self.lock();
        // Responses go out in rid order (§14.1): older held requests are answered first.
        while st.held.iter().any(|h| h.rid == rid) {
            answer_oldest(&mut st);
        }
        drop(st);
        self.conn_wake.notify_one();
    }

    /// Takes the stream events for the c2s task and the request bytes they came from;
    /// `Err` once the session is over and nothing is left to read.
    pub fn take_inbound(&self, into: &mut VecDeque<StreamEvent>) -> Result<usize, SessionOver> {
        let mut st = self.lock();
        if st.inbound.is_empty() && st.inbound_bytes == 0 && st.ended {
            return Err(SessionOver);
        }
        into.append(&mut st.inbound);
        st.inbound_bodies = 0;
        Ok(std::mem::take(&mut st.inbound_bytes))
    }

    /// True when input is waiting for the c2s task (or the session ended).
    fn has_inbound(&self) -> bool {
        let st = self.lock();
        !st.inbound.is_empty() || st.inbound_bytes > 0 || st.ended
    }

    /// When the session times out for inactivity (§7.2): `inactivity` (or the granted pause)
    /// after the last held request was answered; `None` while a request is held.
    pub fn idle_deadline(&self) -> Option<Instant> {
        let st = self.lock();
        let secs = st.pause_s.unwrap_or(self.params.inactivity_s);
        st.idle_since.map(|t| t + Duration::from_secs(secs))
    }

    /// Waits until input arrives, the session ends, or the idle deadline passes (then the
    /// session ends for inactivity). Cancel-safe.
    pub async fn wait_inbound(&self) {
        loop {
            let notified = self.conn_wake.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.has_inbound() {
                return;
            }
            match self.idle_deadline() {
                Some(d) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(d) => {
                            // Re-checked under the lock: a request may have come in meanwhile.
                            let mut st = self.lock();
                            let secs = st.pause_s.unwrap_or(self.params.inactivity_s);
                            let late = st.idle_since.is_some_and(|t| {
                                Instant::now() >= t + Duration::from_secs(secs)
                            });
                            if late {
                                end(&mut st, None, "inactivity");
                                return;
                            }
                        }
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Queues the c2s task's output and answers the oldest held request with everything
    /// queued. `terminate` is set when the stream ended (with `remote-stream-error` after a
    /// stream error). Fails when the client left too much output unfetched, or is gone.
    pub fn push_out(
        &self,
        bytes: &[u8],
        terminate: Option<Option<Condition>>,
    ) -> Result<(), SessionOver> {
        let mut st = self.lock();
        if st.ended {
            return Err(SessionOver);
        }
        st.out.extend_from_slice(bytes);
        if terminate.is_some() {
            st.out_terminate = terminate;
        }
        // A flush with nothing new (the session loop flushes after every read) answers nobody.
        if !st.held.is_empty() && (!st.out.is_empty() || st.out_terminate.is_some()) {
            answer_oldest(&mut st);
        }
        if let Some(c) = st.out_terminate {
            // Nothing more will be written: the rest learn the session is over.
            end(&mut st, c, "stream_closed");
            return Ok(());
        }
        if st.out.len() > MAX_OUT_BYTES {
            end(&mut st, Some(Condition::PolicyViolation), "output_not_fetched");
            return Err(SessionOver);
        }
        Ok(())
    }

    /// Ends the session once its c2s task is over (no-op when it already ended).
    pub fn close(&self) {
        end(&mut self.lock(), None, "closed");
    }

    /// Why the session ended, for the log.
    pub fn end_reason(&self) -> Option<&'static str> {
        self.lock().end_reason
    }
}

/// The stream header a session creation or restart stands for (XEP-0206 §3, §5).
fn open_event(host: &str, lang: Option<&str>) -> StreamEvent {
    let mut element = Element::new("stream", meerkat_xml::NS_STREAM)
        .with_attr("to", host)
        .with_attr("version", "1.0");
    if let Some(l) = lang {
        element.set_attr("xml:lang", l);
    }
    StreamEvent::Open(StreamOpen {
        element,
        default_ns: Some(meerkat_proto::ns::CLIENT.to_owned()),
    })
}

/// A terminating body with `c`.
pub fn terminate(c: Option<Condition>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    write_body(&mut out, &terminate_attrs(c), b"");
    out
}

/// Answers the oldest held request with all queued output (and the creation attributes, or
/// the termination, where due), keeping the response for retransmission.
fn answer_oldest(st: &mut State) {
    let Some(h) = st.held.pop_front() else { return };
    let payload = std::mem::take(&mut st.out);
    let mut attrs = st.creation.take().unwrap_or_default();
    if let Some(c) = st.out_terminate {
        attrs.extend(terminate_attrs(c));
    }
    let mut resp = Vec::with_capacity(payload.len() + 64 + attrs.len() * 24);
    write_body(&mut resp, &attrs, &payload);
    st.window.keep(h.rid, resp.clone());
    // A client that dropped the connection gets this again by repeating the rid (§14.3).
    let _ = h.tx.send(resp);
    if st.held.is_empty() {
        st.idle_since = Some(Instant::now());
    }
}

/// Marks the session over and answers every waiting request with a termination.
fn end(st: &mut State, c: Option<Condition>, why: &'static str) {
    if st.ended {
        return;
    }
    st.ended = true;
    st.end_reason = Some(why);
    let body = terminate(c);
    for h in st.held.drain(..) {
        let _ = h.tx.send(body.clone());
    }
    for (_, tx) in st.early.drain(..) {
        let _ = tx.send(body.clone());
    }
    st.out = Vec::new();
    st.inbound.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use meerkat_stream::bosh::parse_body;

    const PARAMS: Params = Params {
        wait_s: 60,
        hold: 1,
        requests: 2,
        inactivity_s: 30,
        polling_s: 2,
        max_pause_s: 120,
    };

    fn body(rid: u64, attrs: &str, payload: &str) -> Body {
        let xml = format!(
            "<body rid='{rid}' sid='S' xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:xmpp='urn:xmpp:xbosh'{attrs}>{payload}</body>"
        );
        parse_body(xml.as_bytes(), meerkat_xml::Limits::default()).expect("body")
    }

    /// A session created by rid 10, its creation request answered by the features.
    fn session() -> Session {
        let (s, mut rx) =
            Session::create("S".into(), PARAMS, "localhost".into(), false, "A", &body(10, "", ""));
        assert!(rx.try_recv().is_err(), "creation answered before the features");
        s.push_out(b"<stream:features/>", None).unwrap();
        let created = String::from_utf8(rx.try_recv().unwrap()).unwrap();
        assert!(created.contains(" sid='S' wait='60' hold='1' requests='2'"), "{created}");
        assert!(created.ends_with("><stream:features/></body>"), "{created}");
        s
    }

    fn held(r: Reply) -> oneshot::Receiver<Vec<u8>> {
        match r {
            Reply::Held(_, rx) => rx,
            Reply::Now(b) => panic!("answered at once: {}", String::from_utf8_lossy(&b)),
        }
    }

    fn now(r: Reply) -> String {
        match r {
            Reply::Now(b) => String::from_utf8(b).unwrap(),
            Reply::Held(..) => panic!("held"),
        }
    }

    fn answered(rx: &mut oneshot::Receiver<Vec<u8>>) -> Option<String> {
        rx.try_recv().ok().map(|b| String::from_utf8(b).unwrap())
    }

    const EMPTY: &str = "<body xmlns='http://jabber.org/protocol/httpbind'/>";

    #[test]
    fn an_empty_flush_answers_nobody_and_output_answers_the_held_request() {
        let s = session();
        let mut a = held(s.request(body(11, "", ""), 10));
        s.push_out(b"", None).unwrap();
        assert_eq!(answered(&mut a), None);
        s.push_out(b"<message xmlns='jabber:client'/>", None).unwrap();
        assert_eq!(
            answered(&mut a).unwrap(),
            "<body xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:stream='http://etherx.jabber.org/streams'>\
             <message xmlns='jabber:client'/></body>"
        );
        // Output with no request held waits for the next one, which gets it at once.
        s.push_out(b"<a/>", None).unwrap();
        s.push_out(b"<b/>", None).unwrap();
        let mut b = held(s.request(body(12, "", ""), 10));
        assert!(answered(&mut b).unwrap().ends_with("><a/><b/></body>"));
    }

    #[test]
    fn a_request_beyond_hold_answers_the_older_one() {
        let s = session();
        let mut a = held(s.request(body(11, "", ""), 10));
        let mut b = held(s.request(body(12, "", ""), 10));
        assert_eq!(answered(&mut a).as_deref(), Some(EMPTY));
        assert_eq!(answered(&mut b), None);
    }

    #[test]
    fn early_requests_wait_for_the_gap_and_are_read_in_rid_order() {
        let s = session();
        let mut events = VecDeque::new();
        s.take_inbound(&mut events).unwrap();
        events.clear();
        let mut b = held(s.request(body(12, "", "<message xmlns='jabber:client' id='2'/>"), 10));
        assert!(!s.has_inbound(), "an early body was handed over");
        let mut a = held(s.request(body(11, "", "<message xmlns='jabber:client' id='1'/>"), 10));
        s.take_inbound(&mut events).unwrap();
        let ids: Vec<_> = events
            .iter()
            .map(|e| match e {
                StreamEvent::Stanza(el) => el.attr("id").unwrap_or_default().to_owned(),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(ids, ["1", "2"]);
        // Hold 1: the older of the two is answered.
        assert_eq!(answered(&mut a).as_deref(), Some(EMPTY));
        assert_eq!(answered(&mut b), None);
    }

    #[test]
    fn a_repeated_rid_gets_the_kept_response() {
        let s = session();
        let mut a = held(s.request(body(11, "", ""), 10));
        s.push_out(b"<x/>", None).unwrap();
        let first = answered(&mut a).unwrap();
        assert_eq!(now(s.request(body(11, "", ""), 10)), first);
        // A repeat of a request still held takes it over.
        let mut b = held(s.request(body(12, "", ""), 10));
        let mut b2 = held(s.request(body(12, "", ""), 10));
        assert!(b.try_recv().is_err());
        s.push_out(b"<y/>", None).unwrap();
        assert!(answered(&mut b2).unwrap().ends_with("><y/></body>"));
    }

    #[test]
    fn rids_outside_the_window_end_the_session() {
        let s = session();
        let mut a = held(s.request(body(11, "", ""), 10));
        let ahead = now(s.request(body(14, "", ""), 10));
        assert!(ahead.ends_with("type='terminate' condition='item-not-found'/>"), "{ahead}");
        assert!(answered(&mut a).unwrap().contains("condition='item-not-found'"));
        let after = now(s.request(body(12, "", ""), 10));
        assert!(after.contains("item-not-found"), "{after}");
        let mut events = VecDeque::new();
        s.take_inbound(&mut events).unwrap();
        assert!(s.take_inbound(&mut events).is_err(), "the c2s side reads the end");
        assert!(s.push_out(b"<z/>", None).is_err());
    }

    #[test]
    fn pause_answers_every_held_request_and_stretches_inactivity() {
        let s = session();
        let mut a = held(s.request(body(11, "", ""), 10));
        let mut p = held(s.request(body(12, " pause='100'", ""), 10));
        assert_eq!(answered(&mut a).as_deref(), Some(EMPTY));
        assert_eq!(answered(&mut p).as_deref(), Some(EMPTY));
        let left = s.idle_deadline().unwrap() - Instant::now();
        assert!(left > Duration::from_secs(90), "{left:?}");
        // The next request ends the pause.
        let _c = held(s.request(body(13, "", ""), 10));
        assert_eq!(s.idle_deadline(), None);
        let too_long = now(s.request(body(14, " pause='121'", ""), 10));
        assert!(too_long.contains("policy-violation"), "{too_long}");
    }

    #[test]
    fn the_end_of_the_stream_answers_with_terminate() {
        let s = session();
        let mut t = held(s.request(body(11, " type='terminate'", ""), 10));
        let mut events = VecDeque::new();
        s.take_inbound(&mut events).unwrap();
        assert!(matches!(events.back(), Some(StreamEvent::Close)));
        s.push_out(b"", Some(None)).unwrap();
        assert_eq!(
            answered(&mut t).unwrap(),
            "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate'/>"
        );
        // A stream error is carried with remote-stream-error.
        let s = session();
        let mut a = held(s.request(body(11, "", ""), 10));
        s.push_out(b"<stream:error/>", Some(Some(Condition::RemoteStreamError))).unwrap();
        let r = answered(&mut a).unwrap();
        assert!(
            r.contains(" type='terminate' condition='remote-stream-error'><stream:error/></body>"),
            "{r}"
        );
    }

    #[test]
    fn a_polling_session_that_polls_too_often_is_overactive() {
        let params = Params { hold: 0, requests: 1, ..PARAMS };
        let (s, mut rx) =
            Session::create("S".into(), params, "localhost".into(), false, "A", &body(10, "", ""));
        s.push_out(b"<stream:features/>", None).unwrap();
        assert!(answered(&mut rx).is_some());
        // Stanzas may always be sent; with hold 0 the request is answered at once.
        let mut a = held(s.request(body(11, "", "<presence xmlns='jabber:client'/>"), 10));
        assert_eq!(answered(&mut a).as_deref(), Some(EMPTY));
        let r = now(s.request(body(12, "", ""), 10));
        assert!(r.contains("policy-violation"), "{r}");
    }

    #[test]
    fn unfetched_output_and_flooding_are_bounded() {
        let s = session();
        let chunk = vec![b'x'; 64 * 1024];
        let mut over = false;
        for _ in 0..(MAX_OUT_BYTES / chunk.len() + 2) {
            if s.push_out(&chunk, None).is_err() {
                over = true;
                break;
            }
        }
        assert!(over, "output grew past MAX_OUT_BYTES");
        let s = session();
        let mut last = String::new();
        for rid in 11..(11 + MAX_INBOUND_BODIES as u64 + 2) {
            match s.request(body(rid, "", "<presence xmlns='jabber:client'/>"), 10) {
                Reply::Now(b) => {
                    last = String::from_utf8(b).unwrap();
                    break;
                }
                Reply::Held(..) => {}
            }
        }
        assert!(last.contains("policy-violation"), "{last}");
    }
}
