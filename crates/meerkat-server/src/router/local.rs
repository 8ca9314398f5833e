//! Delivery to local addresses (RFC 6121 §8.5). In cluster mode the account's resources may
//! sit on several nodes: each node delivers to its own resources, and the one node elected
//! for the account ([`Remote::elected`]) applies the rules for "no such resource" (offline
//! storage, errors, the recipient's archive), so they happen once.

use super::{bounce, Origin};
use crate::addr::Addr;
use crate::cluster::Remote;
use crate::modules;
use crate::server::ServerRef;
use crate::session::SessionEntry;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;

/// Routes a stanza addressed to a domain this node serves.
pub async fn route_local(server: &ServerRef, stanza: Element, to: Addr) {
    route_local_from(server, stanza, to, Origin::Local).await
}

/// [`route_local`] for a stanza of the given origin.
pub(crate) async fn route_local_from(
    server: &ServerRef,
    stanza: Element,
    to: Addr,
    origin: Origin,
) {
    let Some(node) = to.node.clone() else {
        modules::server_stanza(server, stanza).await;
        return;
    };
    let bare = format!("{node}@{}", to.domain);
    let sessions = server.sessions.resources(&bare);
    let mut stanza = stanza;
    // Only another node may mark a message as relayed (see `cluster::relay`).
    let relayed = server.cluster.is_some()
        && matches!(stanza.name.as_str(), "message" | "presence")
        && crate::cluster::take_mark(&mut stanza)
        && origin == Origin::Cluster;
    // Likewise for PEP notifications fanned out to this node's resources (`cluster::fanout`).
    if server.cluster.is_some() && stanza.name == "message" {
        if let Some(pep_node) = crate::cluster::take_fanout(&mut stanza) {
            if origin == Origin::Cluster {
                modules::pep::deliver_fanout(server, &bare, &sessions, stanza, &pep_node);
                return;
            }
        }
    }
    if origin == Origin::Cluster && stanza.attr("from") == Some(bare.as_str()) {
        // From the account to itself through the cluster: only nodes make these (clients'
        // carbons are refused at the edge, their IQs to their own account never routed).
        if stanza.name == "message" && modules::carbons::is_carbon(&stanza) {
            // A `sent` copy from the user's resource on another node.
            modules::carbons::deliver_remote_sent(server, &bare, &stanza);
            return;
        }
        if stanza.name == "iq" && stanza.attr("type") == Some("set") {
            crate::cluster::deliver_push(server, &bare, &stanza).await;
            return;
        }
    }
    let (mut stanza, remote) = match server.cluster() {
        None => (stanza, None),
        Some(c) => match crate::cluster::plan(c, stanza, &to, &bare, &sessions, origin).await {
            Some(kept) => kept,
            None => return,
        },
    };
    let remote = remote.as_ref();
    let elected = !relayed && remote.is_none_or(|r| r.elected);
    let online = !sessions.is_empty();
    if !modules::blocking::inbound_allowed(server, &stanza, &bare, &node, &to.domain, online).await
    {
        return;
    }
    // The recipient's archive is written once, by the node that delivers (or stores) it: the
    // one holding the addressed resource, else the elected one (which relays bare-JID
    // messages stamped with the archive id).
    let archiver = match &to.resource {
        Some(r) if sessions.iter().any(|e| &e.resource == r) => true,
        Some(r) if remote.is_some_and(|rm| rm.holds(r)) => false,
        _ => elected,
    };
    if stanza.name == "message" && archiver {
        modules::mam::to_local_user(server, &mut stanza, &node, &to.domain, &bare, &sessions).await;
    }
    let ctx = Ctx { node: &node, domain: &to.domain, sessions: &sessions, remote, relayed };
    if let Some(resource) = &to.resource {
        if let Some(entry) = sessions.iter().find(|e| &e.resource == resource) {
            if stanza.name == "message" {
                let got_it = |e: &SessionEntry| e.sid == entry.sid;
                modules::carbons::fork_received(server, &stanza, &bare, &sessions, got_it);
                // The holder forks for the other nodes too: its copy carries the stanza-id.
                modules::carbons::fork_received_to_other_nodes(server, &stanza, &bare);
            }
            deliver_or_fallback(server, entry, stanza, &node, &to.domain).await;
            return;
        }
        if remote.is_some_and(|r| r.holds(resource)) {
            // Another node delivers it, and sends the received carbons for resources here.
            return;
        }
        if !elected {
            return;
        }
        full_jid_offline(server, stanza, &ctx).await;
    } else {
        to_bare(server, stanza, &ctx).await;
    }
}

/// The recipient account as this node sees it.
struct Ctx<'a> {
    node: &'a str,
    domain: &'a str,
    /// Its resources here.
    sessions: &'a [SessionEntry],
    /// Its resources on other nodes, when there are any.
    remote: Option<&'a Remote>,
    /// A bare-JID message the elected node relayed: deliver to the winners here, nothing else.
    relayed: bool,
}

impl Ctx<'_> {
    fn elected(&self) -> bool {
        !self.relayed && self.remote.is_none_or(|r| r.elected)
    }
}

/// Delivers to one session; a message the session cannot take (slow reader, just closed) goes
/// the bare-JID way so it is stored rather than lost.
async fn deliver_or_fallback(
    server: &ServerRef,
    entry: &SessionEntry,
    stanza: Element,
    node: &str,
    domain: &str,
) {
    if let Err(e) = server.deliver(entry, stanza) {
        let stanza = e.into_stanza();
        if stanza.name == "message" {
            modules::offline::store_or_bounce(server, stanza, node, domain).await;
        } else if stanza.name == "iq" {
            bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await;
        }
    }
}

fn stanza_type(stanza: &Element) -> &str {
    stanza.attr("type").unwrap_or(match stanza.name.as_str() {
        "message" => "normal",
        "presence" => "available",
        _ => "",
    })
}

/// RFC 6121 §8.5.3.2: the full JID has no session (on any node).
async fn full_jid_offline(server: &ServerRef, stanza: Element, ctx: &Ctx<'_>) {
    match (stanza.name.as_str(), stanza_type(&stanza)) {
        ("message", "normal" | "chat" | "headline") => to_bare(server, stanza, ctx).await,
        ("message", _) => {}
        ("presence", "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" | "probe") => {
            to_bare(server, stanza, ctx).await
        }
        ("presence", _) => {}
        ("iq", "get" | "set") => {
            bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await
        }
        _ => {}
    }
}

/// RFC 6121 §8.5.2: addressed to the bare JID of a local account.
async fn to_bare(server: &ServerRef, stanza: Element, ctx: &Ctx<'_>) {
    let (node, domain, sessions) = (ctx.node, ctx.domain, ctx.sessions);
    let kind = stanza_type(&stanza).to_owned();
    // Every holder delivers to its own available resources; the rest is the elected node's
    // (which relays subscription requests for delivery).
    let relayed_presence = ctx.relayed && stanza.name == "presence";
    if relayed_presence
        || (stanza.name == "presence" && matches!(kind.as_str(), "available" | "unavailable"))
    {
        let bare = format!("{node}@{domain}");
        let own = stanza.attr("from").and_then(Addr::parse).is_some_and(|f| f.bare() == bare);
        if own && !relayed_presence && server.cluster.is_some() {
            // The user's resource on another node: addressed to each resource, as the node
            // holding it does for its own (RFC 6121 §4.2.2).
            for e in sessions.iter().filter(|e| e.presence.is_some()) {
                let mut p = stanza.clone();
                p.set_attr("to", format!("{bare}/{}", e.resource));
                let _ = server.deliver(e, p);
            }
        } else {
            deliver_to_available(server, &stanza, sessions);
        }
        return;
    }
    if stanza.name == "presence" && kind == "probe" {
        // Each holder answers for its own resources; "unavailable" only from the elected
        // node and only when no node has an available resource.
        let none_elsewhere = ctx.remote.is_none_or(|r| !r.any_available());
        let reply_unavailable = ctx.elected() && none_elsewhere;
        modules::presence::answer_probe_for(server, &stanza, node, domain, reply_unavailable).await;
        return;
    }
    if stanza.name != "message" && !ctx.elected() {
        return;
    }
    // A bound session proves the account exists; otherwise ask storage once.
    let exists = !sessions.is_empty()
        || ctx.remote.is_some()
        || server.storage.users.user_exists(domain, node).await.unwrap_or(false);
    if !exists {
        match (stanza.name.as_str(), kind.as_str()) {
            ("message", "error") | ("presence", _) | ("iq", "result" | "error") => {}
            _ => bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await,
        }
        return;
    }
    match stanza.name.as_str() {
        "message" => message_to_bare(server, stanza, &kind, ctx).await,
        "presence" => {
            modules::presence::inbound(server, stanza, &kind, node, domain, sessions).await
        }
        "iq" => modules::account_iq(server, stanza, node, domain).await,
        _ => {}
    }
}

async fn message_to_bare(server: &ServerRef, stanza: Element, kind: &str, ctx: &Ctx<'_>) {
    let (node, domain, sessions) = (ctx.node, ctx.domain, ctx.sessions);
    let elected = ctx.elected();
    match kind {
        "error" => return,
        "groupchat" => {
            if elected {
                bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await;
            }
            return;
        }
        _ => {}
    }
    if ctx.remote.is_some() && !elected && !ctx.relayed {
        // The elected node handles it and relays it here.
        return;
    }
    let mut remote = ctx.remote;
    if let (Some(_), true) = (remote, elected) {
        let to = Addr::parse(&format!("{node}@{domain}"));
        let sent = match to {
            Some(to) => crate::cluster::relay(server, stanza.clone(), &to).await,
            None => false,
        };
        if !sent {
            remote = None;
        }
    }
    let eligible: Vec<&SessionEntry> =
        sessions.iter().filter(|e| e.accepts_bare_messages()).collect();
    let remote_top = remote.and_then(|r| r.eligible().map(|r| r.priority).max());
    if eligible.is_empty() {
        if remote_top.is_none() && elected && kind != "headline" {
            modules::offline::store_or_bounce(server, stanza, node, domain).await;
        } else if stanza.name == "message" {
            // Another node delivers it: resources here may still want a received carbon.
            modules::carbons::fork_received_to(server, &stanza, node, domain, sessions, |_| false);
        }
        return;
    }
    let targets: Vec<&SessionEntry> = if kind == "headline" {
        eligible
    } else {
        // chat and normal: every resource of the highest priority (RFC 6121 §8.5.2.1.1 lets
        // the server pick one or all of equal priority; all is what clients expect), over
        // the resources of every node.
        let local_top = eligible.iter().map(|e| e.priority).max().unwrap_or(0);
        let top = remote_top.map_or(local_top, |r| r.max(local_top));
        eligible.into_iter().filter(|e| e.priority == top).collect()
    };
    let got_it = |e: &SessionEntry| targets.iter().any(|t| t.sid == e.sid);
    modules::carbons::fork_received_to(server, &stanza, node, domain, sessions, got_it);
    let mut delivered = false;
    let last = targets.len().saturating_sub(1);
    let mut stanza = Some(stanza);
    for (i, entry) in targets.iter().enumerate() {
        let copy = if i == last { stanza.take() } else { stanza.clone() };
        let Some(copy) = copy else { break };
        match server.deliver(entry, copy) {
            Ok(()) => delivered = true,
            Err(e) if !delivered && i == last => {
                modules::offline::store_or_bounce(server, e.into_stanza(), node, domain).await;
            }
            Err(_) => {}
        }
    }
}

/// Delivers a copy to every available resource of a bare JID (presence broadcast, RFC 6121
/// §4.2.2). Returns how many got it.
pub fn deliver_to_available(
    server: &ServerRef,
    stanza: &Element,
    sessions: &[SessionEntry],
) -> usize {
    let mut n = 0;
    for e in sessions.iter().filter(|e| e.presence.is_some()) {
        if server.deliver(e, stanza.clone()).is_ok() {
            n += 1;
        }
    }
    n
}
