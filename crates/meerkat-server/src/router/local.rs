//! Delivery to local addresses (RFC 6121 §8.5).

use super::bounce;
use crate::addr::Addr;
use crate::modules;
use crate::server::ServerRef;
use crate::session::SessionEntry;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;

/// Routes a stanza addressed to a domain this node serves.
pub async fn route_local(server: &ServerRef, mut stanza: Element, to: Addr) {
    let Some(node) = to.node.clone() else {
        modules::server_stanza(server, stanza).await;
        return;
    };
    let bare = format!("{node}@{}", to.domain);
    let sessions = server.sessions.resources(&bare);
    let online = !sessions.is_empty();
    if !modules::blocking::inbound_allowed(server, &stanza, &bare, &node, &to.domain, online).await
    {
        return;
    }
    if stanza.name == "message" {
        modules::mam::to_local_user(server, &mut stanza, &node, &to.domain, &bare, &sessions).await;
    }
    if let Some(resource) = &to.resource {
        if let Some(entry) = sessions.iter().find(|e| &e.resource == resource) {
            if stanza.name == "message" {
                let got_it = |e: &SessionEntry| e.sid == entry.sid;
                modules::carbons::fork_received(server, &stanza, &bare, &sessions, got_it);
            }
            deliver_or_fallback(server, entry, stanza, &node, &to.domain).await;
            return;
        }
        full_jid_offline(server, stanza, &node, &to.domain, &sessions).await;
    } else {
        to_bare(server, stanza, &node, &to.domain, &sessions).await;
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

/// RFC 6121 §8.5.3.2: the full JID has no session.
async fn full_jid_offline(
    server: &ServerRef,
    stanza: Element,
    node: &str,
    domain: &str,
    sessions: &[SessionEntry],
) {
    match (stanza.name.as_str(), stanza_type(&stanza)) {
        ("message", "normal" | "chat" | "headline") => {
            to_bare(server, stanza, node, domain, sessions).await
        }
        ("message", _) => {}
        ("presence", "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" | "probe") => {
            to_bare(server, stanza, node, domain, sessions).await
        }
        ("presence", _) => {}
        ("iq", "get" | "set") => {
            bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await
        }
        _ => {}
    }
}

/// RFC 6121 §8.5.2: addressed to the bare JID of a local account.
async fn to_bare(
    server: &ServerRef,
    stanza: Element,
    node: &str,
    domain: &str,
    sessions: &[SessionEntry],
) {
    // A bound session proves the account exists; otherwise ask storage once.
    let exists = !sessions.is_empty()
        || server.storage.users.user_exists(domain, node).await.unwrap_or(false);
    let kind = stanza_type(&stanza).to_owned();
    if !exists {
        match (stanza.name.as_str(), kind.as_str()) {
            ("message", "error") | ("presence", _) | ("iq", "result" | "error") => {}
            _ => bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await,
        }
        return;
    }
    match stanza.name.as_str() {
        "message" => message_to_bare(server, stanza, &kind, node, domain, sessions).await,
        "presence" => {
            modules::presence::inbound(server, stanza, &kind, node, domain, sessions).await
        }
        "iq" => modules::account_iq(server, stanza, node, domain).await,
        _ => {}
    }
}

async fn message_to_bare(
    server: &ServerRef,
    stanza: Element,
    kind: &str,
    node: &str,
    domain: &str,
    sessions: &[SessionEntry],
) {
    match kind {
        "error" => return,
        "groupchat" => {
            bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await;
            return;
        }
        _ => {}
    }
    let eligible: Vec<&SessionEntry> =
        sessions.iter().filter(|e| e.accepts_bare_messages()).collect();
    if eligible.is_empty() {
        if kind != "headline" {
            modules::offline::store_or_bounce(server, stanza, node, domain).await;
        }
        return;
    }
    let targets: Vec<&SessionEntry> = if kind == "headline" {
        eligible
    } else {
        // chat and normal: every resource of the highest priority (RFC 6121 §8.5.2.1.1 lets
        // the server pick one or all of equal priority; all is what clients expect).
        let top = eligible.iter().map(|e| e.priority).max().unwrap_or(0);
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
