//! Stream Management (XEP-0198, `urn:xmpp:sm:3`) as a sans-I/O state: nonza parsing and
//! serialisation, the two stanza counters, the bounded queue of unacknowledged outbound
//! stanzas and the server's own ack-request policy.
//!
//! # What is implemented
//! - `<enable/>` (with `resume` and a client `max`), `<enabled/>`, `<r/>`, `<a h/>`, `<resume/>`,
//!   `<resumed/>`, `<failed/>` (XEP-0198 §3-§5).
//! - Counters are `u32` and wrap (XEP-0198 §4: "h" is counted modulo 2^32); every comparison
//!   is done on wrapped differences, so a session that has exchanged more than 2^32 stanzas
//!   keeps working.
//! - An `h` that acknowledges more than was sent is [`AckError::HandledCountTooHigh`], which
//!   the session turns into `undefined-condition` with `<handled-count-too-high/>` (§4).
//!
//! Not implemented: the optional `location` attribute of `<enabled/>` (one node serves the
//! session), and acks for the client's own `<r/>` carrying a `max` (none is defined).
//!
//! The caller owns the clock: it passes `now` in and reads [`StreamManagement::request_deadline`]
//! to know when to call [`StreamManagement::take_request`] again.

use meerkat_xml::Element;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// `urn:xmpp:sm:3`.
pub const NS: &str = "urn:xmpp:sm:3";
/// The namespace of `<handled-count-too-high/>` and the stanza-error conditions in `<failed/>`.
pub const STANZAS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// A Stream Management nonza from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nonza {
    /// `<enable/>`; `max` is the client's preferred resumption time in seconds.
    Enable {
        /// `resume='true'` or `resume='1'`.
        resume: bool,
        /// Preferred maximum resumption time, seconds.
        max: Option<u32>,
    },
    /// `<r/>`: the client asks for our `h`.
    Request,
    /// `<a h/>`: the client acknowledges our stanzas up to `h`.
    Ack(u32),
    /// `<resume previd h/>`.
    Resume {
        /// The id from `<enabled/>`.
        previd: String,
        /// Stanzas the client handled from us before the connection broke.
        h: u32,
    },
}

/// Why a nonza in the SM namespace is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonzaError {
    /// An element this version of XEP-0198 does not define for clients.
    #[error("unknown Stream Management element <{0}/>")]
    Unknown(String),
    /// `h` (or `previd`) missing or not a 32-bit unsigned number.
    #[error("bad or missing attribute {0}")]
    BadAttribute(&'static str),
}

/// Parses an element of the SM namespace; `Ok(None)` when it is not in that namespace.
pub fn parse(el: &Element) -> Result<Option<Nonza>, NonzaError> {
    if el.ns != NS {
        return Ok(None);
    }
    let h =
        || el.attr("h").and_then(|v| v.parse::<u32>().ok()).ok_or(NonzaError::BadAttribute("h"));
    let n = match el.name.as_str() {
        "enable" => Nonza::Enable {
            resume: matches!(el.attr("resume"), Some("true" | "1")),
            max: el.attr("max").and_then(|v| v.parse::<u32>().ok()),
        },
        "r" => Nonza::Request,
        "a" => Nonza::Ack(h()?),
        "resume" => {
            let previd = el
                .attr("previd")
                .filter(|p| !p.is_empty() && p.len() <= 256)
                .ok_or(NonzaError::BadAttribute("previd"))?;
            Nonza::Resume { previd: previd.to_owned(), h: h()? }
        }
        other => return Err(NonzaError::Unknown(other.chars().take(64).collect())),
    };
    Ok(Some(n))
}

/// `<enabled id? resume? max?/>`.
pub fn enabled(resume: Option<(&str, u32)>) -> Element {
    let mut e = Element::new("enabled", NS);
    if let Some((id, max)) = resume {
        e = e.with_attr("id", id).with_attr("resume", "true").with_attr("max", max.to_string());
    }
    e
}

/// `<r/>`.
pub fn request() -> Element {
    Element::new("r", NS)
}

/// `<a h/>`.
pub fn ack(h: u32) -> Element {
    Element::new("a", NS).with_attr("h", h.to_string())
}

/// `<failed h?><condition xmlns='…xmpp-stanzas'/></failed>`.
pub fn failed(condition: &str, h: Option<u32>) -> Element {
    let mut f = Element::new("failed", NS);
    if let Some(h) = h {
        f.set_attr("h", h.to_string());
    }
    f.with_child(Element::new(condition, STANZAS_NS))
}

/// `<resumed previd h/>`.
pub fn resumed(previd: &str, h: u32) -> Element {
    Element::new("resumed", NS).with_attr("previd", previd).with_attr("h", h.to_string())
}

/// `<handled-count-too-high h send-count/>`, the application condition of the stream error
/// (XEP-0198 §4, with `undefined-condition`).
pub fn handled_count_too_high(h: u32, sent: u32) -> Element {
    Element::new("handled-count-too-high", NS)
        .with_attr("h", h.to_string())
        .with_attr("send-count", sent.to_string())
}

/// A client acknowledged stanzas we never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// `h` is beyond our send count.
    #[error("h={h} acknowledges more than the {sent} stanzas sent")]
    HandledCountTooHigh {
        /// The `h` the client sent.
        h: u32,
        /// Our send count.
        sent: u32,
    },
}

/// Bounds of one session's Stream Management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most outbound stanzas kept unacknowledged; one more marks the state overflowed.
    pub max_unacked: usize,
    /// Ask for an ack after this many stanzas since the last request (0: never by count).
    pub request_every: u32,
    /// Ask for an ack when the oldest unacknowledged stanza is this old (zero: never by time).
    pub request_after: Duration,
}

/// The Stream Management state of one session (after `<enable/>`).
///
/// Memory: the queue starts empty and unallocated; at most `max_unacked` elements are kept.
#[derive(Debug)]
pub struct StreamManagement {
    /// Inbound stanzas handled (the `h` we report).
    handled_in: u32,
    /// Outbound stanzas sent.
    sent_out: u32,
    /// The client's last `h`.
    acked_out: u32,
    /// Sent and not yet acknowledged, oldest first; `len == sent_out - acked_out` while not
    /// overflowed.
    unacked: VecDeque<Element>,
    /// Stanzas sent since our last `<r/>`.
    since_request: u32,
    /// When the oldest stanza not covered by a request was sent.
    oldest_unrequested: Option<Instant>,
    overflowed: bool,
    limits: Limits,
    /// Resumption id and the resumption time granted (seconds), when resumable.
    resume: Option<(String, u32)>,
}

impl StreamManagement {
    /// Fresh counters, as after `<enable/>`.
    pub fn new(limits: Limits) -> Self {
        StreamManagement {
            handled_in: 0,
            sent_out: 0,
            acked_out: 0,
            unacked: VecDeque::new(),
            since_request: 0,
            oldest_unrequested: None,
            overflowed: false,
            limits,
            resume: None,
        }
    }

    /// Starts both counters at `start` (tests of wrap-around; a resumed session keeps its own).
    pub fn with_counters(mut self, start: u32) -> Self {
        self.handled_in = start;
        self.sent_out = start;
        self.acked_out = start;
        self
    }

    /// The state of a session resumed on another node (cluster): `handled_in` and `sent_out`
    /// as that node counted them, and its unacknowledged stanzas, oldest first (they count as
    /// sent and not acknowledged).
    pub fn restore(
        limits: Limits,
        handled_in: u32,
        sent_out: u32,
        unacked: VecDeque<Element>,
        resume: Option<(String, u32)>,
    ) -> Self {
        let acked_out = sent_out.wrapping_sub(unacked.len() as u32);
        let overflowed = unacked.len() > limits.max_unacked;
        StreamManagement {
            handled_in,
            sent_out,
            acked_out,
            unacked,
            since_request: 0,
            oldest_unrequested: None,
            overflowed,
            limits,
            resume,
        }
    }

    /// Makes the session resumable under `id` for `max_s` seconds.
    pub fn set_resumable(&mut self, id: String, max_s: u32) {
        self.resume = Some((id, max_s));
    }

    /// The resumption id and granted seconds, when resumable.
    pub fn resumable(&self) -> Option<(&str, u32)> {
        self.resume.as_ref().map(|(id, s)| (id.as_str(), *s))
    }

    /// The `h` we report: inbound stanzas handled, modulo 2^32.
    pub fn handled(&self) -> u32 {
        self.handled_in
    }

    /// Our send count, modulo 2^32.
    pub fn sent(&self) -> u32 {
        self.sent_out
    }

    /// One more inbound stanza handled.
    pub fn on_inbound(&mut self) {
        self.handled_in = self.handled_in.wrapping_add(1);
    }

    /// One more outbound stanza sent (kept until acknowledged). Beyond the bound the state is
    /// marked overflowed and the stanza is still kept, so nothing accepted is lost: the caller
    /// ends the session (see [`Self::overflowed`]) and re-routes [`Self::take_unacked`].
    pub fn on_outbound(&mut self, stanza: Element, now: Instant) {
        self.sent_out = self.sent_out.wrapping_add(1);
        self.since_request = self.since_request.saturating_add(1);
        if self.oldest_unrequested.is_none() {
            self.oldest_unrequested = Some(now);
        }
        if self.unacked.len() >= self.limits.max_unacked {
            self.overflowed = true;
        }
        self.unacked.push_back(stanza);
    }

    /// True once more than `max_unacked` stanzas waited for an ack.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Stanzas sent and not acknowledged.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// The client's `<a h/>` (or the `h` of `<resume/>`): drops what it acknowledges and
    /// returns how many were dropped.
    pub fn on_ack(&mut self, h: u32) -> Result<usize, AckError> {
        let newly = h.wrapping_sub(self.acked_out) as usize;
        if newly > self.unacked.len() {
            return Err(AckError::HandledCountTooHigh { h, sent: self.sent_out });
        }
        self.unacked.drain(..newly);
        if self.unacked.is_empty() {
            // An idle session keeps no queue memory.
            self.unacked = VecDeque::new();
            self.oldest_unrequested = None;
        }
        self.acked_out = h;
        self.overflowed = self.unacked.len() > self.limits.max_unacked;
        Ok(newly)
    }

    /// When [`Self::take_request`] should be asked again for a time-based request.
    pub fn request_deadline(&self) -> Option<Instant> {
        if self.limits.request_after.is_zero() {
            return None;
        }
        self.oldest_unrequested.map(|t| t + self.limits.request_after)
    }

    /// Whether to send `<r/>` now (enough stanzas since the last request, or the oldest
    /// unrequested one is old enough). Resets the request window when it says yes.
    pub fn take_request(&mut self, now: Instant) -> bool {
        let by_count =
            self.limits.request_every > 0 && self.since_request >= self.limits.request_every;
        let by_time = self.request_deadline().is_some_and(|d| now >= d);
        if by_count || by_time {
            self.since_request = 0;
            self.oldest_unrequested = None;
            true
        } else {
            false
        }
    }

    /// The unacknowledged stanzas, oldest first, to retransmit after a resumption; they stay
    /// counted as sent and queued.
    pub fn unacked(&self) -> impl Iterator<Item = &Element> {
        self.unacked.iter()
    }

    /// Empties the queue (the session ends: the caller re-routes or bounces these).
    pub fn take_unacked(&mut self) -> VecDeque<Element> {
        std::mem::take(&mut self.unacked)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use meerkat_xml::{Limits as XmlLimits, StreamEvent, StreamParser};

    /// Parses one top-level element from bytes, the way the session receives it.
    fn el(xml: &str) -> Element {
        let mut p = StreamParser::new(XmlLimits::default());
        p.feed(
            b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        );
        p.feed(xml.as_bytes());
        let mut got = None;
        while let Some(ev) = p.next_event().unwrap() {
            if let StreamEvent::Stanza(e) = ev {
                got = Some(e);
            }
        }
        got.expect("an element")
    }

    fn wire(e: &Element) -> String {
        let mut out = Vec::new();
        e.write_to(&mut out, "jabber:client");
        String::from_utf8(out).unwrap()
    }

    fn msg(i: u32) -> Element {
        Element::new("message", "jabber:client").with_attr("id", i.to_string())
    }

    const LIMITS: Limits =
        Limits { max_unacked: 4, request_every: 3, request_after: Duration::from_secs(5) };

    #[test]
    fn restored_state_acks_and_counts_like_the_original() {
        let mut a = StreamManagement::new(LIMITS).with_counters(u32::MAX - 1);
        let now = Instant::now();
        for i in 0..3 {
            a.on_outbound(el(&format!("<message xmlns='jabber:client' id='{i}'/>")), now);
        }
        a.on_inbound();
        a.on_ack(u32::MAX).unwrap();
        let unacked: VecDeque<Element> = a.unacked().cloned().collect();
        let mut b = StreamManagement::restore(
            LIMITS,
            a.handled(),
            a.sent(),
            unacked,
            Some(("id".into(), 60)),
        );
        assert_eq!((b.handled(), b.sent(), b.unacked_len()), (a.handled(), a.sent(), 2));
        assert_eq!(b.resumable(), Some(("id", 60)));
        // The client's h after the resumption acknowledges across the wrap, as before.
        assert_eq!(b.on_ack(a.sent()).unwrap(), 2);
        assert!(matches!(
            b.on_ack(a.sent().wrapping_add(1)),
            Err(AckError::HandledCountTooHigh { .. })
        ));
    }

    #[test]
    fn parses_every_client_nonza() {
        assert_eq!(
            parse(&el("<enable xmlns='urn:xmpp:sm:3' resume='true' max='60'/>")).unwrap(),
            Some(Nonza::Enable { resume: true, max: Some(60) })
        );
        assert_eq!(
            parse(&el("<enable xmlns='urn:xmpp:sm:3'/>")).unwrap(),
            Some(Nonza::Enable { resume: false, max: None })
        );
        assert_eq!(parse(&el("<r xmlns='urn:xmpp:sm:3'/>")).unwrap(), Some(Nonza::Request));
        assert_eq!(
            parse(&el("<a xmlns='urn:xmpp:sm:3' h='4294967295'/>")).unwrap(),
            Some(Nonza::Ack(u32::MAX))
        );
        assert_eq!(
            parse(&el("<resume xmlns='urn:xmpp:sm:3' previd='abc' h='7'/>")).unwrap(),
            Some(Nonza::Resume { previd: "abc".into(), h: 7 })
        );
        assert_eq!(parse(&el("<r xmlns='urn:xmpp:sm:2'/>")).unwrap(), None);
    }

    #[test]
    fn rejects_bad_h_missing_previd_and_unknown_elements() {
        for bad in [
            "<a xmlns='urn:xmpp:sm:3'/>",
            "<a xmlns='urn:xmpp:sm:3' h='-1'/>",
            "<a xmlns='urn:xmpp:sm:3' h='4294967296'/>",
        ] {
            assert_eq!(parse(&el(bad)), Err(NonzaError::BadAttribute("h")), "{bad}");
        }
        assert_eq!(
            parse(&el("<resume xmlns='urn:xmpp:sm:3' h='1'/>")),
            Err(NonzaError::BadAttribute("previd"))
        );
        assert_eq!(
            parse(&el("<enabled xmlns='urn:xmpp:sm:3'/>")),
            Err(NonzaError::Unknown("enabled".into()))
        );
    }

    #[test]
    fn serialises_the_server_nonzas_exactly() {
        assert_eq!(
            wire(&enabled(Some(("ID1", 300)))),
            "<enabled xmlns='urn:xmpp:sm:3' id='ID1' resume='true' max='300'/>"
        );
        assert_eq!(wire(&enabled(None)), "<enabled xmlns='urn:xmpp:sm:3'/>");
        assert_eq!(wire(&ack(5)), "<a xmlns='urn:xmpp:sm:3' h='5'/>");
        assert_eq!(wire(&request()), "<r xmlns='urn:xmpp:sm:3'/>");
        assert_eq!(
            wire(&failed("item-not-found", Some(2))),
            "<failed xmlns='urn:xmpp:sm:3' h='2'>\
             <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        );
        assert_eq!(wire(&resumed("ID1", 9)), "<resumed xmlns='urn:xmpp:sm:3' previd='ID1' h='9'/>");
    }

    #[test]
    fn acks_drop_acknowledged_stanzas_and_too_high_is_refused() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(LIMITS);
        for i in 0..3 {
            sm.on_outbound(msg(i), now);
        }
        assert_eq!(sm.on_ack(2), Ok(2));
        assert_eq!(sm.unacked().map(|e| e.attr("id").unwrap()).collect::<Vec<_>>(), ["2"]);
        // Acking the same h again is a no-op.
        assert_eq!(sm.on_ack(2), Ok(0));
        assert_eq!(sm.on_ack(4), Err(AckError::HandledCountTooHigh { h: 4, sent: 3 }));
        assert_eq!(sm.on_ack(3), Ok(1));
        assert_eq!(sm.unacked_len(), 0);
    }

    #[test]
    fn counters_wrap_modulo_2_pow_32() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(LIMITS).with_counters(u32::MAX - 1);
        for i in 0..4 {
            sm.on_outbound(msg(i), now);
            sm.on_inbound();
        }
        assert_eq!(sm.sent(), 2);
        assert_eq!(sm.handled(), 2);
        assert_eq!(sm.on_ack(u32::MAX), Ok(1));
        assert_eq!(sm.on_ack(1), Ok(2));
        assert_eq!(sm.on_ack(3), Err(AckError::HandledCountTooHigh { h: 3, sent: 2 }));
        assert_eq!(sm.on_ack(2), Ok(1));
    }

    #[test]
    fn overflow_keeps_the_stanza_and_is_reported() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(LIMITS);
        for i in 0..4 {
            sm.on_outbound(msg(i), now);
        }
        assert!(!sm.overflowed());
        sm.on_outbound(msg(4), now);
        assert!(sm.overflowed());
        assert_eq!(sm.take_unacked().len(), 5);
    }

    #[test]
    fn requests_after_n_stanzas_or_after_the_fake_clock_passes() {
        let t0 = Instant::now();
        let mut sm = StreamManagement::new(LIMITS);
        assert_eq!(sm.request_deadline(), None);
        sm.on_outbound(msg(0), t0);
        assert!(!sm.take_request(t0));
        assert_eq!(sm.request_deadline(), Some(t0 + Duration::from_secs(5)));
        assert!(!sm.take_request(t0 + Duration::from_secs(4)));
        assert!(sm.take_request(t0 + Duration::from_secs(5)));
        assert_eq!(sm.request_deadline(), None);
        // By count: the third stanza since the last request.
        let t1 = t0 + Duration::from_secs(6);
        sm.on_outbound(msg(1), t1);
        sm.on_outbound(msg(2), t1);
        assert!(!sm.take_request(t1));
        sm.on_outbound(msg(3), t1);
        assert!(sm.take_request(t1));
        assert!(!sm.take_request(t1));
    }

    #[test]
    fn an_acked_idle_state_keeps_no_queue_memory() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(LIMITS);
        assert_eq!(sm.unacked.capacity(), 0);
        sm.on_outbound(msg(0), now);
        assert_eq!(sm.on_ack(1), Ok(1));
        assert_eq!(sm.unacked.capacity(), 0);
    }
}
