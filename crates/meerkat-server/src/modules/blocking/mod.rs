//! Blocking Command (XEP-0191, `urn:xmpp:blocking`).
//!
//! Implemented: blocklist retrieval (which marks the resource as interested in pushes), block,
//! unblock and unblock-all with pushes to every interested resource; JIDs normalised and
//! matched as bare, full, domain/resource or domain (XEP-0191 §3.3 via XEP-0016 §2.1);
//! enforcement in both directions at the router (`router::route` for stanzas from a user,
//! `route_local` for stanzas to a user): from a blocked entity, presence and IQ results/errors
//! are dropped and messages and IQ get/set get `service-unavailable` (§3.5); to a blocked
//! entity, messages and IQ get/set get `not-acceptable` with
//! `<blocked xmlns='urn:xmpp:blocking:errors'/>` and presence is dropped (§3.6); unavailable
//! presence to a newly blocked contact, current presence again after unblock (§3.3, §3.4); a
//! length bound (`modules.blocking.max_items`, `resource-constraint` beyond).
//!
//! Not implemented: the XEP-0016 privacy lists it may be mapped onto (no privacy lists here);
//! reporting (XEP-0377).
//!
//! Hot path: the blocklists of online users are kept in memory ([`BlockCache`], loaded at
//! bind, dropped when the last resource unbinds), and only non-empty lists take memory, so a
//! routed stanza costs one map lookup and no storage query. Only stanzas to an offline user
//! that would be stored or answered (messages, subscription requests, IQ get/set) read the
//! stored list.

mod cache;
mod handler;
mod matching;

pub use cache::BlockCache;
pub use handler::{handle, on_bind, on_remote_change, on_unbind};
pub use matching::normalize_item;

use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_proto::error::{error_reply, ErrorType, StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;

/// The blocking command namespace.
pub const NS: &str = "urn:xmpp:blocking";
/// The namespace of the application-specific `<blocked/>` error.
pub const NS_ERRORS: &str = "urn:xmpp:blocking:errors";

fn kind(stanza: &Element) -> &str {
    stanza.attr("type").unwrap_or(match stanza.name.as_str() {
        "message" => "normal",
        "presence" => "available",
        _ => "",
    })
}

/// Outbound check, called by `router::route` for every stanza: a stanza from an online local
/// user to an entity on their blocklist is refused (errors pass, so bounces still flow).
/// Returns false when the stanza was consumed.
pub async fn outbound_allowed(server: &ServerRef, stanza: &Element, to: &Addr) -> bool {
    if !server.config.modules.blocking.enabled || kind(stanza) == "error" {
        return true;
    }
    let Some(from) = stanza.attr("from") else { return true };
    let from_bare = from.split('/').next().unwrap_or(from);
    // The server's own domain stays reachable whatever is blocked (disco, ping, commands).
    if to.node.is_none() && server.serves(&to.domain) {
        return true;
    }
    if !server.misc.blocking.blocks(from_bare, to) {
        return true;
    }
    match stanza.name.as_str() {
        "message" | "iq" if kind(stanza) != "result" => {
            if let Some(reply) = blocked_error(stanza) {
                // An error: it passes both checks on its way back.
                crate::router::route(server, reply).await;
            }
        }
        _ => {}
    }
    false
}

/// The `not-acceptable` + `<blocked/>` error for a stanza the user sent to a blocked entity.
fn blocked_error(stanza: &Element) -> Option<Element> {
    // XEP-0191 §3.6 (Example 11): type 'cancel'.
    let err = StanzaError::new(SEC::NotAcceptable).with_type(ErrorType::Cancel);
    let mut reply = error_reply(stanza, &err)?;
    let stanza_ns = reply.ns.clone();
    if let Some(err) = reply.get_child_mut("error", &stanza_ns) {
        err.children.push(meerkat_xml::Node::Element(Element::new("blocked", NS_ERRORS)));
    }
    Some(reply)
}

/// Inbound check, called by `route_local` for stanzas to a local account `node@domain`:
/// stanzas from an entity the account blocks are dropped or refused (XEP-0191 §3.5). Returns
/// false when the stanza was consumed.
pub async fn inbound_allowed(
    server: &ServerRef,
    stanza: &Element,
    bare: &str,
    node: &str,
    domain: &str,
    online: bool,
) -> bool {
    if !server.config.modules.blocking.enabled {
        return true;
    }
    let t = kind(stanza);
    // An online user without a cached list blocks nobody: no parsing on the common path.
    if t == "error" || (online && !server.misc.blocking.has(bare)) {
        return true;
    }
    let Some(from) = stanza.attr("from").and_then(Addr::parse) else { return true };
    if from.node.as_deref() == Some(node) && from.domain == domain {
        return true;
    }
    let blocked = if online {
        server.misc.blocking.blocks(bare, &from)
    } else {
        // Offline: only what would be stored or answered needs the stored list.
        let matters = match stanza.name.as_str() {
            "message" => true,
            "presence" => t == "subscribe",
            "iq" => matches!(t, "get" | "set"),
            _ => false,
        };
        if !matters {
            return true;
        }
        match server.storage.misc.blocking.get_blocklist(domain, node).await {
            Ok(list) => matching::blocks(&list, &from),
            Err(e) => {
                tracing::error!(what = "blocklist_read_failed", error = %e);
                false
            }
        }
    };
    if !blocked {
        return true;
    }
    match (stanza.name.as_str(), t) {
        ("message", _) | ("iq", "get" | "set") => {
            crate::router::bounce(server, stanza, StanzaError::new(SEC::ServiceUnavailable)).await
        }
        _ => {}
    }
    false
}
