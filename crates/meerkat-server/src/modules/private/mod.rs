//! Private XML storage (XEP-0049), which also carries legacy bookmarks (XEP-0048,
//! `storage:bookmarks`).
//!
//! Implemented: get and set of one child element per namespace in `jabber:iq:private`, for
//! the user's own account only (a request to another account is `forbidden`); a get of a
//! namespace never stored returns the empty element it asked for (XEP-0049 §2.2); reserved
//! namespaces (`jabber:*`, `http://jabber.org/*`, `vcard-temp`, XEP-0049 §3) are refused with
//! `not-acceptable`; a query without exactly one child is a `bad-request`; bounds per item
//! (`modules.private.max_item_bytes`, `not-acceptable`) and per account
//! (`modules.private.max_items` namespaces, `resource-constraint`).
//!
//! Not implemented: several namespaces in one request (XEP-0049 allows one per request); the
//! PEP-based bookmarks of XEP-0402.

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
    let mut children = query.children();
    let (Some(child), None) = (children.next(), children.next()) else {
        let e = StanzaError::new(SEC::BadRequest).with_text("Exactly one child element expected");
        return iq::error(req, e);
    };
    if is_reserved(&child.ns) {
        return iq::error(req, StanzaError::new(SEC::NotAcceptable));
    }
    let store = &server.storage.misc.private;
    match req.attr("type") {
        Some("get") => match store.get_private(&me.host, &me.user, &child.ns).await {
            Ok(Some(xml)) => match super::vcard::parse_stored(&xml) {
                Some(el) => Some(iq::result(req, Some(Element::new("query", NS).with_child(el)))),
                None => iq::error(req, StanzaError::new(SEC::InternalServerError)),
            },
            // XEP-0049 §2.2: nothing stored: the request's own element comes back.
            Ok(None) => {
                let empty = Element::new(child.name.clone(), child.ns.clone());
                Some(iq::result(req, Some(Element::new("query", NS).with_child(empty))))
            }
            Err(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
        },
        Some("set") => {
            let cfg = &server.config.modules.private;
            let xml = child.to_xml();
            if xml.len() > cfg.max_item_bytes {
                let e = StanzaError::new(SEC::NotAcceptable)
                    .with_text(format!("Item larger than {} bytes", cfg.max_item_bytes));
                return iq::error(req, e);
            }
            match store.set_private(&me.host, &me.user, &child.ns, &xml, cfg.max_items).await {
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
}
