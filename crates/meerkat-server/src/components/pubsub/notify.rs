//! Event notifications of the pubsub service (XEP-0060 §7.1.2, §7.2.2, §8.4.2, §8.5.2): one
//! `<message type='headline'>` per subscription in the `subscribed` state, from the service's
//! JID, routed with `router::route` so subscribers on any node of a cluster get it. A
//! subscription to a bare JID reaches that account's available resources (RFC 6121 §8.5.2).
//!
//! Sent one after the other in the requester's task: a node has at most
//! `max_subscriptions_per_node` subscriptions, and routing never waits on a recipient.

use crate::server::ServerRef;
use meerkat_proto::ns;
use meerkat_xml::Element;

/// The `<event/>` element with one child.
pub fn event(child: Element) -> Element {
    Element::new("event", ns::PUBSUB_EVENT).with_child(child)
}

/// Sends `event` to one JID.
pub async fn send(server: &ServerRef, domain: &str, to: &str, event: Element) {
    let message = Element::new("message", ns::CLIENT)
        .with_attr("from", domain)
        .with_attr("to", to)
        .with_attr("type", "headline")
        .with_attr("id", format!("ps-{:016x}", rand::random::<u64>()))
        .with_child(event);
    crate::router::route(server, message).await;
}

/// Sends `event` to every subscription of the node in `subscriptions` (`(jid, state)`).
pub async fn broadcast(
    server: &ServerRef,
    domain: &str,
    subscriptions: &[(String, String)],
    event: Element,
) {
    for (jid, state) in subscriptions {
        if state == "subscribed" {
            send(server, domain, jid, event.clone()).await;
        }
    }
}

/// Sends `event` to every current subscription of a node.
pub async fn to_subscribers(server: &ServerRef, domain: &str, node: &str, event: Element) {
    match server.storage.pubsub_members.node_subscriptions(domain, node).await {
        Ok(subs) => broadcast(server, domain, &subs, event).await,
        Err(e) => tracing::error!(what = "pubsub_storage_failed", error = %e),
    }
}
