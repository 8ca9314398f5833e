//! Offline messages (XEP-0160): kept for users with no available resource, delivered with a
//! delay stamp (XEP-0203) on their next available presence.

use crate::modules::services::xep0082;
use crate::router::bounce;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::StorageError;
use meerkat_xml::Element;

const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
const NS_HINTS: &str = "urn:xmpp:hints";

/// Worth storing: something a person would miss (XEP-0160 §3 and XEP-0334 `no-store`);
/// bare chat-state notifications are not.
fn storable(msg: &Element) -> bool {
    if msg.has_child("no-store", NS_HINTS) || msg.has_child("no-permanent-store", NS_HINTS) {
        return false;
    }
    if msg.has_child("store", NS_HINTS) {
        return true;
    }
    msg.children().any(|c| c.ns != NS_CHATSTATES && c.ns != NS_HINTS && c.name != "thread")
}

/// Stores a message for an offline user, or bounces it when offline storage is off or full.
pub async fn store_or_bounce(server: &ServerRef, msg: Element, node: &str, domain: &str) {
    if !storable(&msg) {
        return;
    }
    let cfg = &server.config.modules.offline;
    if !cfg.enabled {
        bounce(server, &msg, StanzaError::new(SEC::ServiceUnavailable)).await;
        return;
    }
    let mut xml = Vec::with_capacity(256);
    msg.write_to(&mut xml, ns::CLIENT);
    let xml = String::from_utf8_lossy(&xml).into_owned();
    let from = msg.attr("from").unwrap_or_default();
    let now = chrono::Utc::now().timestamp_millis();
    match server.storage.offline.store(domain, node, from, now, &xml, cfg.max_messages).await {
        Ok(_) => crate::metrics::get().offline_stored.increment(1),
        Err(StorageError::LimitReached { .. }) => {
            let err = StanzaError::new(SEC::ServiceUnavailable)
                .with_text("The recipient's offline message storage is full");
            bounce(server, &msg, err).await;
        }
        Err(e) => {
            tracing::error!(what = "offline_store_failed", error = %e);
            bounce(server, &msg, StanzaError::new(SEC::InternalServerError)).await;
        }
    }
}

/// The stored messages of a user, each with its `<delay/>`, and the id to remove once they are
/// written to the client.
pub async fn take(server: &ServerRef, node: &str, domain: &str) -> (Vec<Element>, Option<i64>) {
    let stored = match server.storage.offline.fetch(domain, node).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(what = "offline_fetch_failed", error = %e);
            return (Vec::new(), None);
        }
    };
    let last = stored.last().map(|m| m.id);
    let mut out = Vec::with_capacity(stored.len());
    for m in stored {
        let mut p = meerkat_xml::StreamParser::new(meerkat_xml::Limits {
            max_stanza_bytes: usize::MAX / 2,
            ..meerkat_xml::Limits::default()
        });
        p.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
        p.feed(m.stanza.as_bytes());
        let mut parsed = None;
        while let Ok(Some(ev)) = p.next_event() {
            if let meerkat_xml::StreamEvent::Stanza(el) = ev {
                parsed = Some(el);
                break;
            }
        }
        let Some(mut el) = parsed else {
            tracing::error!(what = "offline_stanza_unreadable", id = m.id);
            continue;
        };
        el.children.push(meerkat_xml::Node::Element(
            Element::new("delay", ns::DELAY)
                .with_attr("from", domain)
                .with_attr("stamp", xep0082(m.stored_at_ms))
                .with_text("Offline Storage"),
        ));
        out.push(el);
    }
    (out, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_states_alone_are_not_stored() {
        let m = Element::new("message", ns::CLIENT)
            .with_child(Element::new("composing", NS_CHATSTATES));
        assert!(!storable(&m));
        let m = m.with_child(Element::new("body", ns::CLIENT).with_text("hi"));
        assert!(storable(&m));
        let m = m.with_child(Element::new("no-store", NS_HINTS));
        assert!(!storable(&m));
    }
}
