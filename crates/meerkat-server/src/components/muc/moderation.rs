//! Message moderation (XEP-0425 v0.3, `urn:xmpp:message-moderate:1`): a moderator retracts
//! an occupant's message by its stanza-id. The room broadcasts the retraction (XEP-0424
//! `<retract/>` with `<moderated/>`), forgets the message from its history, and replaces it in
//! the archive with a tombstone (`<retracted/>`), so later MAM queries do not return it.

use super::room::{Role, Room, NS_OCCUPANT_ID};
use super::Ctx;
use crate::modules::iq;
use crate::modules::mam::archive::{id_from_str, id_to_string};
use crate::modules::mam::NS_SID;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::archive::ArchiveQuery;
use meerkat_xml::Element;

/// XEP-0425 namespace.
pub const NS: &str = "urn:xmpp:message-moderate:1";
/// XEP-0424 namespace.
pub const NS_RETRACT: &str = "urn:xmpp:message-retract:1";

/// Handles `<moderate/>` from `from_full`.
pub async fn handle(ctx: &mut Ctx<'_>, room: &mut Room, req: &Element, from_full: &str) {
    let Some(m) = iq::payload(req).filter(|p| p.name == "moderate") else {
        ctx.error(req, SEC::BadRequest);
        return;
    };
    if req.attr("type") != Some("set") || m.get_child("retract", NS_RETRACT).is_none() {
        ctx.error(req, SEC::BadRequest);
        return;
    }
    let Some(moderator) = room.by_jid(from_full).filter(|o| o.role == Role::Moderator).cloned()
    else {
        ctx.error_with(
            req,
            StanzaError::new(SEC::Forbidden).with_text("only moderators retract messages"),
        );
        return;
    };
    let Some(sid) = m.attr("id") else {
        ctx.error(req, SEC::BadRequest);
        return;
    };
    let Some(id) = id_from_str(sid) else {
        ctx.error(req, SEC::ItemNotFound);
        return;
    };
    let reason: Option<String> =
        m.get_child("reason", NS).map(|r| r.text().chars().take(ctx.cfg.max_text_chars).collect());
    let in_history = room.history.remove_by_stanza_id(sid);
    let original = find_archived(ctx, room, id).await;
    if original.is_none() && !in_history {
        ctx.error(req, SEC::ItemNotFound);
        return;
    }
    let moderated = || {
        let mut el =
            Element::new("moderated", NS).with_attr("by", room.occupant_jid(&moderator.nick));
        el = el.with_child(
            Element::new("occupant-id", NS_OCCUPANT_ID)
                .with_attr("id", room.occupant_id(&moderator.bare)),
        );
        el
    };
    let reason_el = || reason.clone().map(|r| Element::new("reason", NS).with_text(r));
    if let Some(mut tomb) = original {
        // The tombstone keeps who sent what when (from, ids) and loses the content.
        tomb.children.retain(|n| match n {
            meerkat_xml::Node::Element(e) => e.ns == NS_SID || e.ns == NS_OCCUPANT_ID,
            meerkat_xml::Node::Text(_) => false,
        });
        let mut retracted = Element::new("retracted", NS_RETRACT)
            .with_attr("stamp", crate::modules::services::xep0082_now())
            .with_child(moderated());
        if let Some(r) = reason_el() {
            retracted = retracted.with_child(r);
        }
        tomb = tomb.with_child(retracted);
        let mut xml = Vec::with_capacity(256);
        tomb.write_to(&mut xml, ns::CLIENT);
        let xml = String::from_utf8_lossy(&xml).into_owned();
        if let Err(e) = ctx
            .server
            .storage
            .misc
            .muc
            .replace_archived(&ctx.svc.domain, &room.name, id, &xml)
            .await
        {
            tracing::error!(what = "muc_tombstone_failed", room = %room.jid, error = %e);
            ctx.error(req, SEC::InternalServerError);
            return;
        }
    }
    let mut retract =
        Element::new("retract", NS_RETRACT).with_attr("id", sid).with_child(moderated());
    if let Some(r) = reason_el() {
        retract = retract.with_child(r);
    }
    let new_id = ctx.server.mam.ids.next();
    let msg = Element::new("message", ns::CLIENT)
        .with_attr("from", room.jid.clone())
        .with_attr("type", "groupchat")
        .with_attr("id", super::new_id())
        .with_child(retract)
        .with_child(
            Element::new("stanza-id", NS_SID)
                .with_attr("by", room.jid.clone())
                .with_attr("id", id_to_string(new_id)),
        );
    if room.config.mam {
        super::mam::archive(ctx, room, &msg, new_id, "", super::now_ms()).await;
    }
    room.broadcast(&msg, &mut ctx.out);
    ctx.out.push(iq::result(req, None));
}

/// The archived message `id` of the room, if any.
async fn find_archived(ctx: &Ctx<'_>, room: &Room, id: i64) -> Option<Element> {
    crate::modules::mam::writer::flush(ctx.server).await;
    let q = ArchiveQuery { ids: Some(vec![id]), max: 1, ..Default::default() };
    match ctx.server.storage.archive.query(&ctx.svc.domain, &room.name, &q).await {
        Ok(page) => {
            page.messages.first().and_then(|m| crate::modules::mam::query::parse_stored(&m.stanza))
        }
        Err(e) => {
            tracing::error!(what = "muc_archive_read_failed", room = %room.jid, error = %e);
            None
        }
    }
}
