//! Stream Management resumption (XEP-0198 §5) on another node than the one that held the
//! session: a client whose connection broke may reconnect through a load balancer to any
//! node, and expects the same session back, with the stanzas it did not acknowledge.
//!
//! ```text
//! new node: <resume previd h/> for an id of another node (its tag, see `resumption_id`)
//!           -> Resume request on the account's subject
//! old node: the tag is its own -> local take-over (as for a resumer on the same node),
//!           then leaves its session table quietly (no unavailable presence: the session
//!           lives on) and answers with the session's state
//! new node: binds the resource with that state and answers <resumed/>, retransmitting the
//!           unacknowledged stanzas
//! ```
//! The node holding the session answers; so does the node whose tag the id carries when the
//! session is gone (and did not move on), so that a stale id fails fast; other holders of
//! the account stay silent. Entity capabilities are not carried: the client's next presence
//! with caps restores them (until then it gets no PEP notifications).

use crate::addr::Addr;
use crate::modules::presence::SessionPresence;
use crate::modules::stream_management::{self as sm, Detached};
use crate::modules::Me;
use crate::server::ServerRef;
use crate::session::{Mailbox, SessionEntry};
use bytes::Bytes;
use meerkat_cluster::ResumeReply;
use meerkat_stream::sm::StreamManagement;
use meerkat_xml::{Element, Node, StreamEvent, StreamParser};
use std::collections::VecDeque;
use std::sync::Arc;

/// Namespace of the serialised session state.
const NS: &str = "urn:meerkat:cluster:sm:0";

/// This node's tag in resumption ids ([`meerkat_cluster::subjects::node_tag`]).
fn node_tag(server: &ServerRef) -> Option<String> {
    Some(server.cluster()?.node_tag().to_owned())
}

/// A fresh resumption id: on a cluster member it ends with `-<node tag>`, so that another
/// node knows whom to ask.
pub fn resumption_id(server: &ServerRef) -> String {
    let id = sm::new_resumption_id();
    match node_tag(server) {
        Some(tag) => format!("{id}-{tag}"),
        None => id,
    }
}

fn tag_of(previd: &str) -> Option<&str> {
    previd.rsplit_once('-').map(|(_, t)| t)
}

/// Old node: answers a Resume request from another node when the session is here, or when
/// the id is this node's and the session is gone (not moved elsewhere). Otherwise it stays
/// silent (dropping `reply`): the node holding the session answers.
pub(crate) async fn answer(server: &ServerRef, account: &str, previd: &str, reply: ResumeReply) {
    let Some(tag) = node_tag(server) else { return };
    let here = server.sm_registry.holds(previd, account);
    let ours = tag_of(previd) == Some(tag.as_str()) && !server.sm_registry.moved_away(previd);
    if !here && !ours {
        return;
    }
    let state = match sm::registry::take_over_local(server, account, previd).await {
        Some(d) => hand_over(server, *d).await,
        None => Bytes::new(),
    };
    let _ = reply.0.send(state);
}

/// Serialises a taken-over session and leaves the local table without a trace towards
/// contacts. If the state cannot travel (too large for the cluster envelope), the session
/// ends here like any other and the requester gets "not found".
async fn hand_over(server: &ServerRef, d: Detached) -> Bytes {
    let Detached { me, presence, mailbox, mut sm } = d;
    let entry = server.sessions.get(&me.bare, &me.resource).filter(|e| e.sid == me.sid);
    // Leave the table first, so nothing new is routed here, then keep what was queued.
    server.sessions.unbind(&me.bare, &me.resource, me.sid);
    crate::modules::blocking::on_unbind(server, &me.bare);
    let now = std::time::Instant::now();
    for el in mailbox.close_receiver() {
        sm.on_outbound(el, now);
    }
    if let Some((id, _)) = sm.resumable() {
        server.sm_registry.remove(id);
    }
    let xml = encode(&me, &presence, entry.as_ref(), &sm);
    let max = meerkat_cluster::Limits::default().max_payload.saturating_sub(4096);
    if xml.len() > max {
        tracing::warn!(what = "sm_state_too_large_to_move", jid = %me.full(), bytes = xml.len());
        let unsent: Vec<Element> = sm.take_unacked().into();
        crate::c2s::session::cleanup(server, &me, presence, &mailbox, unsent).await;
        return Bytes::new();
    }
    if let Some((id, secs)) = sm.resumable() {
        server.sm_registry.mark_moved(id, secs);
    }
    super::on_unbind(server, &me).await;
    super::membership::on_unbind(server, &me).await;
    tracing::info!(what = "session_moved_to_other_node", jid = %me.full());
    Bytes::from(xml)
}

fn encode(
    me: &Me,
    p: &SessionPresence,
    entry: Option<&SessionEntry>,
    sm: &StreamManagement,
) -> String {
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut s = Element::new("session", NS)
        .with_attr("resource", me.resource.clone())
        .with_attr("handled", sm.handled().to_string())
        .with_attr("sent", sm.sent().to_string())
        .with_attr("available", flag(p.available))
        .with_attr("last-status", p.last_status.clone());
    if let Some((_, secs)) = sm.resumable() {
        s.set_attr("resume-s", secs.to_string());
    }
    if let Some(e) = entry {
        s.set_attr("priority", e.priority.to_string());
        s.set_attr("carbons", flag(e.carbons));
        s.set_attr("interested", flag(e.interested));
        s.set_attr("blocklist", flag(e.blocklist_interested));
        if let Some(pres) = &e.presence {
            s = s.with_child(Element::new("current", NS).with_child((**pres).clone()));
        }
    }
    for jid in &p.directed {
        s = s.with_child(Element::new("directed", NS).with_attr("jid", jid.clone()));
    }
    let mut unacked = Element::new("unacked", NS);
    for el in sm.unacked() {
        unacked.children.push(Node::Element(el.clone()));
    }
    s.with_child(unacked).to_xml()
}

/// The session state as decoded on the new node.
struct Moved {
    resource: String,
    handled: u32,
    sent: u32,
    resume_s: u32,
    entry_presence: Option<Arc<Element>>,
    priority: i8,
    carbons: bool,
    interested: bool,
    blocklist: bool,
    presence: SessionPresence,
    unacked: VecDeque<Element>,
}

fn decode(xml: &[u8]) -> Option<Moved> {
    let limits = meerkat_xml::Limits {
        max_stanza_bytes: xml.len().saturating_add(1),
        // A stanza inside <unacked/> inside <session/>.
        max_depth: meerkat_xml::Limits::default().max_depth.saturating_add(2),
        ..meerkat_xml::Limits::default()
    };
    let mut p = StreamParser::new(limits);
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(xml);
    let s = loop {
        match p.next_event() {
            Ok(Some(StreamEvent::Stanza(el))) => break el,
            Ok(Some(StreamEvent::Open(_))) => continue,
            _ => return None,
        }
    };
    if !s.is("session", NS) {
        return None;
    }
    let num = |k: &str| s.attr(k).and_then(|v| v.parse::<u32>().ok());
    let on = |k: &str| s.attr(k) == Some("1");
    let resource = crate::addr::normalize_resource(s.attr("resource")?)?;
    let presence = SessionPresence {
        available: on("available"),
        directed: s
            .children()
            .filter(|c| c.is("directed", NS))
            .filter_map(|c| c.attr("jid").map(str::to_owned))
            .collect(),
        last_status: s.attr("last-status").unwrap_or_default().to_owned(),
    };
    Some(Moved {
        resource,
        handled: num("handled")?,
        sent: num("sent")?,
        resume_s: num("resume-s").unwrap_or(0),
        entry_presence: s
            .get_child("current", NS)
            .and_then(|c| c.children().next().cloned())
            .map(Arc::new),
        priority: s.attr("priority").and_then(|v| v.parse().ok()).unwrap_or(0),
        carbons: on("carbons"),
        interested: on("interested"),
        blocklist: on("blocklist"),
        presence,
        unacked: s
            .get_child("unacked", NS)
            .map(|u| u.children().cloned().collect())
            .unwrap_or_default(),
    })
}

/// New node: takes over `previd` from the node that issued it, binding the session here.
/// `None` when the id is not another node's, or that node no longer has it.
pub(crate) async fn take_over_remote(
    server: &ServerRef,
    bare: &str,
    previd: &str,
) -> Option<Box<Detached>> {
    let c = server.cluster()?;
    let own = node_tag(server)?;
    // An id of this node that is not here any more: gone, or moved on (then asked for).
    if tag_of(previd).is_none()
        || (tag_of(previd) == Some(own.as_str()) && !server.sm_registry.moved_away(previd))
    {
        return None;
    }
    let state = c.request_resume(bare, previd).await?;
    let Some(m) = decode(&state) else {
        tracing::warn!(what = "sm_moved_state_unreadable", jid = %bare, bytes = state.len());
        return None;
    };
    let a = Addr::parse(bare)?;
    let me = Me {
        user: a.node.clone()?,
        host: a.domain.clone(),
        bare: bare.to_owned(),
        resource: m.resource,
        sid: server.sessions.next_sid(),
    };
    let mailbox = Mailbox::new(server.config.limits.session_queue_stanzas);
    server.sessions.bind(
        bare,
        SessionEntry {
            sid: me.sid,
            resource: me.resource.clone(),
            mailbox: mailbox.clone(),
            presence: m.entry_presence,
            priority: m.priority,
            interested: m.interested,
            carbons: m.carbons,
            caps: None,
            blocklist_interested: m.blocklist,
        },
    );
    super::on_bind(server, &me).await;
    super::membership::on_bind(server, me.full()).await;
    crate::modules::blocking::on_bind(server, &me).await;
    let resume = (m.resume_s > 0).then(|| (previd.to_owned(), m.resume_s));
    if resume.is_some() {
        server.sm_registry.insert(previd, bare, mailbox.clone());
    }
    let limits = sm::session::limits(server);
    let sm = StreamManagement::restore(limits, m.handled, m.sent, m.unacked, resume);
    tracing::info!(what = "session_moved_from_other_node", jid = %me.full());
    Some(Box::new(Detached { me, presence: m.presence, mailbox, sm }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_its_xml() {
        let me = Me {
            user: "a".into(),
            host: "h".into(),
            bare: "a@h".into(),
            resource: "phone".into(),
            sid: crate::session::SessionId(1),
        };
        let p = SessionPresence {
            available: true,
            directed: vec!["x@y/z".into()],
            last_status: "gone <fishing>".into(),
        };
        let mut sm = StreamManagement::new(meerkat_stream::sm::Limits {
            max_unacked: 10,
            request_every: 5,
            request_after: std::time::Duration::from_secs(1),
        });
        sm.set_resumable("id-1".into(), 300);
        sm.on_inbound();
        let msg = Element::new("message", meerkat_proto::ns::CLIENT)
            .with_attr("to", "a@h/phone")
            .with_child(Element::new("body", meerkat_proto::ns::CLIENT).with_text("hi"));
        sm.on_outbound(msg.clone(), std::time::Instant::now());
        let xml = encode(&me, &p, None, &sm);
        let m = decode(xml.as_bytes()).expect("decodes");
        assert_eq!((m.resource.as_str(), m.handled, m.sent, m.resume_s), ("phone", 1, 1, 300));
        assert_eq!(m.presence.directed, p.directed);
        assert_eq!(m.presence.last_status, p.last_status);
        assert!(m.presence.available);
        assert_eq!(m.unacked.len(), 1);
        assert_eq!(m.unacked[0].to_xml(), msg.to_xml());
        assert!(decode(b"<session xmlns='other'/>").is_none());
        assert!(decode(b"not xml").is_none());
    }

    #[test]
    fn ids_name_their_node_only_in_a_cluster() {
        assert_eq!(tag_of("0123-abcd"), Some("abcd"));
        assert_eq!(tag_of("0123abcd"), None);
    }
}
