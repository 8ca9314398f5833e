//! Who gets PEP notifications (XEP-0163 §4.3) and last items (§4.3.3 with presence).
//!
//! Targets of a node's event: the owner's available resources and the available resources of
//! local contacts with a `from`/`both` subscription in the owner's roster, in both cases only
//! those whose caps show `NODE+notify`, and only where the access model lets them read the
//! node. Remote contacts are skipped until federation exists. In a cluster, the owner's and
//! the contacts' resources on other nodes get the event through [`crate::cluster::fanout`]:
//! only the node holding a resource knows its caps.

use super::{relation, Owner};
use crate::addr::Addr;
use crate::modules::caps::CapsFeatures;
use crate::modules::pubsub::access::{self, Relation};
use crate::modules::pubsub::cache::ServiceSnapshot;
use crate::modules::pubsub::config::{NodeConfig, SendLast};
use crate::modules::pubsub::item;
use crate::server::ServerRef;
use crate::session::SessionEntry;
use meerkat_proto::ns;
use meerkat_storage::Subscription;
use meerkat_xml::Element;

fn headline(from: &str, to: &str, event: Element) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("from", from)
        .with_attr("to", to)
        .with_attr("type", "headline")
        .with_attr("id", format!("pep-{:016x}", rand::random::<u64>()))
        .with_child(event)
}

fn wants(e: &SessionEntry, node: &str) -> bool {
    e.presence.is_some() && e.caps.as_ref().is_some_and(|c| c.notify(node))
}

/// Sends `event` (a `<event xmlns='pubsub#event'/>`) about `node` to every target.
pub(crate) async fn broadcast(
    server: &ServerRef,
    owner: &Owner<'_>,
    node: &str,
    config: &NodeConfig,
    event: Element,
) {
    let own = server.sessions.resources(&owner.bare);
    for e in own.iter().filter(|e| wants(e, node)) {
        let _ = server.deliver(
            e,
            headline(&owner.bare, &format!("{}/{}", owner.bare, e.resource), event.clone()),
        );
    }
    if server.cluster.is_some() {
        let n = headline(&owner.bare, &owner.bare, event.clone());
        crate::cluster::to_account_nodes(server, &owner.bare, !own.is_empty(), node, n);
    }
    let roster = match server.storage.roster.get_items(owner.domain, owner.node).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(what = "roster_read_failed", error = %e);
            return;
        }
    };
    for item in roster {
        if !matches!(item.subscription, Subscription::From | Subscription::Both) {
            continue;
        }
        let who = Relation { owner: false, subscribed: true, groups: item.groups };
        if access::check(config, &who).is_err() {
            continue;
        }
        let Some(contact) = Addr::parse(&item.jid) else { continue };
        if contact.node.is_none() || !server.serves(&contact.domain) {
            continue;
        }
        let bare = contact.bare();
        let theirs = server.sessions.resources(&bare);
        for e in theirs.iter().filter(|e| wants(e, node)) {
            let _ = server.deliver(
                e,
                headline(&owner.bare, &format!("{bare}/{}", e.resource), event.clone()),
            );
        }
        if server.cluster.is_some() {
            let n = headline(&owner.bare, &bare, event.clone());
            crate::cluster::to_account_nodes(server, &bare, !theirs.is_empty(), node, n);
        }
    }
}

/// A notification another node fanned out to the account `bare`: delivered to the resources
/// here that want `pep_node`, addressed to each.
pub fn deliver_fanout(
    server: &ServerRef,
    bare: &str,
    sessions: &[SessionEntry],
    notification: Element,
    pep_node: &str,
) {
    for e in sessions.iter().filter(|e| wants(e, pep_node)) {
        let mut n = notification.clone();
        n.set_attr("to", format!("{bare}/{}", e.resource));
        let _ = server.deliver(e, n);
    }
}

/// The last item of each node of `snapshot` that `features` asks for, as notifications.
async fn last_items(
    server: &ServerRef,
    owner: &Owner<'_>,
    snapshot: &ServiceSnapshot,
    features: &CapsFeatures,
    requester: &str,
    to: &SessionEntry,
    to_full: &str,
) {
    let mut who: Option<Relation> = None;
    for node in features.notify_nodes() {
        let Some(n) = snapshot.nodes.get(node) else { continue };
        let Some(last) = &n.last else { continue };
        if n.config.send_last != SendLast::OnSubAndPresence {
            continue;
        }
        if who.is_none() {
            who = Some(relation(server, owner, requester).await);
        }
        let allowed = who
            .as_ref()
            .is_some_and(|w| (w.owner || w.subscribed) && access::check(&n.config, w).is_ok());
        if !allowed {
            continue;
        }
        let event = Element::new("event", ns::PUBSUB_EVENT).with_child(
            Element::new("items", ns::PUBSUB_EVENT)
                .with_attr("node", node)
                .with_child(item::in_ns(last, ns::PUBSUB_EVENT, n.config.deliver_payloads, true)),
        );
        let _ = server.deliver(to, headline(&owner.bare, to_full, event));
    }
}

/// A resource's `+notify` interest became known (it became available with caps, or its caps
/// changed): send it the last items of its own nodes and of the contacts whose presence it
/// receives.
pub async fn interest_learned(server: &ServerRef, bare: &str, full: &str, features: &CapsFeatures) {
    if !server.config.modules.pep.enabled || features.notify_nodes().next().is_none() {
        return;
    }
    let Some(me) = Addr::parse(full) else { return };
    let (Some(node), Some(resource)) = (me.node.as_deref(), me.resource.as_deref()) else { return };
    let Some(entry) = server.sessions.get(bare, resource) else { return };
    let core = &server.pep.core;
    let own = Owner { node, domain: &me.domain, bare: bare.to_owned() };
    if let Ok(snap) = core.service(&server.storage, bare).await {
        last_items(server, &own, &snap, features, bare, &entry, full).await;
    }
    let roster = match server.storage.roster.get_items(&me.domain, node).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(what = "roster_read_failed", error = %e);
            return;
        }
    };
    for item in roster {
        if !matches!(item.subscription, Subscription::To | Subscription::Both) {
            continue;
        }
        let Some(contact) = Addr::parse(&item.jid) else { continue };
        let Some(cnode) = contact.node.as_deref() else { continue };
        if !server.serves(&contact.domain) {
            continue;
        }
        let owner = Owner { node: cnode, domain: &contact.domain, bare: contact.bare() };
        let Ok(snap) = core.service(&server.storage, &owner.bare).await else { continue };
        if snap.nodes.is_empty() {
            continue;
        }
        last_items(server, &owner, &snap, features, bare, &entry, full).await;
    }
}
