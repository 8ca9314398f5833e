//! Service discovery of the PEP service (XEP-0163 §6): the account's bare JID has identity
//! `pubsub/pep` and the pubsub features; disco#items lists the nodes the asker may see.

use super::{relation, Owner};
use crate::addr::Addr;
use crate::modules::pubsub::access;
use crate::server::ServerRef;
use meerkat_proto::ns;
use meerkat_xml::{Element, Node};

/// Pubsub features advertised on an account (each one implemented).
pub const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/pubsub",
    "http://jabber.org/protocol/pubsub#access-open",
    "http://jabber.org/protocol/pubsub#access-presence",
    "http://jabber.org/protocol/pubsub#access-roster",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#auto-create",
    "http://jabber.org/protocol/pubsub#auto-subscribe",
    "http://jabber.org/protocol/pubsub#config-node",
    "http://jabber.org/protocol/pubsub#create-and-configure",
    "http://jabber.org/protocol/pubsub#create-nodes",
    "http://jabber.org/protocol/pubsub#delete-nodes",
    "http://jabber.org/protocol/pubsub#filtered-notifications",
    "http://jabber.org/protocol/pubsub#item-ids",
    "http://jabber.org/protocol/pubsub#last-published",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#presence-notifications",
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-items",
];

/// Adds PEP to the account's disco answer `base` (as built by the disco module).
pub async fn account(
    server: &ServerRef,
    req: &Element,
    node: &str,
    domain: &str,
    base: Option<Element>,
) -> Option<Element> {
    let mut reply = base?;
    if !server.config.modules.pep.enabled || reply.attr("type") != Some("result") {
        return Some(reply);
    }
    if let Some(q) = reply.get_child_mut("query", ns::DISCO_INFO) {
        let at = q
            .children
            .iter()
            .rposition(|c| matches!(c, Node::Element(e) if e.name == "identity"))
            .map_or(0, |i| i + 1);
        q.children.insert(
            at,
            Node::Element(
                Element::new("identity", ns::DISCO_INFO)
                    .with_attr("category", "pubsub")
                    .with_attr("type", "pep"),
            ),
        );
        for f in FEATURES {
            q.children
                .push(Node::Element(Element::new("feature", ns::DISCO_INFO).with_attr("var", *f)));
        }
        return Some(reply);
    }
    let owner = Owner { node, domain, bare: format!("{node}@{domain}") };
    let requester = req.attr("from").and_then(Addr::parse).map(|a| a.bare()).unwrap_or_default();
    let Ok(snap) = server.pep.core.service(&server.storage, &owner.bare).await else {
        return Some(reply);
    };
    if snap.nodes.is_empty() {
        return Some(reply);
    }
    let who = relation(server, &owner, &requester).await;
    if let Some(q) = reply.get_child_mut("query", ns::DISCO_ITEMS) {
        for (name, n) in &snap.nodes {
            if access::check(&n.config, &who).is_ok() {
                q.children.push(Node::Element(
                    Element::new("item", ns::DISCO_ITEMS)
                        .with_attr("jid", owner.bare.clone())
                        .with_attr("node", name.clone()),
                ));
            }
        }
    }
    Some(reply)
}
