//! Presence to a room (XEP-0045 §7.1-7.7): creating a room on first entry (§10.1), entering
//! with its checks in the XEP's order, presence updates, nick changes (status 303), leaving,
//! and removal of an occupant whose client answers with an error (status 333).

use super::history;
use super::room::{Affiliation, Occupant, Role, Room, NS_OCCUPANT_ID};
use super::{Ctx, NS_MUC, NS_MUC_USER};
use crate::addr::Addr;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::{Element, Node};

/// The presence payload the room repeats to others: everything but MUC and occupant-id
/// elements (those are the room's to write).
fn payload(stanza: &Element) -> Vec<Node> {
    stanza
        .children
        .iter()
        .filter(|n| match n {
            Node::Element(e) => !(e.ns == NS_MUC || e.ns == NS_MUC_USER || e.ns == NS_OCCUPANT_ID),
            Node::Text(_) => false,
        })
        .cloned()
        .collect()
}

/// Creates a room for a first join (§10.1.1), within the service's limits. `None` (the error
/// queued) when a limit forbids it.
pub async fn create(ctx: &mut Ctx<'_>, name: &str, stanza: &Element, from: &Addr) -> Option<Room> {
    let stored = match ctx.server.storage.misc.muc.count_rooms(&ctx.svc.domain).await {
        Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
        Err(e) => {
            tracing::error!(what = "muc_room_count_failed", error = %e);
            ctx.error(stanza, SEC::InternalServerError);
            return None;
        }
    };
    let live = ctx.svc.live_rooms();
    // Live persistent rooms are in storage too: count each room once. This slot is not in
    // `live` (it has no room yet).
    let total = stored.saturating_add(live.iter().filter(|(_, l)| !l.persistent).count());
    if total >= ctx.cfg.max_rooms {
        ctx.error_with(
            stanza,
            StanzaError::new(SEC::ResourceConstraint)
                .with_text("the service holds its maximum of rooms"),
        );
        return None;
    }
    let bare = from.bare();
    let owned = live.iter().filter(|(_, l)| l.owners.contains(&bare)).count();
    if owned >= ctx.cfg.max_rooms_per_user {
        ctx.error_with(
            stanza,
            StanzaError::new(SEC::ResourceConstraint).with_text("you own the maximum of rooms"),
        );
        return None;
    }
    let mut room = Room::create(&ctx.svc.domain, name, &bare, ctx.cfg);
    // A client that does not speak MUC (no <x/>) cannot configure: an instant room (§7.2.1).
    if stanza.get_child("x", NS_MUC).is_none() {
        room.locked = false;
    }
    tracing::info!(what = "muc_room_created", room = %room.jid, owner = %bare);
    Some(room)
}

/// Handles presence from `from_full` to the room or an occupant JID of it.
pub async fn handle(
    ctx: &mut Ctx<'_>,
    room: &mut Room,
    stanza: &Element,
    from_full: &str,
    from: &Addr,
    nick: Option<&str>,
) {
    match stanza.attr("type") {
        None => {
            let Some(nick) = nick else {
                ctx.error(stanza, SEC::JidMalformed);
                return;
            };
            let current = room.by_jid(from_full).map(|o| o.nick.clone());
            match current {
                None => join(ctx, room, stanza, from_full, &from.bare(), nick),
                Some(old) if old == nick => update(ctx, room, stanza, nick),
                Some(old) => change_nick(ctx, room, stanza, &old, nick),
            }
        }
        Some("unavailable") => {
            if let Some(occ) = room.by_jid(from_full).cloned() {
                let mut occ = occ;
                occ.presence = payload(stanza);
                remove(room, &occ, &[], &[], true, &mut ctx.out);
            }
        }
        Some("error") => {
            if let Some(occ) = room.by_jid(from_full).cloned() {
                remove(room, &occ, &[], &[333], false, &mut ctx.out);
            }
        }
        // Subscriptions and probes have no meaning for a room.
        _ => {}
    }
}

/// Removes `occ`: unavailable presence with role `none` to every occupant (and to `occ`
/// itself when `tell_self`), with `item_extra` (actor, reason) and status `codes`.
pub fn remove(
    room: &mut Room,
    occ: &Occupant,
    item_extra: &[Element],
    codes: &[u16],
    tell_self: bool,
    out: &mut Vec<Element>,
) {
    let mut gone = occ.clone();
    gone.role = Role::None;
    for viewer in room.occupants.values() {
        if viewer.jid == occ.jid && !tell_self {
            continue;
        }
        out.push(room.presence_of(&gone, viewer, Some("unavailable"), item_extra, codes));
    }
    room.occupants.remove(&occ.nick);
}

fn join(
    ctx: &mut Ctx<'_>,
    room: &mut Room,
    stanza: &Element,
    from_full: &str,
    bare: &str,
    nick: &str,
) {
    let aff = room.affiliation(bare);
    let x = stanza.get_child("x", NS_MUC);
    // The checks of §7.2 in the order the XEP lists them, so a client learns the most
    // specific reason.
    if room.locked && aff != Affiliation::Owner {
        ctx.error_with(
            stanza,
            StanzaError::new(SEC::ItemNotFound).with_text("the room is locked until configured"),
        );
        return;
    }
    if aff == Affiliation::Outcast {
        ctx.error(stanza, SEC::Forbidden);
        return;
    }
    if room.config.members_only && aff > Affiliation::Member {
        ctx.error(stanza, SEC::RegistrationRequired);
        return;
    }
    if room.occupants.contains_key(nick) {
        ctx.error(stanza, SEC::Conflict);
        return;
    }
    if room.occupants.len() >= room.config.max_users && aff > Affiliation::Admin {
        ctx.error_with(
            stanza,
            StanzaError::new(SEC::ServiceUnavailable).with_text("the room is full"),
        );
        return;
    }
    if room.config.password_protected && aff != Affiliation::Owner {
        let given = x.and_then(|x| x.get_child("password", NS_MUC)).map(|p| p.text());
        if given.as_deref() != Some(room.config.password.as_str()) {
            ctx.error(stanza, SEC::NotAuthorized);
            return;
        }
    }
    let role = room.default_role(aff);
    let new_room = room.locked && room.occupants.is_empty();
    let occ = Occupant {
        nick: nick.to_owned(),
        jid: from_full.to_owned(),
        bare: bare.to_owned(),
        role,
        presence: payload(stanza),
    };
    // Existing occupants first, then the newcomer's own presence last (§7.2.3), so a client
    // knows the roster is complete when it sees status 110.
    for other in room.occupants.values() {
        ctx.out.push(room.presence_of(other, &occ, None, &[], &[]));
    }
    room.occupants.insert(nick.to_owned(), occ.clone());
    let mut self_codes = Vec::new();
    if room.config.whois_anyone {
        self_codes.push(100);
    }
    if room.config.mam {
        self_codes.push(170);
    }
    if new_room {
        self_codes.push(201);
    }
    for viewer in room.occupants.values() {
        let codes: &[u16] = if viewer.jid == occ.jid { &self_codes } else { &[] };
        ctx.out.push(room.presence_of(&occ, viewer, None, &[], codes));
    }
    let req = history::Request::parse(x, super::now_ms());
    ctx.out.extend(room.history.replay(req, &room.jid, from_full));
    // The subject always follows the history, empty when none (§7.2.15).
    let from = if room.subject_by.is_empty() {
        room.jid.clone()
    } else {
        room.occupant_jid(&room.subject_by)
    };
    ctx.out.push(
        Element::new("message", ns::CLIENT)
            .with_attr("from", from)
            .with_attr("to", from_full)
            .with_attr("type", "groupchat")
            .with_attr("id", super::new_id())
            .with_child(Element::new("subject", ns::CLIENT).with_text(room.subject.clone())),
    );
}

fn update(ctx: &mut Ctx<'_>, room: &mut Room, stanza: &Element, nick: &str) {
    let Some(occ) = room.occupants.get_mut(nick) else { return };
    occ.presence = payload(stanza);
    let occ = occ.clone();
    room.broadcast_presence(&occ, None, &[], &[], &mut ctx.out);
}

/// §7.6: unavailable from the old nick with the new one and 303, then available from the new.
fn change_nick(ctx: &mut Ctx<'_>, room: &mut Room, stanza: &Element, old: &str, new: &str) {
    if room.occupants.contains_key(new) {
        ctx.error(stanza, SEC::Conflict);
        return;
    }
    let Some(mut occ) = room.occupants.remove(old) else { return };
    let mut leaving = occ.clone();
    leaving.presence = Vec::new();
    room.occupants.insert(old.to_owned(), leaving.clone());
    for viewer in room.occupants.values() {
        let mut p = room.presence_of(&leaving, viewer, Some("unavailable"), &[], &[303]);
        if let Some(item) =
            p.get_child_mut("x", NS_MUC_USER).and_then(|x| x.get_child_mut("item", NS_MUC_USER))
        {
            item.set_attr("nick", new);
        }
        ctx.out.push(p);
    }
    room.occupants.remove(old);
    occ.nick = new.to_owned();
    occ.presence = payload(stanza);
    room.occupants.insert(new.to_owned(), occ.clone());
    if room.subject_by == old {
        room.subject_by = new.to_owned();
    }
    room.broadcast_presence(&occ, None, &[], &[], &mut ctx.out);
}
