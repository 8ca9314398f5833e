//! Presence (RFC 6121 §3, §4): subscriptions kept in the roster through the state machine of
//! `meerkat_proto::subscription`, broadcast of availability to contacts, probes, directed
//! presence, and unavailable presence when a session ends.

use super::roster::{item_element, push};
use super::{offline, Me};
use crate::addr::Addr;
use crate::router::{self, deliver_to_available};
use crate::server::ServerRef;
use crate::session::{plain_presence, SessionEntry};
use meerkat_proto::ns;
use meerkat_proto::subscription::{self as sub, Kind, PresenceToContact, State};
use meerkat_storage::{Ask, RosterItem, Subscription};
use meerkat_xml::Element;
use std::sync::Arc;

/// Presence state of one session kept by its connection task.
#[derive(Debug, Default)]
pub struct SessionPresence {
    /// The session sent available presence and has not gone unavailable since.
    pub available: bool,
    /// Entities that got directed available presence and must get unavailable presence
    /// when the session goes unavailable (RFC 6121 §4.6.3). Bounded by [`MAX_DIRECTED`].
    pub directed: Vec<String>,
    /// Status text of the last unavailable presence, for last activity (XEP-0012).
    pub last_status: String,
}

/// Directed-presence targets remembered per session.
const MAX_DIRECTED: usize = 256;

fn kind_of(t: &str) -> Option<Kind> {
    match t {
        "subscribe" => Some(Kind::Subscribe),
        "subscribed" => Some(Kind::Subscribed),
        "unsubscribe" => Some(Kind::Unsubscribe),
        "unsubscribed" => Some(Kind::Unsubscribed),
        _ => None,
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Subscribe => "subscribe",
        Kind::Subscribed => "subscribed",
        Kind::Unsubscribe => "unsubscribe",
        Kind::Unsubscribed => "unsubscribed",
    }
}

/// The subscription state of a stored roster item.
pub fn state_of(item: &RosterItem) -> State {
    State {
        sub: match item.subscription {
            Subscription::None => sub::Sub::None,
            Subscription::To => sub::Sub::To,
            Subscription::From => sub::Sub::From,
            Subscription::Both => sub::Sub::Both,
        },
        pending_out: item.ask == Ask::Subscribe,
        pending_in: item.pending_in,
        pre_approved: item.pre_approved,
    }
}

fn apply_state(item: &mut RosterItem, s: State) {
    item.subscription = match s.sub {
        sub::Sub::None => Subscription::None,
        sub::Sub::To => Subscription::To,
        sub::Sub::From => Subscription::From,
        sub::Sub::Both => Subscription::Both,
    };
    item.ask = if s.pending_out { Ask::Subscribe } else { Ask::None };
    item.pending_in = s.pending_in;
    if !s.pending_in {
        item.pending_in_stanza = None;
    }
    item.pre_approved = s.pre_approved;
}

fn priority_of(p: &Element) -> i8 {
    p.get_child("priority", ns::CLIENT)
        .and_then(|e| e.text().trim().parse::<i32>().ok())
        .map(|v| v.clamp(-128, 127) as i8)
        .unwrap_or(0)
}

fn presence(from: &str, to: &str, kind: Option<&str>) -> Element {
    let mut p = Element::new("presence", ns::CLIENT)
        .with_attr("from", from.to_owned())
        .with_attr("to", to.to_owned());
    if let Some(k) = kind {
        p.set_attr("type", k.to_owned());
    }
    p
}

/// Presence sent by a client, `from` already stamped. Returns offline messages to write to the
/// client (on initial presence) and the id to acknowledge after writing them.
pub async fn from_client(
    server: &ServerRef,
    me: &Me,
    state: &mut SessionPresence,
    stanza: Element,
) -> (Vec<Element>, Option<i64>) {
    let kind = stanza.attr("type").unwrap_or("available").to_owned();
    match (stanza.attr("to").is_some(), kind.as_str()) {
        (_, "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed") => {
            if let Some(k) = kind_of(&kind) {
                outbound_subscription(server, me, stanza, k).await;
            }
        }
        (_, "probe" | "error") => {}
        (false, "available") => return broadcast_available(server, me, state, stanza).await,
        (false, "unavailable") => broadcast_unavailable(server, me, state, Some(stanza)).await,
        (true, "available" | "unavailable") => {
            let to = stanza.attr("to").and_then(Addr::parse).map(|a| a.full());
            if let Some(to) = to {
                state.directed.retain(|d| *d != to);
                if kind == "available" && state.directed.len() < MAX_DIRECTED {
                    state.directed.push(to);
                }
            }
            router::route(server, stanza).await;
        }
        _ => {}
    }
    (Vec::new(), None)
}

async fn contacts(server: &ServerRef, me: &Me) -> Vec<RosterItem> {
    server.storage.roster.get_items(&me.host, &me.user).await.unwrap_or_else(|e| {
        tracing::error!(what = "roster_read_failed", error = %e);
        Vec::new()
    })
}

async fn broadcast_available(
    server: &ServerRef,
    me: &Me,
    state: &mut SessionPresence,
    stanza: Element,
) -> (Vec<Element>, Option<i64>) {
    let stanza = super::vcard::stamp_presence(server, me, stanza).await;
    let priority = priority_of(&stanza);
    let initial = !state.available;
    state.available = true;
    // Kept without addressing (added per copy) and shared when there is no payload.
    let kept = if stanza.children.is_empty() {
        plain_presence()
    } else {
        let mut p = Element::new("presence", ns::CLIENT);
        p.children = stanza.children.clone();
        Arc::new(p)
    };
    let mut stored = (*kept).clone();
    stored.set_attr("from", me.full());
    // Copies keep the client's id (RFC 6120 §8.1.3): clients match echoes by it.
    if let Some(id) = stanza.attr("id") {
        stored.set_attr("id", id);
    }
    server.sessions.set_presence(&me.bare, me.sid, Some(kept), priority);
    let roster = contacts(server, me).await;
    for item in &roster {
        if matches!(item.subscription, Subscription::From | Subscription::Both) {
            let mut p = stored.clone();
            p.set_attr("to", item.jid.clone());
            send_to_contact(server, p).await;
        }
    }
    // The user's own available resources, this one included (RFC 6121 §4.2.2).
    for e in server.sessions.resources(&me.bare).iter().filter(|e| e.presence.is_some()) {
        let mut p = stored.clone();
        p.set_attr("to", format!("{}/{}", me.bare, e.resource));
        let _ = server.deliver(e, p);
    }
    if server.cluster.is_some() {
        // ... and those on other nodes, which, at initial presence, tell this one theirs.
        let mut p = stored.clone();
        p.set_attr("to", me.bare.clone());
        crate::cluster::to_own_resources(server, &me.bare, p);
        if initial {
            let probe = presence(&me.full(), &me.bare, Some("probe"));
            crate::cluster::to_own_resources(server, &me.bare, probe);
        }
    }
    if !initial {
        return (Vec::new(), None);
    }
    // A newly available resource learns about the user's other available resources, as it
    // does about contacts through probes.
    let mut out = Vec::new();
    for e in server.sessions.resources(&me.bare) {
        if let (Some(mut p), false) = (e.presence_from(&me.bare), e.sid == me.sid) {
            p.set_attr("to", me.full());
            out.push(p);
        }
    }
    for item in &roster {
        if matches!(item.subscription, Subscription::To | Subscription::Both) {
            probe(server, me, &item.jid).await;
        }
    }
    // Subscription requests that arrived while the user was offline (RFC 6121 §3.1.3).
    for item in roster.iter().filter(|i| i.pending_in) {
        let p = item
            .pending_in_stanza
            .as_deref()
            .and_then(parse_stored)
            .unwrap_or_else(|| presence(&item.jid, &me.bare, Some("subscribe")));
        out.push(p);
    }
    if priority < 0 {
        return (out, None);
    }
    let (msgs, last) = offline::take(server, &me.user, &me.host).await;
    out.extend(msgs);
    (out, last)
}

fn parse_stored(xml: &str) -> Option<Element> {
    let mut p = meerkat_xml::StreamParser::new(meerkat_xml::Limits::default());
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(xml.as_bytes());
    loop {
        match p.next_event() {
            Ok(Some(meerkat_xml::StreamEvent::Stanza(el))) => return Some(el),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// Presence to a contact: local contacts only for now (federation comes with s2s), so
/// broadcasts to remote contacts are skipped instead of bouncing errors back to the user.
async fn send_to_contact(server: &ServerRef, p: Element) {
    // Component domains (a MUC room the user entered) are local too: a room must learn that
    // its occupant went offline.
    let local = p
        .attr("to")
        .and_then(Addr::parse)
        .is_some_and(|a| server.serves(&a.domain) || server.components.get(&a.domain).is_some());
    if local {
        router::route(server, p).await;
    }
}

/// Sends a probe for `contact` on behalf of `me` (RFC 6121 §4.3) and, for local contacts,
/// answers it at once.
async fn probe(server: &ServerRef, me: &Me, contact: &str) {
    let Some(c) = Addr::parse(contact) else { return };
    let (Some(node), true) = (c.node.clone(), server.serves(&c.domain)) else { return };
    if let Some(cl) = server.cluster() {
        // The contact's resources may be on other nodes: a probe stanza reaches them.
        let bare = c.bare();
        if cl.views.shared(&bare) || server.sessions.resources(&bare).is_empty() {
            let p = presence(&me.full(), &bare, Some("probe"));
            router::route(server, p).await;
            return;
        }
    }
    answer_probe(server, &me.full(), &me.bare, &node, &c.domain, false).await;
}

/// Answers a probe stanza for the local account `node@domain` (see [`answer_probe`]).
pub async fn answer_probe_for(
    server: &ServerRef,
    probe: &Element,
    node: &str,
    domain: &str,
    reply_unavailable: bool,
) {
    let Some(from) = probe.attr("from").and_then(Addr::parse) else { return };
    answer_probe(server, &from.full(), &from.bare(), node, domain, reply_unavailable).await;
}

/// Answers a probe from `prober` for the local account `node@domain`: the presence of each of
/// its available resources if the prober is subscribed (RFC 6121 §4.3.2); unavailable presence
/// when none is available and `reply_unavailable`.
async fn answer_probe(
    server: &ServerRef,
    prober_full: &str,
    prober_bare: &str,
    node: &str,
    domain: &str,
    reply_unavailable: bool,
) {
    let bare = format!("{node}@{domain}");
    // The user's own resource (on another node, at its initial presence) needs no
    // subscription, and no "unavailable" either: it knows its own resources are there.
    let own = server.cluster.is_some() && prober_bare == bare;
    let reply_unavailable = reply_unavailable && !own;
    if !own {
        let item = server.storage.roster.get_item(domain, node, prober_bare).await.ok().flatten();
        if !matches!(item.map(|i| i.subscription), Some(Subscription::From | Subscription::Both)) {
            return;
        }
    }
    let resources = server.sessions.resources(&bare);
    let mut any = false;
    for e in &resources {
        if own && prober_full == format!("{bare}/{}", e.resource) {
            continue;
        }
        if let Some(mut p) = e.presence_from(&bare) {
            p.set_attr("to", prober_full.to_owned());
            router::route(server, p).await;
            any = true;
        }
    }
    if !any && reply_unavailable {
        router::route(server, presence(&bare, prober_full, Some("unavailable"))).await;
    }
}

/// The session goes unavailable (explicit presence or disconnect): tell contacts, the user's
/// other resources and directed-presence targets (RFC 6121 §4.5).
pub async fn broadcast_unavailable(
    server: &ServerRef,
    me: &Me,
    state: &mut SessionPresence,
    stanza: Option<Element>,
) {
    let was_available = std::mem::take(&mut state.available);
    let directed = std::mem::take(&mut state.directed);
    server.sessions.set_presence(&me.bare, me.sid, None, 0);
    let mut base = Element::new("presence", ns::CLIENT)
        .with_attr("from", me.full())
        .with_attr("type", "unavailable");
    if let Some(s) = &stanza {
        base.children = s.children.clone();
        if let Some(id) = s.attr("id") {
            base.set_attr("id", id);
        }
        state.last_status = s.get_child("status", ns::CLIENT).map(|e| e.text()).unwrap_or_default();
    }
    if was_available {
        for item in contacts(server, me).await {
            if matches!(item.subscription, Subscription::From | Subscription::Both) {
                let mut p = base.clone();
                p.set_attr("to", item.jid.clone());
                send_to_contact(server, p).await;
            }
        }
        for e in server
            .sessions
            .resources(&me.bare)
            .iter()
            .filter(|e| e.presence.is_some() && e.sid != me.sid)
        {
            let mut p = base.clone();
            p.set_attr("to", format!("{}/{}", me.bare, e.resource));
            let _ = server.deliver(e, p);
        }
        if server.cluster.is_some() {
            let mut p = base.clone();
            p.set_attr("to", me.bare.clone());
            crate::cluster::to_own_resources(server, &me.bare, p);
        }
    }
    for to in directed {
        let mut p = base.clone();
        p.set_attr("to", to);
        send_to_contact(server, p).await;
    }
}

/// The user sends a subscription-related presence to a contact (RFC 6121 §3, outbound).
async fn outbound_subscription(server: &ServerRef, me: &Me, stanza: Element, kind: Kind) {
    let Some(to) = stanza.attr("to").and_then(Addr::parse) else { return };
    let contact = to.bare();
    let store = &server.storage.roster;
    let existing = store.get_item(&me.host, &me.user, &contact).await.ok().flatten();
    let mut item = existing
        .clone()
        .unwrap_or_else(|| RosterItem { jid: contact.clone(), ..Default::default() });
    let out = sub::outbound(state_of(&item), kind);
    apply_state(&mut item, out.state);
    if kind == Kind::Subscribe {
        item.in_roster = true;
    }
    if kind == Kind::Subscribed && item.subscription != Subscription::None {
        item.in_roster = true;
    }
    if Some(&item) != existing.as_ref() {
        save_and_push(server, &me.user, &me.host, &item, out.push).await;
    }
    if !out.forward {
        return;
    }
    // Subscription stanzas travel between bare JIDs (RFC 6121 §3.1.2).
    let mut fwd = stanza;
    fwd.set_attr("from", me.bare.clone());
    fwd.set_attr("to", contact.clone());
    router::route(server, fwd).await;
    if let Some(p) = out.presence_to_contact {
        presence_to_contact(server, &me.bare, &server.sessions.resources(&me.bare), &contact, p)
            .await;
    }
}

/// Sends the user's current presence (or unavailable) from each available resource to a
/// contact whose subscription just changed (RFC 6121 §3.1.5, §3.2.3, §3.3.3).
async fn presence_to_contact(
    server: &ServerRef,
    user_bare: &str,
    sessions: &[SessionEntry],
    contact: &str,
    what: PresenceToContact,
) {
    for e in sessions {
        let Some(mut current) = e.presence_from(user_bare) else { continue };
        let p = match what {
            PresenceToContact::Available => {
                current.set_attr("to", contact.to_owned());
                current
            }
            PresenceToContact::Unavailable => {
                presence(&format!("{user_bare}/{}", e.resource), contact, Some("unavailable"))
            }
        };
        send_to_contact(server, p).await;
    }
}

async fn save_and_push(
    server: &ServerRef,
    user: &str,
    host: &str,
    item: &RosterItem,
    push_it: bool,
) {
    let store = &server.storage.roster;
    let keep = item.in_roster || item.pending_in;
    let ver = if keep {
        store.put_item(host, user, item).await
    } else {
        store.remove_item(host, user, &item.jid).await
    };
    match ver {
        Ok(ver) if push_it && item.in_roster => push(server, user, host, item_element(item), &ver),
        Ok(_) => {}
        Err(e) => tracing::error!(what = "roster_write_failed", error = %e),
    }
}

/// Presence addressed to a local account's bare JID (or treated so, RFC 6121 §8.5.2.1.2).
pub async fn inbound(
    server: &ServerRef,
    stanza: Element,
    kind: &str,
    node: &str,
    domain: &str,
    sessions: &[SessionEntry],
) {
    if let Some(k) = kind_of(kind) {
        inbound_subscription(server, stanza, k, node, domain, sessions).await;
        return;
    }
    match kind {
        "probe" => {
            let Some(from) = stanza.attr("from").and_then(Addr::parse) else { return };
            answer_probe(server, &from.full(), &from.bare(), node, domain, true).await;
        }
        "available" | "unavailable" => {
            deliver_to_available(server, &stanza, sessions);
        }
        _ => {}
    }
}

async fn inbound_subscription(
    server: &ServerRef,
    stanza: Element,
    kind: Kind,
    node: &str,
    domain: &str,
    sessions: &[SessionEntry],
) {
    let Some(from) = stanza.attr("from").and_then(Addr::parse) else { return };
    let sender = from.bare();
    let store = &server.storage.roster;
    let existing = store.get_item(domain, node, &sender).await.ok().flatten();
    let mut item = existing
        .clone()
        .unwrap_or_else(|| RosterItem { jid: sender.clone(), ..Default::default() });
    let inb = sub::inbound(state_of(&item), kind);
    apply_state(&mut item, inb.state);
    let mut fwd = stanza;
    fwd.set_attr("from", sender.clone());
    if kind == Kind::Subscribe && item.pending_in {
        let mut xml = Vec::new();
        fwd.write_to(&mut xml, ns::CLIENT);
        item.pending_in_stanza = Some(String::from_utf8_lossy(&xml).into_owned());
    }
    if Some(&item) != existing.as_ref() {
        save_and_push(server, node, domain, &item, inb.push).await;
    }
    let me_bare = format!("{node}@{domain}");
    if inb.deliver {
        // A fresh look at the sessions, not the snapshot taken before the storage round trips
        // above: a resource that sent its initial presence meanwhile has already read the
        // roster without this pending request, and would otherwise never get it (RFC 6121
        // §3.1.3). The price is a rare duplicate request, which clients ignore.
        let now = server.sessions.resources(&me_bare);
        deliver_to_available(server, &fwd, &now);
        if server.cluster.is_some() {
            // The account's resources on other nodes: their nodes only deliver it.
            let mut copy = fwd.clone();
            crate::cluster::mark(&mut copy);
            crate::cluster::to_own_resources(server, &me_bare, copy);
        }
    }
    if let Some(reply) = inb.auto_reply {
        router::route(server, presence(&me_bare, &sender, Some(kind_name(reply)))).await;
    }
    if let Some(p) = inb.presence_to_contact {
        presence_to_contact(server, &me_bare, sessions, &sender, p).await;
    }
}
