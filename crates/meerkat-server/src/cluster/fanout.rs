//! Notifications the server generates for an account (PEP events, XEP-0163 §4.3) that must
//! also reach its resources on other nodes. Which resources want one is known only where they
//! are bound (their caps are session state), so the notification travels marked with its
//! PEP node, to the account's subject, and each holder delivers it to its own resources that
//! asked for that node: no storage, no archive, no error when nobody holds the account.
//!
//! Like the relay mark, the fanout mark is trusted only on stanzas from the cluster and
//! removed from everything else, so a client cannot forge it.

use super::outbound::Mode;
use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_xml::{Element, Node};

/// Namespace of the fanout mark.
const NS_FANOUT: &str = "urn:meerkat:cluster:pep:0";

/// Removes fanout marks; the PEP node of the first one, if there was one.
pub(crate) fn take_fanout(stanza: &mut Element) -> Option<String> {
    let mut node = None;
    stanza.children.retain(|c| match c {
        Node::Element(e) if e.ns == NS_FANOUT => {
            if node.is_none() {
                node = e.attr("node").map(str::to_owned);
            }
            false
        }
        _ => true,
    });
    node
}

/// Sends `notification` (its `to` is the account's bare JID) to the other nodes holding the
/// account, marked for the resources there that want `pep_node`. `held_here` says whether
/// this node holds resources of the account: then only a known remote holder is worth the
/// message; otherwise any node may hold it, and nobody answering costs nothing more.
pub fn to_account_nodes(
    server: &ServerRef,
    bare: &str,
    held_here: bool,
    pep_node: &str,
    mut notification: Element,
) {
    let Some(c) = server.cluster() else { return };
    if held_here && c.views.remote(bare, c.node_name()).is_none() && !c.views.must_publish(bare) {
        return;
    }
    let Some(to) = Addr::parse(bare) else { return };
    notification
        .children
        .push(Node::Element(Element::new("fanout", NS_FANOUT).with_attr("node", pep_node)));
    // Dropped when the outbox is full, like a notification to a slow local reader.
    if c.outbox.try_send(notification, &to, Mode::NoFallback).is_err() {
        tracing::debug!(what = "cluster_fanout_dropped", %bare);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanout_marks_are_found_and_removed() {
        let mut m = Element::new("message", "jabber:client")
            .with_child(Element::new("event", "http://jabber.org/protocol/pubsub#event"))
            .with_child(Element::new("fanout", NS_FANOUT).with_attr("node", "urn:x"))
            .with_child(Element::new("fanout", NS_FANOUT).with_attr("node", "urn:y"));
        assert_eq!(take_fanout(&mut m).as_deref(), Some("urn:x"));
        assert_eq!(m.children.len(), 1);
        assert_eq!(take_fanout(&mut m), None);
    }
}
