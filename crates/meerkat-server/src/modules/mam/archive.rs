//! Deciding what is archived, stamping stanza ids, and handing archived messages to the writer.

use super::{writer, NS_SID};
use crate::addr::Addr;
use crate::modules::carbons::NS_HINTS;
use crate::modules::Me;
use crate::server::ServerRef;
use crate::session::SessionEntry;
use meerkat_proto::ns;
use meerkat_storage::{ArchivedMessage, DefaultMode, IdSlot};
use meerkat_xml::Element;
use std::sync::atomic::{AtomicI64, Ordering};

/// Payload namespaces archived without a body (see the module documentation for why).
const ARCHIVED_PAYLOADS: &[&str] = &[
    "urn:xmpp:reactions:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:message-retract:0",
    "urn:xmpp:fasten:0",
    "urn:xmpp:message-correct:0",
    "eu.siacs.conversations.axolotl",
    "urn:xmpp:openpgp:0",
];

/// Chat-marker elements that carry state (not the `<markable/>` request).
const MARKERS: &[&str] = &["received", "displayed", "acknowledged"];

/// True when a message belongs in a user archive (see the module documentation).
pub fn archivable(msg: &Element) -> bool {
    if msg.name != "message" || !matches!(msg.attr("type").unwrap_or("normal"), "chat" | "normal") {
        return false;
    }
    if msg.has_child("no-store", NS_HINTS) || msg.has_child("no-permanent-store", NS_HINTS) {
        return false;
    }
    if msg.has_child("store", NS_HINTS) {
        return true;
    }
    msg.children().any(|c| {
        (c.name == "body" && c.ns == ns::CLIENT)
            || ARCHIVED_PAYLOADS.contains(&c.ns.as_str())
            || (c.ns == "urn:xmpp:chat-markers:0" && MARKERS.contains(&c.name.as_str()))
            || (c.ns == "urn:xmpp:receipts" && c.name == "received")
    })
}

/// Archive ids: unique on the node and increasing. An id is the time in milliseconds times
/// 4096 plus a counter; when more than 4096 ids are taken in one millisecond, or the clock
/// steps back, the ids run ahead of the clock instead of repeating. When several nodes share
/// the archives, each keeps to its own [`IdSlot`] (the low bits of its ids), so no two nodes
/// choose the same id.
pub struct IdGen {
    last: AtomicI64,
    /// The node's residue and the mask of the low bits it occupies (0, 0: every id).
    slot: i64,
    mask: i64,
}

impl IdGen {
    /// A generator whose ids are all above `floor` (the highest id in storage).
    pub fn new(floor: i64) -> Self {
        IdGen { last: AtomicI64::new(floor), slot: 0, mask: 0 }
    }

    /// Restricts the ids to the node's share of the id space (from
    /// `ArchiveStore::claim_id_slot`).
    pub fn with_slot(self, slot: IdSlot) -> Self {
        let mask = (1i64 << slot.bits.min(12)) - 1;
        IdGen { slot: i64::from(slot.slot) & mask, mask, ..self }
    }

    /// The next id.
    pub fn next(&self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis().saturating_mul(4096);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            // Up to the next id in this node's residue class.
            let next = next.saturating_add((self.slot - next) & self.mask);
            match self.last.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

/// The wire form of an id: 16 hex digits, so ids sort as strings the way they sort as numbers.
pub fn id_to_string(id: i64) -> String {
    format!("{id:016x}")
}

/// Parses the wire form of an id (`None`: not one of ours).
pub fn id_from_str(s: &str) -> Option<i64> {
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(s, 16).ok().filter(|id| *id > 0)
}

/// Removes the stanza-ids a client put on its message claiming to be by one of our accounts or
/// domains (XEP-0359 §7: only the entity named in `by` may add one).
pub fn strip_forged_ids(server: &ServerRef, msg: &mut Element) {
    if !msg.has_child("stanza-id", NS_SID) {
        return;
    }
    msg.children.retain(|n| match n {
        meerkat_xml::Node::Element(e) if e.is("stanza-id", NS_SID) => {
            let ours = e
                .attr("by")
                .and_then(Addr::parse)
                .is_none_or(|by| by.resource.is_some() || server.serves(&by.domain));
            !ours
        }
        _ => true,
    });
}

/// True when the archive of `owner` (`node@domain`) already stamped this message (it was
/// archived when first routed, and is routed again: a session's leftovers, or a fallback).
fn stamped_by(msg: &Element, owner: &str) -> bool {
    msg.children().any(|c| c.is("stanza-id", NS_SID) && c.attr("by") == Some(owner))
}

/// Whether `owner`'s preferences let a message with `peer_bare` be archived.
async fn allowed(
    server: &ServerRef,
    node: &str,
    domain: &str,
    bare: &str,
    peer_bare: &str,
) -> bool {
    let prefs = super::prefs::effective(server, node, domain, bare).await;
    if prefs.never.iter().any(|j| j == peer_bare) {
        return false;
    }
    if prefs.always.iter().any(|j| j == peer_bare) {
        return true;
    }
    match prefs.default {
        DefaultMode::Always => true,
        DefaultMode::Never => false,
        DefaultMode::Roster => matches!(
            server.storage.roster.get_item(domain, node, peer_bare).await,
            Ok(Some(item)) if item.in_roster
        ),
    }
}

fn record(
    server: &ServerRef,
    id: i64,
    node: &str,
    domain: &str,
    peer: &Addr,
    outgoing: bool,
    msg: &Element,
) -> ArchivedMessage {
    let _ = server;
    let mut xml = Vec::with_capacity(256);
    msg.write_to(&mut xml, ns::CLIENT);
    ArchivedMessage {
        id,
        host: domain.to_owned(),
        username: node.to_owned(),
        with_bare: peer.bare(),
        with_resource: peer.resource.clone().unwrap_or_default(),
        outgoing,
        stamp_ms: chrono::Utc::now().timestamp_millis(),
        stanza: String::from_utf8_lossy(&xml).into_owned(),
    }
}

/// Recipient side: archives a message routed to the local account `node@domain` (delivered or
/// stored offline) and stamps its stanza-id. `sessions` are the account's bound sessions.
pub async fn to_local_user(
    server: &ServerRef,
    msg: &mut Element,
    node: &str,
    domain: &str,
    bare: &str,
    sessions: &[SessionEntry],
) {
    if !server.config.modules.mam.enabled || !archivable(msg) || stamped_by(msg, bare) {
        return;
    }
    let Some(peer) = msg.attr("from").and_then(Addr::parse) else { return };
    // A bound session proves the account exists; an archive for a non-account would be litter.
    if sessions.is_empty() && !server.storage.users.user_exists(domain, node).await.unwrap_or(false)
    {
        return;
    }
    if !allowed(server, node, domain, bare, &peer.bare()).await {
        return;
    }
    let id = server.mam.ids.next();
    msg.children.push(meerkat_xml::Node::Element(
        Element::new("stanza-id", NS_SID).with_attr("by", bare).with_attr("id", id_to_string(id)),
    ));
    let rec = record(server, id, node, domain, &peer, false, msg);
    writer::enqueue(server, rec).await;
}

/// Sender side: archives a message a local user sends to someone else.
pub async fn from_client(server: &ServerRef, me: &Me, msg: &Element) {
    if !server.config.modules.mam.enabled || !archivable(msg) {
        return;
    }
    let Some(peer) = msg.attr("to").and_then(Addr::parse) else { return };
    if !allowed(server, &me.user, &me.host, &me.bare, &peer.bare()).await {
        return;
    }
    let id = server.mam.ids.next();
    let rec = record(server, id, &me.user, &me.host, &peer, true, msg);
    writer::enqueue(server, rec).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use meerkat_proto::ns::CLIENT;

    fn chat() -> Element {
        Element::new("message", CLIENT).with_attr("type", "chat")
    }

    #[test]
    fn business_rules() {
        let body = Element::new("body", CLIENT).with_text("x");
        assert!(archivable(&chat().with_child(body.clone())));
        assert!(archivable(&Element::new("message", CLIENT).with_child(body.clone())));
        assert!(!archivable(&chat()), "nothing to keep");
        assert!(!archivable(
            &chat().with_child(Element::new("active", "http://jabber.org/protocol/chatstates"))
        ));
        assert!(!archivable(&chat().with_attr("type", "error").with_child(body.clone())));
        assert!(!archivable(&chat().with_attr("type", "headline").with_child(body.clone())));
        assert!(!archivable(&chat().with_attr("type", "groupchat").with_child(body.clone())));
        assert!(!archivable(
            &chat().with_child(body.clone()).with_child(Element::new("no-store", NS_HINTS))
        ));
        assert!(!archivable(
            &chat().with_child(body).with_child(Element::new("no-permanent-store", NS_HINTS))
        ));
        assert!(archivable(&chat().with_child(Element::new("store", NS_HINTS))));
        assert!(archivable(&chat().with_child(Element::new("reactions", "urn:xmpp:reactions:0"))));
        assert!(archivable(
            &chat().with_child(Element::new("retract", "urn:xmpp:message-retract:1"))
        ));
        assert!(archivable(
            &chat().with_child(Element::new("displayed", "urn:xmpp:chat-markers:0"))
        ));
        assert!(!archivable(
            &chat().with_child(Element::new("markable", "urn:xmpp:chat-markers:0"))
        ));
        assert!(archivable(&chat().with_child(Element::new("received", "urn:xmpp:receipts"))));
        assert!(!archivable(&chat().with_child(Element::new("request", "urn:xmpp:receipts"))));
    }

    #[test]
    fn ids_increase_and_sort_as_strings() {
        let g = IdGen::new(0);
        let ids: Vec<i64> = (0..10_000).map(|_| g.next()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let strs: Vec<String> = ids.iter().map(|i| id_to_string(*i)).collect();
        assert!(strs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(id_from_str(&strs[5]), Some(ids[5]));
        let far = IdGen::new(i64::MAX / 2);
        assert!(far.next() > i64::MAX / 2, "never below the stored floor");
        assert_eq!(id_from_str("xyz"), None);
        assert_eq!(id_from_str("000000000000000g"), None);
        assert_eq!(id_from_str("-00000000000001f"), None);
    }

    #[test]
    fn ids_keep_to_the_node_slot() {
        let slots = [IdSlot { slot: 5, bits: 6 }, IdSlot { slot: 6, bits: 6 }];
        let gens: Vec<IdGen> = slots.iter().map(|s| IdGen::new(0).with_slot(*s)).collect();
        let mut all = std::collections::BTreeSet::new();
        for (g, s) in gens.iter().zip(slots) {
            let ids: Vec<i64> = (0..5_000).map(|_| g.next()).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            assert!(ids.iter().all(|id| id % 64 == i64::from(s.slot)), "{s:?}");
            all.extend(ids);
        }
        assert_eq!(all.len(), 10_000, "two nodes never share an id");
        let floor = IdGen::new(1_000_000_000_000_000).with_slot(IdSlot { slot: 63, bits: 6 });
        let id = floor.next();
        assert!(id > 1_000_000_000_000_000 && id % 64 == 63, "{id}");
    }
}
