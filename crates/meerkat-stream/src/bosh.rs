//! BOSH (XEP-0124 1.11, with XEP-0206 1.4 for XMPP), sans I/O: request bodies, the session
//! parameters, the request-id window with retransmission, and response bodies.
//!
//! - Reading: [`parse_body`] parses one HTTP request body with the stream parser's limits and
//!   restricted-XML checks (the body is parsed as the single element of a synthetic stream, as
//!   [`crate::websocket`] does with a message). It returns a [`Body`]: the attributes a
//!   connection manager acts on and the payload elements. Stanzas written without a namespace
//!   (so in the httpbind namespace) are read as `jabber:client`; XEP-0206 §3 asks clients to
//!   qualify them, and accepting the omission costs nothing.
//! - Session creation: [`Params::negotiate`] caps what the client asked for (`wait`, `hold`)
//!   with the listener's limits (XEP-0124 §7.1); [`creation_attrs`] gives the response's
//!   attributes (§7.2, XEP-0206 §3: `xmpp:version`, `xmpp:restartlogic`).
//! - Request ids (§14): [`RidWindow`] tells a request that is next in line from one that came
//!   early (within `requests` of the last one), a repeat (answered again from the kept
//!   responses), or one outside the window (`item-not-found`).
//! - Writing: [`write_body`] wraps what the session queued into one `<body/>`; stanzas declare
//!   their namespace, stream-namespace elements use the `stream:` prefix declared on the body.
//!
//! Nothing here reads a clock or a socket: the caller enforces `wait`, `inactivity` and `pause`.

use meerkat_proto::ns;
use meerkat_xml::{Element, Limits, Node, StreamEvent, StreamParser};
use std::collections::VecDeque;

/// Namespace of `<body/>` (XEP-0124 §4).
pub const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
/// Namespace of the `xmpp:` attributes of XEP-0206 §3.
pub const NS_XBOSH: &str = "urn:xmpp:xbosh";
/// The XEP-0124 version spoken (`ver`).
pub const VERSION: &str = "1.11";
/// Largest request id: 2^53 - 1, so ids stay exact as JavaScript numbers (XEP-0124 §14.1).
pub const MAX_RID: u64 = (1 << 53) - 1;

/// The header the parser is primed with: the scope the body is parsed in.
const WRAPPER: &[u8] = b"<stream:stream xmlns='http://jabber.org/protocol/httpbind' \
                          xmlns:stream='http://etherx.jabber.org/streams'>";

/// Terminal binding conditions (XEP-0124 §17.2) this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The request is malformed (bad XML, missing or bad attributes).
    BadRequest,
    /// The `to` host is not served.
    HostUnknown,
    /// The sid is unknown, or the rid is outside the window.
    ItemNotFound,
    /// The client broke a limit: body size, simultaneous requests, polling, pause.
    PolicyViolation,
    /// The XMPP stream ended with a stream error, carried in the body.
    RemoteStreamError,
    /// The node is shutting down.
    SystemShutdown,
}

impl Condition {
    /// The `condition` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::BadRequest => "bad-request",
            Condition::HostUnknown => "host-unknown",
            Condition::ItemNotFound => "item-not-found",
            Condition::PolicyViolation => "policy-violation",
            Condition::RemoteStreamError => "remote-stream-error",
            Condition::SystemShutdown => "system-shutdown",
        }
    }
}

/// One parsed request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    /// `sid`: absent on a session creation request.
    pub sid: Option<String>,
    /// `rid`, at most [`MAX_RID`].
    pub rid: u64,
    /// `to`: the host asked for (session creation).
    pub to: Option<String>,
    /// `xml:lang` (session creation).
    pub lang: Option<String>,
    /// `wait` in seconds (session creation).
    pub wait_s: Option<u64>,
    /// `hold` (session creation).
    pub hold: Option<u32>,
    /// `xmpp:version` (XEP-0206 §3; session creation).
    pub xmpp_version: Option<String>,
    /// `type='terminate'`: the client ends the session (§13).
    pub terminate: bool,
    /// `xmpp:restart='true'`: a stream restart (XEP-0206 §5).
    pub restart: bool,
    /// `pause` in seconds (§12).
    pub pause_s: Option<u64>,
    /// The payload elements, in order.
    pub payload: Vec<Element>,
}

/// Parses one request body (XEP-0124 §4). Every failure is `bad-request`, except limits
/// exceeded, which are `policy-violation`. `limits.max_stanza_bytes` bounds the whole body.
pub fn parse_body(bytes: &[u8], limits: Limits) -> Result<Body, Condition> {
    let el = parse_element(strip_prolog(bytes), limits)?;
    if !el.is("body", NS_HTTPBIND) {
        return Err(Condition::BadRequest);
    }
    let mut body = Body {
        sid: el.attr("sid").map(str::to_owned),
        rid: match el.attr("rid").map(parse_number) {
            Some(Some(rid)) if rid <= MAX_RID => rid,
            _ => return Err(Condition::BadRequest),
        },
        to: el.attr("to").map(str::to_owned),
        lang: el.attr("xml:lang").map(str::to_owned),
        wait_s: optional_number(&el, "wait")?,
        hold: optional_number(&el, "hold")?.map(|h| u32::try_from(h).unwrap_or(u32::MAX)),
        xmpp_version: xbosh_attr(&el, "version").map(str::to_owned),
        terminate: el.attr("type") == Some("terminate"),
        restart: matches!(xbosh_attr(&el, "restart"), Some("true" | "1")),
        pause_s: optional_number(&el, "pause")?,
        payload: Vec::new(),
    };
    for node in el.children {
        match node {
            Node::Element(mut child) => {
                if child.ns == NS_HTTPBIND {
                    into_client_ns(&mut child);
                }
                body.payload.push(child);
            }
            Node::Text(t) if t.trim().is_empty() => {}
            Node::Text(_) => return Err(Condition::BadRequest),
        }
    }
    Ok(body)
}

/// The `sid` of a body too large to parse, read from its start tag in the first bytes, so the
/// session it belongs to can be ended (XEP-0124 §11 asks to terminate it). Only a sid made of
/// ASCII letters and digits is returned; `None` when the start tag is not in `prefix`.
pub fn sniff_sid(prefix: &[u8]) -> Option<&str> {
    let start = prefix.windows(5).position(|w| w == b"<body")?;
    let tag = prefix.get(start..)?;
    let tag = tag.get(..tag.iter().position(|&b| b == b'>')?)?;
    let at = tag.windows(5).position(|w| w == b" sid=" || w == b"\tsid=" || w == b"\nsid=")?;
    let rest = tag.get(at + 5..)?;
    let quote = *rest.first()?;
    if quote != b'\'' && quote != b'"' {
        return None;
    }
    let rest = rest.get(1..)?;
    let value = rest.get(..rest.iter().position(|&b| b == quote)?)?;
    if value.is_empty() || !value.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    std::str::from_utf8(value).ok()
}

/// Skips a leading XML declaration, which some clients send with every body; the parser only
/// accepts one at the start of a stream, and the body is parsed inside a synthetic one.
fn strip_prolog(bytes: &[u8]) -> &[u8] {
    let trimmed = bytes.trim_ascii_start();
    if !trimmed.starts_with(b"<?xml") {
        return bytes;
    }
    match trimmed.windows(2).position(|w| w == b"?>") {
        Some(end) => trimmed.get(end + 2..).unwrap_or_default(),
        None => bytes,
    }
}

/// Parses exactly one element (and surrounding whitespace).
fn parse_element(bytes: &[u8], limits: Limits) -> Result<Element, Condition> {
    let mut parser = StreamParser::new(limits);
    parser.feed(WRAPPER);
    // The wrapper's `Open`: nobody needs it; limits too small for it fail on the body below.
    let _ = parser.next_event();
    parser.feed(bytes);
    let xml_error = |e: meerkat_xml::XmlError| match e {
        meerkat_xml::XmlError::LimitExceeded(_) => Condition::PolicyViolation,
        _ => Condition::BadRequest,
    };
    let first = parser.next_event().map_err(xml_error)?;
    if parser.buffered_bytes() > 0 || parser.next_event().map_err(xml_error)?.is_some() {
        return Err(Condition::BadRequest);
    }
    match first {
        Some(StreamEvent::Stanza(el)) => Ok(el),
        _ => Err(Condition::BadRequest),
    }
}

/// A decimal attribute value; `None` for anything else (signs, spaces, overflow).
fn parse_number(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn optional_number(el: &Element, name: &str) -> Result<Option<u64>, Condition> {
    match el.attr(name) {
        None => Ok(None),
        Some(v) => parse_number(v).map(Some).ok_or(Condition::BadRequest),
    }
}

/// The value of the attribute `local` in the [`NS_XBOSH`] namespace, whatever its prefix.
fn xbosh_attr<'a>(el: &'a Element, local: &str) -> Option<&'a str> {
    el.attrs.iter().find_map(|(name, value)| {
        let (prefix, l) = name.split_once(':')?;
        if l != local || prefix == "xmlns" {
            return None;
        }
        let decl = format!("xmlns:{prefix}");
        (el.attr(&decl) == Some(NS_XBOSH)).then_some(value.as_str())
    })
}

/// Moves an element written in the body's default namespace into `jabber:client`.
fn into_client_ns(el: &mut Element) {
    el.ns = ns::CLIENT.to_owned();
    for child in &mut el.children {
        if let Node::Element(c) = child {
            if c.ns == NS_HTTPBIND {
                into_client_ns(c);
            }
        }
    }
}

/// The listener's caps on what a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Longest `wait`, seconds.
    pub max_wait_s: u64,
    /// Largest `hold`.
    pub max_hold: u32,
    /// Largest `requests`.
    pub max_requests: u32,
    /// `inactivity`, seconds.
    pub max_inactivity_s: u64,
    /// `polling`, seconds.
    pub polling_s: u64,
    /// `maxpause`, seconds.
    pub max_pause_s: u64,
}

/// A session's parameters, as announced in the creation response (XEP-0124 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Longest time a request is held, seconds.
    pub wait_s: u64,
    /// Most requests held at once.
    pub hold: u32,
    /// Most simultaneous requests, and the rid window.
    pub requests: u32,
    /// Session ends after this long without a request, seconds.
    pub inactivity_s: u64,
    /// Shortest interval between polls, seconds.
    pub polling_s: u64,
    /// Longest `pause`, seconds.
    pub max_pause_s: u64,
}

impl Params {
    /// The parameters of a new session: the client's `wait` and `hold` within the caps (a
    /// missing `wait` gets the cap, a missing `hold` gets 1), and one request more than `hold`
    /// (§7.2 recommends it: the client can always send while `hold` requests wait).
    pub fn negotiate(body: &Body, caps: &Caps) -> Params {
        let wait_s = body.wait_s.unwrap_or(caps.max_wait_s).clamp(1, caps.max_wait_s.max(1));
        let hold = body.hold.unwrap_or(1).min(caps.max_hold);
        Params {
            wait_s,
            hold,
            requests: hold.saturating_add(1).min(caps.max_requests.max(1)),
            inactivity_s: caps.max_inactivity_s,
            polling_s: caps.polling_s,
            max_pause_s: caps.max_pause_s,
        }
    }
}

/// The attributes of the session creation response (XEP-0124 §7.2, XEP-0206 §3), in order.
pub fn creation_attrs(
    p: &Params,
    sid: &str,
    from: &str,
    authid: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("xmlns:xmpp", NS_XBOSH.to_owned()),
        ("sid", sid.to_owned()),
        ("wait", p.wait_s.to_string()),
        ("hold", p.hold.to_string()),
        ("requests", p.requests.to_string()),
        ("inactivity", p.inactivity_s.to_string()),
        ("polling", p.polling_s.to_string()),
        ("maxpause", p.max_pause_s.to_string()),
        ("ver", VERSION.to_owned()),
        ("from", from.to_owned()),
        ("authid", authid.to_owned()),
        ("xmpp:version", "1.0".to_owned()),
        ("xmpp:restartlogic", "true".to_owned()),
    ]
}

/// The attributes of a terminating response (§13, §17.2).
pub fn terminate_attrs(condition: Option<Condition>) -> Vec<(&'static str, String)> {
    let mut attrs = vec![("type", "terminate".to_owned())];
    if let Some(c) = condition {
        attrs.push(("condition", c.as_str().to_owned()));
    }
    attrs
}

/// Appends one response `<body/>` with `attrs` around `payload` (elements written by
/// [`write_element`]). The `stream:` prefix is declared when there is a payload.
pub fn write_body(out: &mut Vec<u8>, attrs: &[(&str, String)], payload: &[u8]) {
    out.extend_from_slice(b"<body xmlns='http://jabber.org/protocol/httpbind'");
    if !payload.is_empty() {
        out.extend_from_slice(b" xmlns:stream='http://etherx.jabber.org/streams'");
    }
    for (k, v) in attrs {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"='");
        meerkat_xml::escape::escape_attr(out, v);
        out.push(b'\'');
    }
    if payload.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    out.extend_from_slice(payload);
    out.extend_from_slice(b"</body>");
}

/// Appends one payload element: stanzas declare their namespace (XEP-0206 §3 has them in
/// `jabber:client` inside a body of another default namespace); stream-namespace elements
/// (`<stream:features/>`, `<stream:error/>`) use the prefix the body declares.
pub fn write_element(out: &mut Vec<u8>, el: &Element) {
    if el.ns != ns::STREAM {
        el.write_to(out, "");
        return;
    }
    out.extend_from_slice(b"<stream:");
    out.extend_from_slice(el.name.as_bytes());
    for (k, v) in &el.attrs {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"='");
        meerkat_xml::escape::escape_attr(out, v);
        out.push(b'\'');
    }
    if el.children.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    for child in &el.children {
        match child {
            Node::Element(c) => c.write_to(out, ""),
            Node::Text(t) => meerkat_xml::escape::escape_text(out, t),
        }
    }
    out.extend_from_slice(b"</stream:");
    out.extend_from_slice(el.name.as_bytes());
    out.push(b'>');
}

/// Where a request's rid stands (XEP-0124 §14.1-§14.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RidCheck {
    /// The next rid: process it now.
    Next,
    /// Ahead of the next one but inside the window: keep it until the gap is filled.
    Early,
    /// Already received and recent: answer again with the same response (or, if not yet
    /// answered, take over the waiting request).
    Repeat,
    /// Outside the window, or too old to have a kept response: `item-not-found`.
    Invalid,
}

/// The request-id window of one session, and the responses kept for retransmission.
///
/// Memory: at most `requests` responses, each at most what one response carries.
#[derive(Debug, Clone)]
pub struct RidWindow {
    /// The highest rid processed in order.
    last: u64,
    /// The window: how far ahead of `last` a rid may be, and how many responses are kept.
    requests: u64,
    /// (rid, response) of the latest answered requests, oldest first.
    kept: VecDeque<(u64, Vec<u8>)>,
}

impl RidWindow {
    /// The window of a session created by the request `first_rid`, with `requests`.
    pub fn new(first_rid: u64, requests: u32) -> Self {
        RidWindow { last: first_rid, requests: u64::from(requests.max(1)), kept: VecDeque::new() }
    }

    /// The highest rid processed in order.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Classifies `rid`.
    pub fn check(&self, rid: u64) -> RidCheck {
        let next = self.last.saturating_add(1);
        if rid == next {
            RidCheck::Next
        } else if rid > next && rid <= self.last.saturating_add(self.requests) {
            RidCheck::Early
        } else if rid <= self.last && self.last - rid < self.requests {
            RidCheck::Repeat
        } else {
            RidCheck::Invalid
        }
    }

    /// Records that the next rid was processed.
    pub fn advance(&mut self) {
        self.last = self.last.saturating_add(1);
    }

    /// Keeps the response given to `rid`, forgetting the oldest beyond `requests`.
    pub fn keep(&mut self, rid: u64, response: Vec<u8>) {
        self.kept.retain(|(r, _)| *r != rid);
        self.kept.push_back((rid, response));
        while self.kept.len() as u64 > self.requests {
            self.kept.pop_front();
        }
    }

    /// The response kept for `rid`.
    pub fn kept(&self, rid: u64) -> Option<&[u8]> {
        self.kept.iter().find(|(r, _)| *r == rid).map(|(_, b)| b.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> Limits {
        Limits { max_stanza_bytes: max, ..Limits::default() }
    }

    fn parse(s: &str) -> Result<Body, Condition> {
        parse_body(s.as_bytes(), limits(65536))
    }

    #[test]
    fn session_creation_request() {
        let b = parse(
            "<body content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='localhost' \
             route='xmpp:localhost:9999' ver='1.6' wait='60' ack='1' xml:lang='en' \
             xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:xmpp='urn:xmpp:xbosh'/>",
        )
        .unwrap();
        assert_eq!(b.sid, None);
        assert_eq!(b.rid, 1573741820);
        assert_eq!(b.to.as_deref(), Some("localhost"));
        assert_eq!(b.lang.as_deref(), Some("en"));
        assert_eq!(b.wait_s, Some(60));
        assert_eq!(b.hold, Some(1));
        assert_eq!(b.xmpp_version.as_deref(), Some("1.0"));
        assert!(!b.terminate && !b.restart);
        assert!(b.payload.is_empty());
    }

    #[test]
    fn restart_with_any_prefix_and_a_prolog() {
        let b = parse(
            "<?xml version='1.0'?>\n<body rid='2' sid='s' x:restart='true' to='localhost' \
             xmlns='http://jabber.org/protocol/httpbind' xmlns:x='urn:xmpp:xbosh'/>",
        )
        .unwrap();
        assert!(b.restart);
        assert_eq!(b.sid.as_deref(), Some("s"));
        // A `restart` attribute in another namespace is not a restart.
        let b = parse(
            "<body rid='2' sid='s' x:restart='true' xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:x='urn:other'/>",
        )
        .unwrap();
        assert!(!b.restart);
    }

    #[test]
    fn payload_keeps_order_and_unqualified_stanzas_become_jabber_client() {
        let b = parse(
            "<body rid='3' sid='s' xmlns='http://jabber.org/protocol/httpbind'>\
             <message to='a@localhost'><body>hi</body></message>\
             <iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>\
             <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>\
             </body>",
        )
        .unwrap();
        let names: Vec<(&str, &str)> =
            b.payload.iter().map(|e| (e.name.as_str(), e.ns.as_str())).collect();
        assert_eq!(
            names,
            [
                ("message", "jabber:client"),
                ("iq", "jabber:client"),
                ("auth", "urn:ietf:params:xml:ns:xmpp-sasl")
            ]
        );
        assert!(b.payload[0].has_child("body", "jabber:client"));
    }

    #[test]
    fn terminate_and_pause() {
        let b = parse(
            "<body rid='4' sid='s' type='terminate' xmlns='http://jabber.org/protocol/httpbind'>\
             <presence type='unavailable' xmlns='jabber:client'/></body>",
        )
        .unwrap();
        assert!(b.terminate);
        assert_eq!(b.payload.len(), 1);
        let b =
            parse("<body rid='5' sid='s' pause='60' xmlns='http://jabber.org/protocol/httpbind'/>")
                .unwrap();
        assert_eq!(b.pause_s, Some(60));
    }

    #[test]
    fn bad_bodies_are_bad_request() {
        for bad in [
            "",
            "   ",
            "<body xmlns='http://jabber.org/protocol/httpbind'/>",
            "<body rid='-1' xmlns='http://jabber.org/protocol/httpbind'/>",
            "<body rid='1 ' xmlns='http://jabber.org/protocol/httpbind'/>",
            "<body rid='9007199254740992' xmlns='http://jabber.org/protocol/httpbind'/>",
            "<body rid='99999999999999999999999' xmlns='http://jabber.org/protocol/httpbind'/>",
            "<body rid='1' wait='x' xmlns='http://jabber.org/protocol/httpbind'/>",
            "<body rid='1' xmlns='urn:other'/>",
            "<notbody rid='1' xmlns='http://jabber.org/protocol/httpbind'/>",
            "<body rid='1' xmlns='http://jabber.org/protocol/httpbind'>text</body>",
            "<body rid='1' xmlns='http://jabber.org/protocol/httpbind'/><body rid='2'/>",
            "<body rid='1' xmlns='http://jabber.org/protocol/httpbind'>",
            "<body rid='1' xmlns='http://jabber.org/protocol/httpbind'><a></b></body>",
            "<!DOCTYPE x><body rid='1' xmlns='http://jabber.org/protocol/httpbind'/>",
        ] {
            assert_eq!(parse(bad), Err(Condition::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn a_body_above_the_limit_is_policy_violation() {
        let big = format!(
            "<body rid='1' sid='s' xmlns='http://jabber.org/protocol/httpbind'>\
             <message xmlns='jabber:client'><body>{}</body></message></body>",
            "x".repeat(2000)
        );
        assert_eq!(parse_body(big.as_bytes(), limits(1024)), Err(Condition::PolicyViolation));
        assert!(parse_body(big.as_bytes(), limits(4096)).is_ok());
    }

    #[test]
    fn sid_of_an_oversized_body() {
        assert_eq!(
            sniff_sid(
                b"<body rid='1' sid='ab12' xmlns='http://jabber.org/protocol/httpbind'><mess"
            ),
            Some("ab12")
        );
        assert_eq!(sniff_sid(b"<?xml version='1.0'?><body\nsid=\"X9\" rid='1'>"), Some("X9"));
        assert_eq!(sniff_sid(b"<body rid='1' xsid='ab'>"), None);
        assert_eq!(sniff_sid(b"<body rid='1' sid='a b'>"), None);
        assert_eq!(sniff_sid(b"<body rid='1' sid='ab"), None);
        assert_eq!(sniff_sid(b"<body rid='1'><message sid='ab'/>"), None);
    }

    #[test]
    fn negotiation_caps_the_client() {
        let caps = Caps {
            max_wait_s: 60,
            max_hold: 1,
            max_requests: 2,
            max_inactivity_s: 30,
            polling_s: 2,
            max_pause_s: 120,
        };
        let asked = Body { wait_s: Some(300), hold: Some(5), ..Body::default() };
        let p = Params::negotiate(&asked, &caps);
        assert_eq!((p.wait_s, p.hold, p.requests), (60, 1, 2));
        let asked = Body { wait_s: Some(10), hold: Some(0), ..Body::default() };
        let p = Params::negotiate(&asked, &caps);
        assert_eq!((p.wait_s, p.hold, p.requests), (10, 0, 1));
        let p = Params::negotiate(&Body::default(), &caps);
        assert_eq!((p.wait_s, p.hold, p.requests, p.inactivity_s), (60, 1, 2, 30));
    }

    #[test]
    fn responses_are_exact() {
        let mut out = Vec::new();
        write_body(&mut out, &[], b"");
        assert_eq!(out, b"<body xmlns='http://jabber.org/protocol/httpbind'/>");
        out.clear();
        write_body(&mut out, &terminate_attrs(Some(Condition::ItemNotFound)), b"");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' \
             condition='item-not-found'/>"
        );
        let mut payload = Vec::new();
        write_element(
            &mut payload,
            &Element::new("features", ns::STREAM)
                .with_child(Element::new("bind", "urn:ietf:params:xml:ns:xmpp-bind")),
        );
        write_element(&mut payload, &Element::new("message", ns::CLIENT).with_attr("to", "a&b"));
        out.clear();
        let p = Params {
            wait_s: 60,
            hold: 1,
            requests: 2,
            inactivity_s: 30,
            polling_s: 2,
            max_pause_s: 120,
        };
        write_body(&mut out, &creation_attrs(&p, "SID", "localhost", "AUTH"), &payload);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<body xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:stream='http://etherx.jabber.org/streams' xmlns:xmpp='urn:xmpp:xbosh' \
             sid='SID' wait='60' hold='1' requests='2' inactivity='30' polling='2' \
             maxpause='120' ver='1.11' from='localhost' authid='AUTH' xmpp:version='1.0' \
             xmpp:restartlogic='true'><stream:features>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\
             <message xmlns='jabber:client' to='a&amp;b'/></body>"
        );
    }

    /// The property the `bosh_body` fuzz target checks, on a few bodies.
    #[test]
    fn payload_written_back_parses_equal() {
        for input in [
            "<body rid='1' sid='s' xmlns='http://jabber.org/protocol/httpbind'>\
             <message to='a@b' xmlns:x='urn:x' x:attr='1'><body>a &amp; b</body><x:y/></message>\
             <iq xmlns='jabber:client' type='get' id='1'><q xmlns='urn:q'>t</q></iq></body>",
            "<body rid='2' xmlns='http://jabber.org/protocol/httpbind'>\
             <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEA</auth></body>",
        ] {
            let body = parse(input).unwrap();
            let mut payload = Vec::new();
            for el in &body.payload {
                write_element(&mut payload, el);
            }
            let mut out = Vec::new();
            write_body(&mut out, &[("rid", body.rid.to_string())], &payload);
            let back = parse_body(&out, limits(1 << 20)).expect("parses back");
            assert_eq!(back.payload, body.payload, "{}", String::from_utf8_lossy(&out));
        }
    }

    #[test]
    fn rid_window() {
        let mut w = RidWindow::new(100, 2);
        assert_eq!(w.check(101), RidCheck::Next);
        assert_eq!(w.check(102), RidCheck::Early);
        assert_eq!(w.check(103), RidCheck::Invalid);
        assert_eq!(w.check(100), RidCheck::Repeat);
        assert_eq!(w.check(99), RidCheck::Repeat);
        assert_eq!(w.check(98), RidCheck::Invalid);
        assert_eq!(w.check(0), RidCheck::Invalid);
        assert_eq!(w.check(u64::MAX), RidCheck::Invalid);
        w.advance();
        w.advance();
        assert_eq!(w.last(), 102);
        assert_eq!(w.check(103), RidCheck::Next);
        assert_eq!(w.check(101), RidCheck::Repeat);
        assert_eq!(w.check(100), RidCheck::Invalid);
        assert_eq!(w.check(105), RidCheck::Invalid);
    }

    #[test]
    fn rid_window_keeps_the_latest_responses() {
        let mut w = RidWindow::new(1, 2);
        w.keep(1, b"one".to_vec());
        w.keep(2, b"two".to_vec());
        w.keep(3, b"three".to_vec());
        assert_eq!(w.kept(1), None);
        assert_eq!(w.kept(2), Some(&b"two"[..]));
        assert_eq!(w.kept(3), Some(&b"three"[..]));
        // Answering a rid again replaces its response instead of pushing another out.
        w.keep(3, b"3".to_vec());
        assert_eq!(w.kept(2), Some(&b"two"[..]));
        assert_eq!(w.kept(3), Some(&b"3"[..]));
    }
}
