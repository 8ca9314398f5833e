//! Private XML storage (XEP-0049), which also carries legacy bookmarks (XEP-0048,
//! `storage:bookmarks`).
//!
//! Implemented: get and set of the elements of one namespace in `jabber:iq:private`, for
//! the user's own account only (a request to another account is `forbidden`); a get of a
//! namespace never stored returns the empty element it asked for (XEP-0049 §2.2); reserved
//! namespaces (`jabber:*`, `http://jabber.org/*`, `vcard-temp`, XEP-0049 §3) are refused with
//! `not-acceptable`; a query without a child, a get naming several elements or a set mixing
//! namespaces is a `bad-request`; bounds per item
//! (`modules.private.max_item_bytes`, `not-acceptable`) and per account
//! (`modules.private.max_items` namespaces, `resource-constraint`).
//!
//! Not implemented: the PEP-based bookmarks of XEP-0402.

use super::{iq, Me};
use crate::router;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_storage::StorageError;
use meerkat_xml::Element;

/// The private XML storage namespace.
pub const NS: &str = "jabber:iq:private";

/// True for namespaces no client may store (XEP-0049 §3).
pub fn is_reserved(namespace: &str) -> bool {
    namespace.is_empty()
        || namespace.starts_with("jabber:")
        || namespace.starts_with("http://jabber.org/")
        || namespace == "vcard-temp"
        || namespace == "http://etherx.jabber.org/streams"
}

/// `jabber:iq:private` get/set from the user's own session.
pub async fn own(server: &ServerRef, me: &Me, req: &Element) {
    let reply = if server.config.modules.private.enabled {
        answer(server, me, req).await
    } else {
        iq::error(req, StanzaError::new(SEC::ServiceUnavailable))
    };
    if let Some(r) = reply {
        router::route(server, r).await;
    }
}

/// A private-storage request to someone else's account.
pub async fn account(server: &ServerRef, req: &Element) {
    let cond = if server.config.modules.private.enabled {
        SEC::Forbidden
    } else {
        SEC::ServiceUnavailable
    };
    if let Some(r) = iq::error(req, StanzaError::new(cond)) {
        router::route(server, r).await;
    }
}

async fn answer(server: &ServerRef, me: &Me, req: &Element) -> Option<Element> {
    let query = iq::payload(req)?;
    let children: Vec<&Element> = query.children().collect();
    let Some(first) = children.first() else {
        // XEP-0049 §2.3: no child element ("Bad Format").
        let e = StanzaError::new(SEC::BadRequest).with_text("A child element is required");
        return iq::error(req, e);
    };
    let namespace = first.ns.clone();
    // A get names one namespace; a set may carry several elements, all of one namespace.
    let one_ns = children.iter().all(|c| c.ns == namespace);
    if !one_ns || (req.attr("type") == Some("get") && children.len() > 1) {
        let e = StanzaError::new(SEC::BadRequest).with_text("One namespace per request");
        return iq::error(req, e);
    }
    if is_reserved(&namespace) {
        return iq::error(req, StanzaError::new(SEC::NotAcceptable));
    }
    let store = &server.storage.misc.private;
    match req.attr("type") {
        Some("get") => match store.get_private(&me.host, &me.user, &namespace).await {
            Ok(Some(xml)) => {
                let mut q = Element::new("query", NS);
                for el in parse_all(&xml) {
                    q = q.with_child(el);
                }
                Some(iq::result(req, Some(q)))
            }
            // XEP-0049 §2.3: nothing stored: the request's own element comes back.
            Ok(None) => {
                let empty = Element::new(first.name.clone(), namespace);
                Some(iq::result(req, Some(Element::new("query", NS).with_child(empty))))
            }
            Err(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
        },
        Some("set") => {
            let cfg = &server.config.modules.private;
            let xml: String = children.iter().map(|c| c.to_xml()).collect();
            if xml.len() > cfg.max_item_bytes {
                let e = StanzaError::new(SEC::NotAcceptable)
                    .with_text(format!("Item larger than {} bytes", cfg.max_item_bytes));
                return iq::error(req, e);
            }
            match store.set_private(&me.host, &me.user, &namespace, &xml, cfg.max_items).await {
                Ok(()) => Some(iq::result(req, None)),
                Err(StorageError::LimitReached { limit }) => {
                    let e = StanzaError::new(SEC::ResourceConstraint)
                        .with_text(format!("At most {limit} namespaces may be stored"));
                    iq::error(req, e)
                }
                Err(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
            }
        }
        _ => None,
    }
}

/// The elements of a stored fragment (one or more siblings of one namespace).
fn parse_all(xml: &str) -> Vec<Element> {
    let mut p = meerkat_xml::StreamParser::new(meerkat_xml::Limits::default());
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(xml.as_bytes());
    let mut out = Vec::new();
    while let Ok(Some(ev)) = p.next_event() {
        if let meerkat_xml::StreamEvent::Stanza(el) = ev {
            out.push(el);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_namespaces() {
        for ns in ["jabber:iq:private", "jabber:client", "http://jabber.org/protocol/x", ""] {
            assert!(is_reserved(ns), "{ns}");
        }
        for ns in ["storage:bookmarks", "storage:rosternotes", "exodus:prefs"] {
            assert!(!is_reserved(ns), "{ns}");
        }
    }

    #[test]
    fn stored_fragments_with_several_elements_parse_back() {
        let a = Element::new("a", "x:y").with_text("1 < 2");
        let b = Element::new("b", "x:y");
        let both = parse_all(&(a.to_xml() + &b.to_xml()));
        assert_eq!(both, vec![a, b]);
        assert!(parse_all("<broken").is_empty());
    }
}
