//! Client State Indication (XEP-0352, `urn:xmpp:csi:0`): while the client says it is
//! inactive, stanzas that can wait are held back and sent together later.
//!
//! Held back (non-urgent): presence updates (available and unavailable, only the newest per
//! sender full JID is kept), and messages whose every payload is a chat state (XEP-0085), a PEP
//! event (XEP-0163 headline notifications), a processing hint or a delay stamp — also when they
//! come wrapped in a carbon copy (XEP-0280).
//! Everything else is urgent: a message with a body or any other payload, subscription
//! requests and answers, every IQ (which includes the answers to the client's own requests).
//! An urgent stanza first flushes everything held, in order, then goes out; so do `<active/>`
//! and a full buffer (`[modules.csi] max_buffered_stanzas`). A new stream starts active
//! (XEP-0352 §3), so a resumed session starts active too: held stanzas move to the SM queue
//! when the connection breaks.
//!
//! Not implemented: per-module hooks deciding urgency (e.g. MUC mentions), dropping instead
//! of holding (every held stanza is delivered eventually).
//!
//! Routing never sees this: it happens where the session writes its mailbox to the socket,
//! and costs nothing until the client sends `<inactive/>` (the state lives in `Conn::ext`).

use crate::c2s::conn::Conn;
use meerkat_proto::ns;
use meerkat_xml::Element;
use std::collections::VecDeque;

/// `urn:xmpp:csi:0`.
pub const NS: &str = meerkat_stream::features::CSI_NS;

const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const HINTS: &str = "urn:xmpp:hints";
const CARBONS: &str = "urn:xmpp:carbons:2";
const FORWARD: &str = "urn:xmpp:forward:0";

/// The CSI state of one connection once the client sent `<inactive/>`.
#[derive(Debug, Default)]
pub struct Held {
    inactive: bool,
    held: VecDeque<Element>,
}

impl Held {
    /// What is held, oldest first (the session ends or detaches).
    pub fn into_held(self) -> VecDeque<Element> {
        self.held
    }
}

/// `<active/>` or `<inactive/>`; false for anything else in the CSI namespace.
pub fn nonza(conn: &mut Conn, el: &Element) -> bool {
    match el.name.as_str() {
        "inactive" => {
            conn.ext
                .get_or_insert_with(Box::default)
                .csi
                .get_or_insert_with(Held::default)
                .inactive = true;
            true
        }
        "active" => {
            if let Some(csi) = conn.ext.as_mut().and_then(|x| x.csi.take()) {
                // Freed, not kept: an active client holds no CSI state.
                for el in csi.held {
                    conn.queue(&el);
                }
            }
            true
        }
        _ => false,
    }
}

/// Writes (queues) a stanza routed to this session, or holds it while the client is inactive.
pub fn deliver(conn: &mut Conn, el: Element, max: usize) {
    let Some(csi) = conn.ext.as_mut().and_then(|x| x.csi.as_mut()).filter(|c| c.inactive) else {
        conn.queue(&el);
        return;
    };
    if !urgent(&el) {
        if el.name == "presence" {
            let from = el.attr("from");
            if let Some(pos) =
                csi.held.iter().position(|h| h.name == "presence" && h.attr("from") == from)
            {
                csi.held.remove(pos);
            }
        }
        csi.held.push_back(el);
        if csi.held.len() < max {
            return;
        }
        flush(conn);
        return;
    }
    flush(conn);
    conn.queue(&el);
}

/// Writes everything held, in order.
fn flush(conn: &mut Conn) {
    let held = match conn.ext.as_mut().and_then(|x| x.csi.as_mut()) {
        Some(csi) => std::mem::take(&mut csi.held),
        None => return,
    };
    for el in held {
        conn.queue(&el);
    }
}

/// True for stanzas an inactive client must get at once.
pub fn urgent(el: &Element) -> bool {
    match el.name.as_str() {
        "presence" => !matches!(el.attr("type"), None | Some("unavailable")),
        "message" => !chatter(el),
        _ => true,
    }
}

/// A message whose payloads can all wait (see the module doc).
fn chatter(msg: &Element) -> bool {
    if msg.attr("type") == Some("error") {
        return false;
    }
    let mut any = false;
    for c in msg.children() {
        any = true;
        let ok = match c.ns.as_str() {
            CHATSTATES | PUBSUB_EVENT | HINTS | ns::DELAY => true,
            CARBONS if matches!(c.name.as_str(), "received" | "sent") => c
                .get_child("forwarded", FORWARD)
                .and_then(|f| f.get_child("message", ns::CLIENT))
                .is_some_and(chatter),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Element {
        Element::new("message", ns::CLIENT)
    }

    #[test]
    fn classifies_urgency() {
        assert!(!urgent(&Element::new("presence", ns::CLIENT)));
        assert!(!urgent(&Element::new("presence", ns::CLIENT).with_attr("type", "unavailable")));
        assert!(urgent(&Element::new("presence", ns::CLIENT).with_attr("type", "subscribe")));
        assert!(urgent(&Element::new("iq", ns::CLIENT).with_attr("type", "result")));
        assert!(urgent(&msg().with_child(Element::new("body", ns::CLIENT).with_text("hi"))));
        assert!(!urgent(&msg().with_child(Element::new("composing", CHATSTATES))));
        assert!(urgent(&msg()), "an empty message is not known chatter");
        assert!(urgent(
            &msg()
                .with_child(Element::new("active", CHATSTATES))
                .with_child(Element::new("body", ns::CLIENT))
        ));
        let pep =
            msg().with_attr("type", "headline").with_child(Element::new("event", PUBSUB_EVENT));
        assert!(!urgent(&pep));
        let carbon = |inner: Element| {
            msg().with_child(
                Element::new("received", CARBONS)
                    .with_child(Element::new("forwarded", FORWARD).with_child(inner)),
            )
        };
        assert!(!urgent(&carbon(msg().with_child(Element::new("paused", CHATSTATES)))));
        assert!(urgent(&carbon(msg().with_child(Element::new("body", ns::CLIENT)))));
    }
}
