//! Roster management (RFC 6121 §2) with versioning (XEP-0237).

use super::{iq, Me};
use crate::addr::Addr;
use crate::router;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::{Ask, RosterItem, Subscription};
use meerkat_xml::Element;

/// Longest item name or group name accepted.
const MAX_NAME_BYTES: usize = 1024;
/// Most groups on one item.
const MAX_GROUPS: usize = 64;

/// The `<item/>` for a roster result or push.
pub fn item_element(item: &RosterItem) -> Element {
    let sub = match item.subscription {
        Subscription::None => "none",
        Subscription::To => "to",
        Subscription::From => "from",
        Subscription::Both => "both",
    };
    let mut el = Element::new("item", ns::ROSTER)
        .with_attr("jid", item.jid.clone())
        .with_attr("subscription", sub);
    if let Some(name) = &item.name {
        el.set_attr("name", name.clone());
    }
    if item.ask == Ask::Subscribe {
        el.set_attr("ask", "subscribe");
    }
    if item.pre_approved {
        el.set_attr("approved", "true");
    }
    for g in &item.groups {
        el = el.with_child(Element::new("group", ns::ROSTER).with_text(g.clone()));
    }
    el
}

/// Roster get and set from the user's own session.
pub async fn handle(server: &ServerRef, me: &Me, req: &Element) {
    let reply = match req.attr("type") {
        Some("get") => get(server, me, req).await,
        Some("set") => set(server, me, req).await,
        _ => None,
    };
    if let Some(r) = reply {
        router::route(server, r).await;
    }
}

async fn get(server: &ServerRef, me: &Me, req: &Element) -> Option<Element> {
    server.sessions.set_interested(&me.bare, me.sid);
    let store = &server.storage.roster;
    let versioning = server.config.modules.roster.versioning;
    let asked_ver = iq::payload(req).and_then(|q| q.attr("ver")).map(str::to_owned);
    let ver = match store.version(&me.host, &me.user).await {
        Ok(v) => v,
        Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
    };
    if versioning && asked_ver.as_deref() == Some(ver.as_str()) {
        // XEP-0237 §2.3: unchanged roster, empty result; changes would come as pushes.
        return Some(iq::result(req, None));
    }
    let items = match store.get_items(&me.host, &me.user).await {
        Ok(i) => i,
        Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
    };
    let mut q = Element::new("query", ns::ROSTER);
    if versioning {
        q.set_attr("ver", ver);
    }
    for item in items.iter().filter(|i| i.in_roster) {
        q = q.with_child(item_element(item));
    }
    Some(iq::result(req, Some(q)))
}

fn bad(req: &Element, text: &str) -> Option<Element> {
    iq::error(req, StanzaError::new(SEC::BadRequest).with_text(text))
}

async fn set(server: &ServerRef, me: &Me, req: &Element) -> Option<Element> {
    let q = iq::payload(req)?;
    let mut items = q.children().filter(|c| c.is("item", ns::ROSTER));
    let (Some(item_el), None) = (items.next(), items.next()) else {
        return bad(req, "A roster set carries exactly one item");
    };
    let Some(jid) = item_el.attr("jid").and_then(Addr::parse) else {
        return iq::error(req, StanzaError::new(SEC::JidMalformed));
    };
    if jid.resource.is_some() {
        return iq::error(req, StanzaError::new(SEC::JidMalformed));
    }
    let contact = jid.bare();
    if item_el.attr("subscription") == Some("remove") {
        return remove(server, me, req, &contact).await;
    }
    let name = item_el.attr("name").map(str::to_owned).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.len() > MAX_NAME_BYTES) {
        return iq::error(req, StanzaError::new(SEC::NotAcceptable));
    }
    let mut groups: Vec<String> = Vec::new();
    for g in item_el.children().filter(|c| c.is("group", ns::ROSTER)) {
        let g = g.text();
        if g.is_empty() || g.len() > MAX_NAME_BYTES {
            return iq::error(req, StanzaError::new(SEC::NotAcceptable));
        }
        if groups.contains(&g) {
            return bad(req, "Duplicate group");
        }
        groups.push(g);
    }
    if groups.len() > MAX_GROUPS {
        return iq::error(req, StanzaError::new(SEC::NotAcceptable));
    }
    groups.sort();
    let store = &server.storage.roster;
    let existing = match store.get_item(&me.host, &me.user, &contact).await {
        Ok(e) => e,
        Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
    };
    if existing.as_ref().is_none_or(|e| !e.in_roster) {
        let count = store.count_items(&me.host, &me.user).await.unwrap_or(0);
        if count as usize >= server.config.limits.max_roster_items {
            return iq::error(req, StanzaError::new(SEC::NotAllowed).with_text("Roster is full"));
        }
    }
    // Subscription state is the server's to keep: a client's `subscription`/`ask` are ignored
    // (RFC 6121 §2.1.2.5, §2.3.2).
    let mut item =
        existing.unwrap_or_else(|| RosterItem { jid: contact.clone(), ..Default::default() });
    item.name = name;
    item.groups = groups;
    item.in_roster = true;
    let ver = match store.put_item(&me.host, &me.user, &item).await {
        Ok(v) => v,
        Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
    };
    push(server, &me.user, &me.host, item_element(&item), &ver);
    Some(iq::result(req, None))
}

async fn remove(server: &ServerRef, me: &Me, req: &Element, contact: &str) -> Option<Element> {
    let store = &server.storage.roster;
    let item = match store.get_item(&me.host, &me.user, contact).await {
        Ok(Some(i)) if i.in_roster => i,
        Ok(_) => return iq::error(req, StanzaError::new(SEC::ItemNotFound)),
        Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
    };
    // RFC 6121 §2.5.2: cancel both directions of the subscription with the contact.
    let send = |kind: &str| {
        Element::new("presence", ns::CLIENT)
            .with_attr("from", me.bare.clone())
            .with_attr("to", contact.to_owned())
            .with_attr("type", kind.to_owned())
    };
    let removal = meerkat_proto::subscription::removal(super::presence::state_of(&item));
    let mut notices = Vec::new();
    if removal.unsubscribe {
        notices.push(send("unsubscribe"));
    }
    if removal.unsubscribed {
        notices.push(send("unsubscribed"));
    }
    let ver = match store.remove_item(&me.host, &me.user, contact).await {
        Ok(v) => v,
        Err(_) => return iq::error(req, StanzaError::new(SEC::InternalServerError)),
    };
    push(
        server,
        &me.user,
        &me.host,
        Element::new("item", ns::ROSTER)
            .with_attr("jid", contact.to_owned())
            .with_attr("subscription", "remove"),
        &ver,
    );
    for n in notices {
        router::route(server, n).await;
    }
    Some(iq::result(req, None))
}

/// Sends a roster push (RFC 6121 §2.1.6) to every interested resource of the user.
pub fn push(server: &ServerRef, user: &str, host: &str, item: Element, ver: &str) {
    let bare = format!("{user}@{host}");
    let mut q = Element::new("query", ns::ROSTER).with_child(item);
    if server.config.modules.roster.versioning {
        q.set_attr("ver", ver);
    }
    for e in server.sessions.resources(&bare).iter().filter(|e| e.interested) {
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", format!("push{}", crate::c2s::conn::new_stream_id()))
            .with_attr("to", format!("{bare}/{}", e.resource))
            .with_child(q.clone());
        let _ = server.deliver(e, iq);
    }
    if server.cluster.is_some() {
        // The user's interested resources on other nodes (`deliver_remote_push` there).
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", "push")
            .with_attr("from", bare.clone())
            .with_attr("to", bare.clone())
            .with_child(q);
        crate::cluster::to_own_resources(server, &bare, iq);
    }
}

/// Cluster: a roster push for `bare` made on another node (an IQ set from the account to
/// itself, which only a node makes), for this node's interested resources of it.
pub fn deliver_remote_push(server: &ServerRef, bare: &str, iq: &Element) {
    let Some(q) = iq.get_child("query", ns::ROSTER) else { return };
    for e in server.sessions.resources(bare).iter().filter(|e| e.interested) {
        let push = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", format!("push{}", crate::c2s::conn::new_stream_id()))
            .with_attr("to", format!("{bare}/{}", e.resource))
            .with_child(q.clone());
        let _ = server.deliver(e, push);
    }
}
