//! XMPP over WebSocket framing (RFC 7395), sans I/O: one WebSocket text message is one
//! complete XML element, `<open/>` and `<close/>` replace the stream tags.
//!
//! - Reading: [`prime`] readies a [`StreamParser`] with a synthetic
//!   `<stream:stream xmlns='jabber:client'>` header (never sent by the client), and
//!   [`parse_message`] feeds it one message, so the parser's limits and restricted-XML checks
//!   apply as on TCP. `<open/>` becomes [`StreamEvent::Open`] and `<close/>` becomes
//!   [`StreamEvent::Close`]: the negotiation machine and the session loop see the same events as
//!   on a TCP stream. A message holding no complete element, more than one, or trailing text is
//!   `not-well-formed`. Stanzas without `xmlns` are read as `jabber:client`; RFC 7395 §3.3.3 asks
//!   clients to declare it, and accepting its omission costs nothing.
//! - Writing: [`write_open`], [`write_close`] and [`write_element`] give one message each: our
//!   header is `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' .../>`, stream-namespace
//!   elements declare `xmlns:stream` (RFC 7395 §3.4), and every stanza declares its namespace.

use meerkat_proto::ns;
use meerkat_xml::{Element, StreamEvent, StreamOpen, StreamParser, XmlError};

/// Namespace of `<open/>` and `<close/>` (RFC 7395 §3.3.1).
pub const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// The header the parser is primed with: the scope every message is parsed in.
const WRAPPER: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// Resets `parser` for a new stream and feeds it the synthetic header.
pub fn prime(parser: &mut StreamParser) {
    parser.reset();
    parser.feed(WRAPPER);
    // This yields `Open`, which nobody needs. Limits too small for this header would refuse
    // every TCP client's header as well; the first message then reports the error.
    let _ = parser.next_event();
}

/// Parses one message: exactly one element, mapped to the event a TCP stream would give.
/// `Ok(None)` for a message of whitespace only. After an error the parser is poisoned: every
/// later message gets the same error.
pub fn parse_message(
    parser: &mut StreamParser,
    bytes: &[u8],
) -> Result<Option<StreamEvent>, XmlError> {
    let result = parse_one(parser, bytes);
    if let Err(e) = &result {
        // The parser poisons itself on XML errors, not on the framing rules checked here.
        parser.poison(e.clone());
    }
    result
}

fn parse_one(parser: &mut StreamParser, bytes: &[u8]) -> Result<Option<StreamEvent>, XmlError> {
    parser.feed(bytes);
    let first = parser.next_event()?;
    let incomplete = parser.buffered_bytes() > 0;
    if incomplete || parser.next_event()?.is_some() {
        return Err(XmlError::NotWellFormed(
            "a WebSocket message must hold exactly one complete element".into(),
        ));
    }
    match first {
        None => Ok(None),
        Some(StreamEvent::Stanza(el)) if el.is("open", NS_FRAMING) => {
            let mut element = Element::new("stream", meerkat_xml::NS_STREAM);
            element.attrs = el.attrs;
            Ok(Some(StreamEvent::Open(StreamOpen {
                element,
                default_ns: Some(ns::CLIENT.to_owned()),
            })))
        }
        Some(StreamEvent::Stanza(el)) if el.is("close", NS_FRAMING) => Ok(Some(StreamEvent::Close)),
        Some(StreamEvent::Stanza(el)) => Ok(Some(StreamEvent::Stanza(el))),
        // `</stream:stream>` closed the synthetic header: not an element at all.
        Some(_) => Err(XmlError::NotWellFormed("stream tags are not RFC 7395 framing".into())),
    }
}

/// Appends our `<open/>` (RFC 7395 §3.3.2).
pub fn write_open(out: &mut Vec<u8>, from: &str, id: &str) {
    out.extend_from_slice(b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='");
    meerkat_xml::escape::escape_attr(out, id);
    out.extend_from_slice(b"' from='");
    meerkat_xml::escape::escape_attr(out, from);
    out.extend_from_slice(b"' version='1.0' xml:lang='en'/>");
}

/// Appends `<close/>` (RFC 7395 §3.6).
pub fn write_close(out: &mut Vec<u8>) {
    out.extend_from_slice(b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
}

/// Appends one top-level element with every namespace declared on it.
pub fn write_element(out: &mut Vec<u8>, el: &Element) {
    if el.ns != ns::STREAM {
        el.write_to(out, "");
        return;
    }
    // `<stream:features>` and `<stream:error>` keep their prefix (RFC 7395 §3.4, §3.6.1).
    out.extend_from_slice(b"<stream:");
    out.extend_from_slice(el.name.as_bytes());
    out.extend_from_slice(b" xmlns:stream='http://etherx.jabber.org/streams'");
    for (k, v) in &el.attrs {
        out.extend_from_slice(format!(" {k}='").as_bytes());
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
            meerkat_xml::Node::Element(c) => c.write_to(out, ""),
            meerkat_xml::Node::Text(t) => meerkat_xml::escape::escape_text(out, t),
        }
    }
    out.extend_from_slice(b"</stream:");
    out.extend_from_slice(el.name.as_bytes());
    out.push(b'>');
}

#[cfg(test)]
mod tests {
    use super::*;
    use meerkat_xml::Limits;

    fn primed() -> StreamParser {
        let mut p = StreamParser::new(Limits::default());
        prime(&mut p);
        p
    }

    #[test]
    fn open_becomes_a_stream_header() {
        let mut p = primed();
        let ev = parse_message(
            &mut p,
            b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>",
        );
        let Ok(Some(StreamEvent::Open(open))) = ev else { panic!("{ev:?}") };
        assert!(open.element.is("stream", meerkat_xml::NS_STREAM));
        assert_eq!(open.element.attr("to"), Some("localhost"));
        assert_eq!(open.element.attr("version"), Some("1.0"));
        assert_eq!(open.default_ns.as_deref(), Some(ns::CLIENT));
    }

    #[test]
    fn close_and_stanzas() {
        let mut p = primed();
        let close = parse_message(&mut p, b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
        assert_eq!(close, Ok(Some(StreamEvent::Close)));
        let mut p = primed();
        let ev = parse_message(
            &mut p,
            b"<message xmlns='jabber:client' to='a@b'><body>x</body></message>",
        );
        let Ok(Some(StreamEvent::Stanza(el))) = ev else { panic!("{ev:?}") };
        assert!(el.is("message", ns::CLIENT));
        // Without xmlns the stanza is read in jabber:client.
        let ev = parse_message(&mut p, b"<presence/>");
        let Ok(Some(StreamEvent::Stanza(el))) = ev else { panic!("{ev:?}") };
        assert!(el.is("presence", ns::CLIENT));
        assert_eq!(parse_message(&mut p, b"  \n"), Ok(None));
    }

    #[test]
    fn one_complete_element_per_message() {
        for bad in [
            &b"<presence/><presence/>"[..],
            b"<presence>",
            b"<presence/>text",
            b"</stream:stream>",
            b"<message><body>x</message>",
        ] {
            let mut p = primed();
            let r = parse_message(&mut p, bad);
            assert!(r.is_err(), "{:?} gave {r:?}", String::from_utf8_lossy(bad));
        }
        // A framing error sticks, as an XML error does.
        let mut p = primed();
        let e = parse_message(&mut p, b"<presence>");
        assert!(e.is_err());
        assert_eq!(parse_message(&mut p, b"</presence>"), e);
        let mut p = primed();
        assert_eq!(
            parse_message(&mut p, b"<?xml version='1.0'?><presence/>"),
            Err(XmlError::RestrictedXml("processing instruction"))
        );
    }

    #[test]
    fn written_elements_declare_their_namespaces() {
        let mut out = Vec::new();
        let features = Element::new("features", ns::STREAM)
            .with_child(Element::new("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
        write_element(&mut out, &features);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
        );
        out.clear();
        write_element(&mut out, &Element::new("message", ns::CLIENT).with_attr("to", "a@b"));
        assert_eq!(String::from_utf8_lossy(&out), "<message xmlns='jabber:client' to='a@b'/>");
        out.clear();
        write_open(&mut out, "localhost", "ID");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='ID' from='localhost' \
             version='1.0' xml:lang='en'/>"
        );
    }
}
