//! Message Carbons (XEP-0280, `urn:xmpp:carbons:2`): a user's other clients see the chats of
//! the client in use.
//!
//! Implemented:
//! - enabling and disabling per session (`<enable/>`, `<disable/>`); the flag lives in the
//!   session table entry ([`crate::session::SessionEntry::carbons`]), a bool that fits in the
//!   entry's padding, so an idle session costs nothing more;
//! - `received` copies to the other carbons-enabled resources when a message is delivered to one
//!   resource (full JID) or to the chosen resources of a bare JID ([`fork_received`]);
//! - `sent` copies to the sender's other carbons-enabled resources ([`fork_sent`]);
//! - eligibility per §6 ([`eligible`]): `chat`; `normal` with a body or an IM payload (receipts,
//!   chat states, markers, reactions, retractions); `error`. Not `groupchat` or `headline`.
//!   `<private xmlns='urn:xmpp:carbons:2'/>` and `<no-copy xmlns='urn:xmpp:hints'/>` exclude a
//!   message, and a carbon is never copied again;
//! - a client that sends a message carrying `<sent/>` or `<received/>` (claiming to be a
//!   carbon) gets `<not-acceptable/>` ([`is_forged`]), so no client can fake a copy of a
//!   message it never got.
//!
//! Not implemented: carbons of messages to or from remote domains (there is no s2s yet: the
//! same functions will apply when it exists) and the XEP-0280 §7 MUC private-message rules.
//!
//! The copies are built only when at least one other resource has carbons enabled, so the
//! common path (one resource, or nobody enabled) pays one scan of the account's resources.

use super::{iq, Me};
use crate::router;
use crate::server::ServerRef;
use crate::session::SessionEntry;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::{Element, Node};

/// XEP-0280 namespace.
pub const NS: &str = "urn:xmpp:carbons:2";
/// XEP-0297 stanza forwarding.
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0334 hints.
pub const NS_HINTS: &str = "urn:xmpp:hints";

/// Namespaces of IM payloads that make a `normal` message without body eligible (§6).
const IM_PAYLOADS: &[&str] = &[
    "urn:xmpp:receipts",
    "http://jabber.org/protocol/chatstates",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:reactions:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:fasten:0",
];

/// True when the message is itself a carbon (`<sent/>` or `<received/>` of this namespace).
pub fn is_carbon(msg: &Element) -> bool {
    msg.has_child("sent", NS) || msg.has_child("received", NS)
}

/// True when a client sent a message claiming to be a carbon.
pub fn is_forged(msg: &Element) -> bool {
    is_carbon(msg)
}

/// XEP-0280 §6: a message that is copied to the other resources.
pub fn eligible(msg: &Element) -> bool {
    if msg.name != "message"
        || is_carbon(msg)
        || msg.has_child("private", NS)
        || msg.has_child("no-copy", NS_HINTS)
        || msg.has_child("result", super::mam::NS)
    {
        return false;
    }
    match msg.attr("type").unwrap_or("normal") {
        "chat" | "error" => true,
        "normal" => msg.children().any(|c| {
            (c.name == "body" && c.ns == meerkat_proto::ns::CLIENT)
                || IM_PAYLOADS.contains(&c.ns.as_str())
        }),
        _ => false,
    }
}

/// `<message from='bare' to='full' type=..><{kind} xmlns=carbons><forwarded>msg</forwarded>`.
fn wrap(kind: &str, bare: &str, to_full: String, msg: &Element) -> Element {
    let mut outer = Element::new("message", meerkat_proto::ns::CLIENT)
        .with_attr("from", bare)
        .with_attr("to", to_full);
    if let Some(t) = msg.attr("type") {
        outer.set_attr("type", t);
    }
    let mut fwd = Element::new("forwarded", NS_FORWARD);
    fwd.children.push(Node::Element(msg.clone()));
    outer.with_child(Element::new(kind, NS).with_child(fwd))
}

fn deliver_copies(server: &ServerRef, kind: &str, bare: &str, msg: &Element, to: &[&SessionEntry]) {
    for e in to {
        let copy = wrap(kind, bare, format!("{bare}/{}", e.resource), msg);
        // A full mailbox closes that session (slow reader); a copy is not worth storing.
        let _ = server.deliver(e, copy);
    }
}

/// `received` copies of `msg`, which was just handed to the sessions for which `got_it` is
/// true, for every other carbons-enabled session of the recipient `bare`.
pub fn fork_received(
    server: &ServerRef,
    msg: &Element,
    bare: &str,
    sessions: &[SessionEntry],
    got_it: impl Fn(&SessionEntry) -> bool,
) {
    if !server.config.modules.carbons.enabled || !sessions.iter().any(|e| e.carbons) {
        return;
    }
    let others: Vec<&SessionEntry> = sessions.iter().filter(|e| e.carbons && !got_it(e)).collect();
    if others.is_empty() || !eligible(msg) {
        return;
    }
    deliver_copies(server, "received", bare, msg, &others);
}

/// [`fork_received`] for the account `node@domain`, spelling the bare JID only when a copy is
/// due.
pub fn fork_received_to(
    server: &ServerRef,
    msg: &Element,
    node: &str,
    domain: &str,
    sessions: &[SessionEntry],
    got_it: impl Fn(&SessionEntry) -> bool,
) {
    if sessions.iter().any(|e| e.carbons) {
        fork_received(server, msg, &format!("{node}@{domain}"), sessions, got_it);
    }
}

/// `sent` copies of a message `me` sends, for `me`'s other carbons-enabled sessions.
pub fn fork_sent(server: &ServerRef, me: &Me, msg: &Element) {
    if !server.config.modules.carbons.enabled {
        return;
    }
    let others = server.sessions.carbons_enabled(&me.bare, me.sid);
    let cluster = server.cluster.is_some();
    if (others.is_empty() && !cluster) || !eligible(msg) {
        return;
    }
    let refs: Vec<&SessionEntry> = others.iter().collect();
    deliver_copies(server, "sent", &me.bare, msg, &refs);
    if cluster {
        // The user's resources on other nodes get it through their node (`deliver_remote_sent`).
        crate::cluster::to_own_resources(
            server,
            &me.bare,
            wrap("sent", &me.bare, me.bare.clone(), msg),
        );
    }
}

/// Cluster: the `received` copy of a message delivered here, for the carbons-enabled
/// resources of `bare` on other nodes (they get it through `deliver_remote_sent`). Sent by the
/// node that delivered the message, after archiving, so it carries the same stanza-id.
pub fn fork_received_to_other_nodes(server: &ServerRef, msg: &Element, bare: &str) {
    if !server.config.modules.carbons.enabled || server.cluster.is_none() || !eligible(msg) {
        return;
    }
    crate::cluster::to_own_resources(server, bare, wrap("received", bare, bare.to_owned(), msg));
}

/// Cluster: a carbon (addressed to the bare JID) for a resource of `bare` on another node,
/// `sent` by one of its resources there or `received` by one, for this node's carbons-enabled
/// resources of it.
pub fn deliver_remote_sent(server: &ServerRef, bare: &str, carbon: &Element) {
    if !server.config.modules.carbons.enabled {
        return;
    }
    for e in server.sessions.resources(bare).iter().filter(|e| e.carbons) {
        let mut copy = carbon.clone();
        copy.set_attr("to", format!("{bare}/{}", e.resource));
        let _ = server.deliver(e, copy);
    }
}

/// Handles `<enable/>` and `<disable/>` (§4, §5). Returns false when the IQ is not for this
/// module (carbons off in the configuration).
pub async fn handle_iq(server: &ServerRef, me: &Me, req: &Element) -> bool {
    if !server.config.modules.carbons.enabled {
        return false;
    }
    let Some(p) = iq::payload(req) else { return false };
    let reply = match (req.attr("type"), p.name.as_str()) {
        (Some("set"), "enable" | "disable") => {
            server.sessions.set_carbons(&me.bare, me.sid, p.name == "enable");
            Some(iq::result(req, None))
        }
        _ => iq::error(req, StanzaError::new(SEC::BadRequest)),
    };
    if let Some(reply) = reply {
        router::route(server, reply).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use meerkat_proto::ns::CLIENT;

    fn msg(t: Option<&str>) -> Element {
        let m = Element::new("message", CLIENT).with_attr("to", "b@h");
        match t {
            Some(t) => m.with_attr("type", t),
            None => m,
        }
    }

    #[test]
    fn eligibility_follows_section_6() {
        assert!(eligible(&msg(Some("chat"))));
        assert!(eligible(&msg(Some("error"))));
        assert!(!eligible(&msg(None)), "normal without body");
        assert!(eligible(&msg(None).with_child(Element::new("body", CLIENT).with_text("x"))));
        assert!(eligible(&msg(None).with_child(Element::new("received", "urn:xmpp:receipts"))));
        assert!(!eligible(&msg(Some("groupchat"))));
        assert!(!eligible(&msg(Some("headline"))));
        assert!(!eligible(&msg(Some("chat")).with_child(Element::new("private", NS))));
        assert!(!eligible(&msg(Some("chat")).with_child(Element::new("no-copy", NS_HINTS))));
        assert!(!eligible(&msg(Some("chat")).with_child(Element::new("sent", NS))));
        assert!(!eligible(&msg(Some("chat")).with_child(Element::new("received", NS))));
    }

    #[test]
    fn wrapper_is_exact() {
        let m = msg(Some("chat"))
            .with_attr("from", "a@h/x")
            .with_child(Element::new("body", CLIENT).with_text("hi"));
        let w = wrap("sent", "a@h", "a@h/y".into(), &m);
        assert_eq!(
            w.to_xml(),
            "<message xmlns='jabber:client' from='a@h' to='a@h/y' type='chat'>\
             <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' to='b@h' type='chat' from='a@h/x'><body>hi</body>\
             </message></forwarded></sent></message>"
        );
    }
}
