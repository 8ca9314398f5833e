//! Owner use cases (XEP-0045 §10): the configuration form (get, submit, cancel), which also
//! unlocks a new room (instant room: an empty submit; reserved room: the form filled in), and
//! destruction (§10.9).

use super::config::ROOMCONFIG;
use super::room::{Affiliation, Occupant, Role, Room};
use super::{Ctx, NS_MUC_OWNER, NS_MUC_USER};
use crate::modules::iq;
use meerkat_proto::error::StanzaErrorCondition as SEC;
use meerkat_proto::ns;
use meerkat_xml::Element;

/// Handles a `muc#owner` IQ. Returns true when the room was destroyed.
pub async fn handle(ctx: &mut Ctx<'_>, room: &mut Room, req: &Element, from_bare: &str) -> bool {
    let Some(q) = iq::payload(req).filter(|q| q.name == "query") else {
        ctx.error(req, SEC::BadRequest);
        return false;
    };
    if room.affiliation(from_bare) != Affiliation::Owner {
        ctx.error(req, SEC::Forbidden);
        return false;
    }
    if req.attr("type") == Some("get") {
        let form = room.config.form(ctx.cfg);
        ctx.out.push(iq::result(req, Some(Element::new("query", NS_MUC_OWNER).with_child(form))));
        return false;
    }
    if let Some(d) = q.get_child("destroy", NS_MUC_OWNER) {
        destroy(ctx, room, d).await;
        ctx.out.push(iq::result(req, None));
        return true;
    }
    let Some(x) = q.get_child("x", ns::DATA_FORMS) else {
        ctx.error(req, SEC::BadRequest);
        return false;
    };
    match x.attr("type") {
        Some("cancel") => {
            ctx.out.push(iq::result(req, None));
            // Cancelling the first configuration of a new room destroys it (§10.1.3).
            if room.locked {
                let none = Element::new("destroy", NS_MUC_OWNER);
                destroy(ctx, room, &none).await;
                return true;
            }
            false
        }
        Some("submit") => {
            let form_type = x
                .children()
                .find(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some("FORM_TYPE"))
                .and_then(|f| f.get_child("value", ns::DATA_FORMS))
                .map(|v| v.text());
            if form_type.as_deref().is_some_and(|t| t != ROOMCONFIG) {
                ctx.error(req, SEC::BadRequest);
                return false;
            }
            let was_persistent = room.config.persistent;
            let was_members_only = room.config.members_only;
            let changed = match room.config.apply_form(x, ctx.cfg) {
                Ok(c) => c,
                Err(e) => {
                    ctx.error_with(req, e);
                    return false;
                }
            };
            let was_locked = std::mem::take(&mut room.locked);
            if room.config.persistent {
                ctx.save(room).await;
            } else if was_persistent {
                if let Err(e) =
                    ctx.server.storage.misc.muc.delete_room(&ctx.svc.domain, &room.name).await
                {
                    tracing::error!(what = "muc_room_delete_failed", room = %room.jid, error = %e);
                }
            }
            ctx.out.push(iq::result(req, None));
            if room.config.members_only && !was_members_only {
                // Occupants without membership leave a room that became members-only (322).
                let outsiders: Vec<Occupant> = room
                    .occupants
                    .values()
                    .filter(|o| room.affiliation(&o.bare) > Affiliation::Member)
                    .cloned()
                    .collect();
                for o in outsiders {
                    super::presence::remove(room, &o, &[], &[322], true, &mut ctx.out);
                }
            }
            if !was_locked {
                let mut codes = vec![104];
                match changed.anonymity {
                    Some(true) => codes.push(172),
                    Some(false) => codes.push(173),
                    None => {}
                }
                match changed.logging {
                    Some(true) => codes.push(170),
                    Some(false) => codes.push(171),
                    None => {}
                }
                room.status_message(&codes, &mut ctx.out);
            }
            false
        }
        _ => {
            ctx.error(req, SEC::BadRequest);
            false
        }
    }
}

/// §10.9: every occupant gets unavailable presence carrying `<destroy/>` (with the
/// alternate venue and reason given), and the room leaves storage (its archive stays).
pub async fn destroy(ctx: &mut Ctx<'_>, room: &mut Room, d: &Element) {
    let mut destroy = Element::new("destroy", NS_MUC_USER);
    if let Some(j) = d.attr("jid").and_then(crate::addr::Addr::parse) {
        destroy.set_attr("jid", j.full());
    }
    if let Some(r) = d.get_child("reason", NS_MUC_OWNER) {
        let text: String = r.text().chars().take(ctx.cfg.max_text_chars).collect();
        destroy = destroy.with_child(Element::new("reason", NS_MUC_USER).with_text(text));
    }
    for occ in room.occupants.values() {
        let p = Element::new("presence", ns::CLIENT)
            .with_attr("from", room.occupant_jid(&occ.nick))
            .with_attr("to", occ.jid.clone())
            .with_attr("type", "unavailable")
            .with_child(
                Element::new("x", NS_MUC_USER)
                    .with_child(
                        Element::new("item", NS_MUC_USER)
                            .with_attr("affiliation", "none")
                            .with_attr("role", Role::None.name()),
                    )
                    .with_child(destroy.clone()),
            );
        ctx.out.push(p);
    }
    room.occupants.clear();
    if let Err(e) = ctx.server.storage.misc.muc.delete_room(&ctx.svc.domain, &room.name).await {
        tracing::error!(what = "muc_room_delete_failed", room = %room.jid, error = %e);
    }
    tracing::info!(what = "muc_room_destroyed", room = %room.jid);
}
