//! Roles and affiliations (XEP-0045 §8 moderator use cases, §9 admin, §10.3-10.8 owner):
//! `muc#admin` lists (get) and changes (set): kick (role `none`, 307), voice (participant /
//! visitor), moderator grants, ban (outcast, 301), member/admin/owner lists, with the
//! privilege rules of §5.1.1 and §5.2.1. A set with several items is checked whole first,
//! then applied in order, so it is all or nothing.

use super::room::{Affiliation, Occupant, Role, Room};
use super::{Ctx, NS_MUC_ADMIN, NS_MUC_USER};
use crate::addr::Addr;
use crate::modules::iq;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;

/// One checked change.
enum Change {
    Role { nick: String, role: Role, reason: Option<String> },
    Affiliation { bare: String, affiliation: Affiliation, reason: Option<String> },
}

fn err(cond: SEC, text: &str) -> StanzaError {
    StanzaError::new(cond).with_text(text.to_owned())
}

/// Handles a `muc#admin` IQ from `from_full` (bare `from_bare`).
pub async fn handle(
    ctx: &mut Ctx<'_>,
    room: &mut Room,
    req: &Element,
    from_full: &str,
    from_bare: &str,
) {
    let Some(q) = iq::payload(req).filter(|q| q.name == "query") else {
        ctx.error(req, SEC::BadRequest);
        return;
    };
    let actor_aff = room.affiliation(from_bare);
    let actor_role = room.by_jid(from_full).map_or(Role::None, |o| o.role);
    if req.attr("type") == Some("get") {
        match list(room, q, actor_aff, actor_role) {
            Ok(items) => ctx.out.push(iq::result(req, Some(items))),
            Err(e) => ctx.error_with(req, e),
        }
        return;
    }
    let items: Vec<&Element> = q.children().filter(|c| c.is("item", NS_MUC_ADMIN)).collect();
    if items.is_empty() || items.len() > ctx.cfg.max_affiliations {
        ctx.error(req, SEC::BadRequest);
        return;
    }
    let mut changes = Vec::with_capacity(items.len());
    // Affiliations as they will be once the earlier items apply (last-owner and size checks).
    let mut after = room.affiliations.clone();
    for item in items {
        match check(ctx, room, item, actor_aff, actor_role, &mut after) {
            Ok(c) => changes.push(c),
            Err(e) => {
                ctx.error_with(req, e);
                return;
            }
        }
    }
    let actor_nick = room.by_jid(from_full).map(|o| o.nick.clone());
    for c in changes {
        apply(ctx, room, c, actor_nick.as_deref());
    }
    ctx.save(room).await;
    ctx.out.push(iq::result(req, None));
}

fn list(
    room: &Room,
    q: &Element,
    actor_aff: Affiliation,
    actor_role: Role,
) -> Result<Element, StanzaError> {
    let Some(item) = q.children().find(|c| c.is("item", NS_MUC_ADMIN)) else {
        return Err(err(SEC::BadRequest, "name one affiliation or role"));
    };
    let mut out = Element::new("query", NS_MUC_ADMIN);
    if let Some(a) = item.attr("affiliation") {
        let a = Affiliation::parse(a)
            .filter(|a| *a != Affiliation::None)
            .ok_or_else(|| err(SEC::BadRequest, "unknown affiliation"))?;
        if actor_aff > Affiliation::Admin {
            return Err(err(SEC::Forbidden, "only admins and owners see affiliation lists"));
        }
        for (jid, _) in room.affiliations.iter().filter(|(_, x)| **x == a) {
            out = out.with_child(
                Element::new("item", NS_MUC_ADMIN)
                    .with_attr("affiliation", a.name())
                    .with_attr("jid", jid.clone()),
            );
        }
        return Ok(out);
    }
    if let Some(r) = item.attr("role") {
        let r = Role::parse(r)
            .filter(|r| *r != Role::None)
            .ok_or_else(|| err(SEC::BadRequest, "unknown role"))?;
        let allowed = match r {
            Role::Moderator => actor_aff <= Affiliation::Admin,
            _ => actor_role == Role::Moderator,
        };
        if !allowed {
            return Err(err(SEC::Forbidden, "not allowed to see this list"));
        }
        for o in room.occupants.values().filter(|o| o.role == r) {
            out = out.with_child(
                Element::new("item", NS_MUC_ADMIN)
                    .with_attr("affiliation", room.affiliation(&o.bare).name())
                    .with_attr("jid", o.jid.clone())
                    .with_attr("nick", o.nick.clone())
                    .with_attr("role", r.name()),
            );
        }
        return Ok(out);
    }
    Err(err(SEC::BadRequest, "name one affiliation or role"))
}

fn check(
    ctx: &Ctx<'_>,
    room: &Room,
    item: &Element,
    actor_aff: Affiliation,
    actor_role: Role,
    after: &mut std::collections::BTreeMap<String, Affiliation>,
) -> Result<Change, StanzaError> {
    let reason = item.get_child("reason", NS_MUC_ADMIN).map(|r| r.text());
    if reason.as_ref().is_some_and(|r| r.chars().count() > ctx.cfg.max_text_chars) {
        return Err(err(SEC::NotAcceptable, "reason too long"));
    }
    if let Some(a) = item.attr("affiliation") {
        let affiliation =
            Affiliation::parse(a).ok_or_else(|| err(SEC::BadRequest, "unknown affiliation"))?;
        let bare = match (item.attr("jid"), item.attr("nick")) {
            (Some(j), _) => {
                Addr::parse(j).map(|a| a.bare()).ok_or_else(|| err(SEC::JidMalformed, "bad jid"))?
            }
            (None, Some(n)) => room
                .occupants
                .get(n)
                .map(|o| o.bare.clone())
                .ok_or_else(|| err(SEC::ItemNotFound, "no such occupant"))?,
            (None, None) => return Err(err(SEC::BadRequest, "item needs a jid")),
        };
        let current = after.get(&bare).copied().unwrap_or(Affiliation::None);
        if actor_aff > Affiliation::Admin {
            return Err(err(SEC::Forbidden, "only admins and owners change affiliations"));
        }
        let touches_high = |a: Affiliation| a <= Affiliation::Admin;
        if actor_aff == Affiliation::Admin && (touches_high(current) || touches_high(affiliation)) {
            return Err(err(SEC::NotAllowed, "only owners change owners and admins"));
        }
        if current == Affiliation::Owner
            && affiliation != Affiliation::Owner
            && after.values().filter(|a| **a == Affiliation::Owner).count() <= 1
        {
            return Err(err(SEC::Conflict, "a room keeps at least one owner"));
        }
        if affiliation == Affiliation::None {
            after.remove(&bare);
        } else {
            if current == Affiliation::None && after.len() >= ctx.cfg.max_affiliations {
                return Err(err(SEC::ResourceConstraint, "the affiliation lists are full"));
            }
            after.insert(bare.clone(), affiliation);
        }
        return Ok(Change::Affiliation { bare, affiliation, reason });
    }
    if let Some(r) = item.attr("role") {
        let role = Role::parse(r).ok_or_else(|| err(SEC::BadRequest, "unknown role"))?;
        let nick = item.attr("nick").ok_or_else(|| err(SEC::BadRequest, "item needs a nick"))?;
        let target =
            room.occupants.get(nick).ok_or_else(|| err(SEC::ItemNotFound, "no such occupant"))?;
        let target_aff = room.affiliation(&target.bare);
        if actor_role != Role::Moderator {
            return Err(err(SEC::Forbidden, "only moderators change roles"));
        }
        // Admins and owners keep their role (§8.2, §8.4: not-allowed); granting or revoking
        // moderator is for admins (§9.6); nobody lowers the role of someone affiliated above
        // them.
        if role > target.role && target_aff <= Affiliation::Admin {
            return Err(err(SEC::NotAllowed, "admins and owners keep their role"));
        }
        if (role == Role::Moderator || target.role == Role::Moderator)
            && actor_aff > Affiliation::Admin
        {
            return Err(err(SEC::Forbidden, "only admins change moderators"));
        }
        if role > target.role && target_aff < actor_aff {
            return Err(err(SEC::NotAllowed, "not above your affiliation"));
        }
        return Ok(Change::Role { nick: nick.to_owned(), role, reason });
    }
    Err(err(SEC::BadRequest, "item needs a role or an affiliation"))
}

fn extras(actor_nick: Option<&str>, reason: &Option<String>) -> Vec<Element> {
    let mut v = Vec::new();
    if let Some(n) = actor_nick {
        v.push(Element::new("actor", NS_MUC_USER).with_attr("nick", n));
    }
    if let Some(r) = reason {
        v.push(Element::new("reason", NS_MUC_USER).with_text(r.clone()));
    }
    v
}

fn apply(ctx: &mut Ctx<'_>, room: &mut Room, change: Change, actor_nick: Option<&str>) {
    match change {
        Change::Role { nick, role, reason } => {
            let Some(occ) = room.occupants.get(&nick).cloned() else { return };
            let extra = extras(actor_nick, &reason);
            if role == Role::None {
                super::presence::remove(room, &occ, &extra, &[307], true, &mut ctx.out);
                return;
            }
            set_role(ctx, room, &occ, role, &extra);
        }
        Change::Affiliation { bare, affiliation, reason } => {
            if affiliation == Affiliation::None {
                room.affiliations.remove(&bare);
            } else {
                room.affiliations.insert(bare.clone(), affiliation);
            }
            let extra = extras(actor_nick, &reason);
            let present: Vec<Occupant> =
                room.occupants.values().filter(|o| o.bare == bare).cloned().collect();
            for occ in present {
                if affiliation == Affiliation::Outcast {
                    super::presence::remove(room, &occ, &extra, &[301], true, &mut ctx.out);
                } else if room.config.members_only && affiliation == Affiliation::None {
                    super::presence::remove(room, &occ, &extra, &[321], true, &mut ctx.out);
                } else {
                    let role = match affiliation {
                        Affiliation::Owner | Affiliation::Admin => Role::Moderator,
                        _ if occ.role == Role::Moderator => room.default_role(affiliation),
                        // Voice granted before is kept; a new member gets it.
                        _ => occ.role.min(room.default_role(affiliation)),
                    };
                    set_role(ctx, room, &occ, role, &extra);
                }
            }
        }
    }
}

fn set_role(ctx: &mut Ctx<'_>, room: &mut Room, occ: &Occupant, role: Role, extra: &[Element]) {
    let Some(o) = room.occupants.get_mut(&occ.nick) else { return };
    o.role = role;
    let o = o.clone();
    room.broadcast_presence(&o, None, extra, &[], &mut ctx.out);
}
