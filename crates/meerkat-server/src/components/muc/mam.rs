//! Room archives (XEP-0313 §4.1.2, queries sent to the room JID). The archive store keeps a
//! room's messages under the owner `(service domain, room localpart)`, with the room JID as
//! peer and the sender's nick as its resource, so the user archive's query parsing, paging and
//! storage serve rooms unchanged. Messages are written through the MAM writer queue.
//!
//! Who may query: anyone who may enter (not outcasts; in a members-only room, members and up,
//! or current occupants).

use super::room::{Affiliation, Room};
use super::Ctx;
use crate::modules::carbons::NS_FORWARD;
use crate::modules::iq;
use crate::modules::mam::archive::id_to_string;
use crate::modules::mam::{query, writer, NS, NS_RSM};
use crate::modules::services::xep0082;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::archive::{ArchiveQuery, Cursor};
use meerkat_storage::ArchivedMessage;
use meerkat_xml::{Element, Node};

/// Archives a message the room broadcast (`id` is its stanza-id).
pub async fn archive(
    ctx: &Ctx<'_>,
    room: &Room,
    msg: &Element,
    id: i64,
    nick: &str,
    stamp_ms: i64,
) {
    let mut xml = Vec::with_capacity(256);
    msg.write_to(&mut xml, ns::CLIENT);
    let rec = ArchivedMessage {
        id,
        host: ctx.svc.domain.clone(),
        username: room.name.clone(),
        with_bare: room.jid.clone(),
        with_resource: nick.to_owned(),
        outgoing: false,
        stamp_ms,
        stanza: String::from_utf8_lossy(&xml).into_owned(),
    };
    writer::enqueue(ctx.server, rec).await;
}

/// Refills the history of a room loaded from storage from its archive, so a persistent room
/// that emptied still shows its last messages to the next occupant.
pub async fn load_history(ctx: &Ctx<'_>, room: &mut Room) {
    if !room.config.mam || ctx.cfg.history_max_stanzas == 0 {
        return;
    }
    writer::flush(ctx.server).await;
    let q = ArchiveQuery {
        cursor: Cursor::Last,
        max: ctx.cfg.history_max_stanzas,
        ..Default::default()
    };
    let page = match ctx.server.storage.archive.query(&ctx.svc.domain, &room.name, &q).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(what = "muc_history_load_failed", room = %room.jid, error = %e);
            return;
        }
    };
    for m in page.messages {
        let Some(mut el) = query::parse_stored(&m.stanza) else { continue };
        if el.get_child("body", ns::CLIENT).is_none() {
            continue;
        }
        el.remove_attr("to");
        room.history.push(el, m.stamp_ms, ctx.cfg.history_max_stanzas, ctx.cfg.max_history_chars);
    }
}

/// Serves a MAM query to the room: results to the asking resource, then the `<fin/>`.
pub async fn query(ctx: &mut Ctx<'_>, room: &Room, req: &Element, from_full: &str) {
    if !room.config.mam {
        ctx.error(req, SEC::ServiceUnavailable);
        return;
    }
    let bare = crate::addr::Addr::parse(from_full).map(|a| a.bare()).unwrap_or_default();
    let aff = room.affiliation(&bare);
    let present = room.by_jid(from_full).is_some();
    if aff == Affiliation::Outcast
        || (room.config.members_only && aff > Affiliation::Member && !present)
    {
        ctx.error(req, SEC::Forbidden);
        return;
    }
    let Some(q) = iq::payload(req).filter(|q| q.name == "query") else {
        ctx.error(req, SEC::BadRequest);
        return;
    };
    if req.attr("type") == Some("get") {
        ctx.out.push(iq::result(req, Some(query::form())));
        return;
    }
    let parsed = match query::parse(q, &ctx.server.config.modules.mam) {
        Ok(p) => p,
        Err(e) => {
            ctx.error_with(req, e);
            return;
        }
    };
    writer::flush(ctx.server).await;
    let archive = &ctx.server.storage.archive;
    for id in &parsed.must_exist {
        match archive.contains(&ctx.svc.domain, &room.name, *id).await {
            Ok(true) => {}
            Ok(false) => {
                ctx.error_with(
                    req,
                    StanzaError::new(SEC::ItemNotFound)
                        .with_text(format!("no message {} in the archive", id_to_string(*id))),
                );
                return;
            }
            Err(e) => {
                tracing::error!(what = "muc_mam_query_failed", error = %e);
                ctx.error(req, SEC::InternalServerError);
                return;
            }
        }
    }
    let page = match archive.query(&ctx.svc.domain, &room.name, &parsed.query).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(what = "muc_mam_query_failed", error = %e);
            ctx.error(req, SEC::InternalServerError);
            return;
        }
    };
    let first = page.messages.first().map(|m| id_to_string(m.id));
    let last = page.messages.last().map(|m| id_to_string(m.id));
    let mut msgs = page.messages;
    if parsed.flip {
        msgs.reverse();
    }
    for m in msgs {
        let Some(mut original) = query::parse_stored(&m.stanza) else { continue };
        original.remove_attr("to");
        let mut fwd = Element::new("forwarded", NS_FORWARD)
            .with_child(Element::new("delay", ns::DELAY).with_attr("stamp", xep0082(m.stamp_ms)));
        fwd.children.push(Node::Element(original));
        let mut result = Element::new("result", NS);
        if let Some(qid) = q.attr("queryid") {
            result.set_attr("queryid", qid);
        }
        result.set_attr("id", id_to_string(m.id));
        ctx.out.push(
            Element::new("message", ns::CLIENT)
                .with_attr("from", room.jid.clone())
                .with_attr("to", from_full)
                .with_attr("id", super::new_id())
                .with_child(result.with_child(fwd)),
        );
    }
    let mut set = Element::new("set", NS_RSM);
    if let (Some(f), Some(l)) = (first, last) {
        let (f, l) = if parsed.flip { (l, f) } else { (f, l) };
        set = set
            .with_child(Element::new("first", NS_RSM).with_text(f))
            .with_child(Element::new("last", NS_RSM).with_text(l));
    }
    set = set.with_child(Element::new("count", NS_RSM).with_text(page.count.to_string()));
    let fin = Element::new("fin", NS)
        .with_attr("complete", if page.complete { "true" } else { "false" })
        .with_child(set);
    ctx.out.push(iq::result(req, Some(fin)));
}
