//! Stanzas to the bare JID of an account whose resources sit on several nodes: the node
//! elected for the account archives the message (one stanza-id for every copy), applies the
//! fallback rules, delivers to its own winners and relays the stamped message to the other
//! holders, marked so that they only deliver to their own winners (RFC 6121 §8.5.2 over the
//! merged view) instead of handling it again. Subscription requests are relayed the same way
//! (the elected node updates the roster; the others only deliver them).
//!
//! The mark is an element of a namespace of ours; it is trusted only on stanzas from the
//! cluster and removed from everything else, so a client cannot forge it.

use super::outbound::Mode;
use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_xml::{Element, Node};

/// Namespace of the relay mark.
const NS_RELAY: &str = "urn:meerkat:cluster:relay:0";

/// Removes relay marks; true when there was one.
pub(crate) fn take_mark(stanza: &mut Element) -> bool {
    let before = stanza.children.len();
    stanza.children.retain(|c| !matches!(c, Node::Element(e) if e.ns == NS_RELAY));
    stanza.children.len() != before
}

/// Marks a stanza as relayed by the node that handled it for the account.
pub(crate) fn mark(stanza: &mut Element) {
    stanza.children.push(Node::Element(Element::new("relay", NS_RELAY)));
}

/// Sends `stanza` (already archived and stamped here) to the other holders of `to`'s account.
/// False when it could not be queued (stopping, or the outbox stayed full): the caller then
/// handles the message as if this node were the only holder (its resources, else offline).
pub(crate) async fn relay(server: &ServerRef, mut stanza: Element, to: &Addr) -> bool {
    let Some(c) = server.cluster() else { return false };
    mark(&mut stanza);
    let queued = c.outbox.send(stanza, to, Mode::Relay).await.is_ok();
    if !queued {
        tracing::warn!(what = "cluster_relay_not_sent", to = %to.full());
    }
    queued
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_found_and_removed() {
        let mut m = Element::new("message", "jabber:client")
            .with_child(Element::new("body", "jabber:client"))
            .with_child(Element::new("relay", NS_RELAY));
        assert!(take_mark(&mut m));
        assert_eq!(m.children.len(), 1);
        assert!(!take_mark(&mut m));
    }
}
