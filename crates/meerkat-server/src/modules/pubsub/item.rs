//! Items on the wire and in storage: an `<item id='..' publisher='..'>payload</item>` element,
//! stored as the payload's XML.

use meerkat_proto::ns;
use meerkat_storage::PubsubItem;
use meerkat_xml::{Element, Limits, StreamEvent, StreamParser};

/// Parses one stored payload back into an element.
pub fn parse_payload(xml: &str) -> Option<Element> {
    let mut p = StreamParser::new(Limits::default());
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(xml.as_bytes());
    loop {
        match p.next_event() {
            Ok(Some(StreamEvent::Stanza(el))) => return Some(el),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// The `<item/>` element (in the pubsub namespace; callers re-namespace) of a stored item.
pub fn parse_item(item: &PubsubItem) -> Option<Element> {
    let payload = parse_payload(&item.payload)?;
    Some(item_element(&item.id, &item.publisher, payload))
}

/// `<item id publisher>payload</item>` in the pubsub namespace.
pub fn item_element(id: &str, publisher: &str, payload: Element) -> Element {
    Element::new("item", ns::PUBSUB)
        .with_attr("id", id)
        .with_attr("publisher", publisher)
        .with_child(payload)
}

/// The same item element in another namespace (pubsub#event for notifications), with or
/// without its payload.
pub fn in_ns(item: &Element, namespace: &str, payload: bool, publisher: bool) -> Element {
    let mut e = Element::new("item", namespace);
    if let Some(id) = item.attr("id") {
        e.set_attr("id", id);
    }
    if publisher {
        if let Some(p) = item.attr("publisher") {
            e.set_attr("publisher", p);
        }
    }
    if payload {
        e.children = item.children.clone();
    }
    e
}
