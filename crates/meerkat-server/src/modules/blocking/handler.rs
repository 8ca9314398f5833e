//! The blocking command IQs (XEP-0191 §3.1–§3.4) and the cache's life cycle.

use super::{matching, NS};
use crate::addr::Addr;
use crate::modules::{iq, Me};
use crate::router;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::{StorageError, Subscription};
use meerkat_xml::Element;

/// Loads the user's blocklist into the cache when a resource binds (one query per login).
pub async fn on_bind(server: &ServerRef, me: &Me) {
    if !server.config.modules.blocking.enabled {
        return;
    }
    match server.storage.misc.blocking.get_blocklist(&me.host, &me.user).await {
        Ok(items) => server.misc.blocking.set(&me.bare, items),
        Err(e) => tracing::error!(what = "blocklist_read_failed", error = %e),
    }
}

/// Drops the cached list when the user's last resource has unbound.
pub fn on_unbind(server: &ServerRef, bare: &str) {
    server.misc.blocking.drop_if(bare, || !server.sessions.resources(bare).is_empty());
}

/// Handles `<blocklist/>`, `<block/>` and `<unblock/>` from the user's own session.
pub async fn handle(server: &ServerRef, me: &Me, req: &Element) {
    let reply = if server.config.modules.blocking.enabled {
        answer(server, me, req).await
    } else {
        iq::error(req, StanzaError::new(SEC::ServiceUnavailable))
    };
    if let Some(r) = reply {
        router::route(server, r).await;
    }
}

async fn answer(server: &ServerRef, me: &Me, req: &Element) -> Option<Element> {
    let payload = iq::payload(req)?;
    match (req.attr("type"), payload.name.as_str()) {
        (Some("get"), "blocklist") => {
            server.sessions.set_blocklist_interested(&me.bare, me.sid);
            let items = match server.storage.misc.blocking.get_blocklist(&me.host, &me.user).await {
                Ok(i) => i,
                Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
            };
            let mut list = Element::new("blocklist", NS);
            for jid in items {
                list = list.with_child(Element::new("item", NS).with_attr("jid", jid));
            }
            Some(iq::result(req, Some(list)))
        }
        (Some("set"), "block") => block(server, me, req, payload).await,
        (Some("set"), "unblock") => unblock(server, me, req, payload).await,
        _ => iq::error(req, StanzaError::new(SEC::BadRequest)),
    }
}

/// The item JIDs of a block/unblock request, normalised, sorted and unique; an error reply
/// for a malformed one.
fn items(req: &Element, payload: &Element, max: usize) -> Result<Vec<String>, Option<Element>> {
    let mut out = Vec::new();
    for item in payload.children().filter(|c| c.is("item", NS)) {
        if out.len() >= max {
            let e = StanzaError::new(SEC::ResourceConstraint).with_text("Too many items");
            return Err(iq::error(req, e));
        }
        match item.attr("jid").and_then(matching::normalize_item) {
            Some(j) => out.push(j),
            None => return Err(iq::error(req, StanzaError::new(SEC::JidMalformed))),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

async fn block(server: &ServerRef, me: &Me, req: &Element, payload: &Element) -> Option<Element> {
    let max = server.config.modules.blocking.max_items;
    let new = match items(req, payload, max) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if new.is_empty() {
        // §3.3: a block without items is a bad request.
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    }
    let store = &server.storage.misc.blocking;
    match store.block(&me.host, &me.user, &new, max).await {
        Ok(()) => {}
        Err(StorageError::LimitReached { .. }) => {
            let e = StanzaError::new(SEC::ResourceConstraint).with_text("Blocklist is full");
            return iq::error(req, e);
        }
        Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
    }
    // §3.3: contacts allowed to see the user's presence get unavailable presence, sent before
    // the cache is updated so the block does not stop it.
    presence_to_matching(server, &me.bare, &me.host, &me.user, &new, false).await;
    reload(server, me).await;
    push(server, me, payload_with(&new, "block"));
    Some(iq::result(req, None))
}

async fn unblock(server: &ServerRef, me: &Me, req: &Element, payload: &Element) -> Option<Element> {
    let max = server.config.modules.blocking.max_items;
    let asked = match items(req, payload, max) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let store = &server.storage.misc.blocking;
    let removed: Vec<String> = if asked.is_empty() {
        // §3.4: unblock without items unblocks everyone.
        let old = store.get_blocklist(&me.host, &me.user).await.unwrap_or_default();
        if store.unblock_all(&me.host, &me.user).await.is_err() {
            return iq::error(req, StanzaError::new(SEC::InternalServerError));
        }
        old
    } else {
        if store.unblock(&me.host, &me.user, &asked).await.is_err() {
            return iq::error(req, StanzaError::new(SEC::InternalServerError));
        }
        asked.clone()
    };
    reload(server, me).await;
    push(server, me, payload_with(&asked, "unblock"));
    // §3.4: presence again to contacts that may see it and are no longer blocked.
    presence_to_matching(server, &me.bare, &me.host, &me.user, &removed, true).await;
    Some(iq::result(req, None))
}

async fn reload(server: &ServerRef, me: &Me) {
    match server.storage.misc.blocking.get_blocklist(&me.host, &me.user).await {
        Ok(list) => server.misc.blocking.set(&me.bare, list),
        Err(e) => tracing::error!(what = "blocklist_read_failed", error = %e),
    }
}

fn payload_with(items: &[String], name: &str) -> Element {
    let mut p = Element::new(name, NS);
    for jid in items {
        p = p.with_child(Element::new("item", NS).with_attr("jid", jid.clone()));
    }
    p
}

/// Pushes a block/unblock to every resource that asked for the blocklist (§3.3).
fn push(server: &ServerRef, me: &Me, payload: Element) {
    push_local(server, &me.bare, &payload);
    if server.cluster.is_some() {
        // The user's other nodes reload their cached list and push it (`on_remote_change`).
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", "block")
            .with_attr("from", me.bare.clone())
            .with_attr("to", me.bare.clone())
            .with_child(payload);
        crate::cluster::to_own_resources(server, &me.bare, iq);
    }
}

fn push_local(server: &ServerRef, bare: &str, payload: &Element) {
    for e in server.sessions.resources(bare).iter().filter(|e| e.blocklist_interested) {
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", format!("block{}", crate::c2s::conn::new_stream_id()))
            .with_attr("to", format!("{bare}/{}", e.resource))
            .with_child(payload.clone());
        let _ = server.deliver(e, iq);
    }
}

/// Cluster: the user changed the blocklist on another node (`payload` is its push): reload the
/// cached list here, so enforcement on this node follows at once, and push it to this node's
/// interested resources.
pub async fn on_remote_change(server: &ServerRef, bare: &str, payload: &Element) {
    if !server.config.modules.blocking.enabled {
        return;
    }
    let Some(a) = Addr::parse(bare) else { return };
    let Some(user) = a.node.as_deref() else { return };
    let named: Vec<String> = payload
        .children()
        .filter(|c| c.is("item", NS))
        .filter_map(|c| c.attr("jid").and_then(matching::normalize_item))
        .collect();
    let blocking = payload.name == "block";
    // §3.3 for this node's resources, before the cache follows (as on the blocking node).
    if blocking {
        presence_to_matching(server, bare, &a.domain, user, &named, false).await;
    }
    let before = server.misc.blocking.get(bare);
    match server.storage.misc.blocking.get_blocklist(&a.domain, user).await {
        Ok(list) => server.misc.blocking.set(bare, list),
        Err(e) => tracing::error!(what = "blocklist_read_failed", error = %e),
    }
    push_local(server, bare, payload);
    // §3.4: an unblock without items unblocked what this node had cached.
    if !blocking {
        let removed = if named.is_empty() { before.to_vec() } else { named };
        presence_to_matching(server, bare, &a.domain, user, &removed, true).await;
    }
}

/// Sends, from each available resource of the user, unavailable presence (`available` false)
/// or the current presence (`available` true) to every roster contact with a subscription to
/// the user's presence that `items` match (and, for current presence, that is not blocked).
/// Only this node's resources: the user's other nodes do the same for theirs when the change
/// reaches them (`on_remote_change`).
async fn presence_to_matching(
    server: &ServerRef,
    bare: &str,
    host: &str,
    user: &str,
    items: &[String],
    available: bool,
) {
    if items.is_empty() {
        return;
    }
    let sessions = server.sessions.resources(bare);
    if sessions.iter().all(|e| e.presence.is_none()) {
        return;
    }
    let roster = server.storage.roster.get_items(host, user).await.unwrap_or_default();
    for item in roster {
        if !matches!(item.subscription, Subscription::From | Subscription::Both) {
            continue;
        }
        let Some(contact) = Addr::parse(&item.jid) else { continue };
        if !matching::blocks(items, &contact) || !server.serves(&contact.domain) {
            continue;
        }
        for e in &sessions {
            let p = if available {
                e.presence_from(bare)
            } else if e.presence.is_some() {
                Some(
                    Element::new("presence", ns::CLIENT)
                        .with_attr("from", format!("{bare}/{}", e.resource))
                        .with_attr("type", "unavailable"),
                )
            } else {
                None
            };
            if let Some(mut p) = p {
                p.set_attr("to", item.jid.clone());
                router::route(server, p).await;
            }
        }
    }
}
