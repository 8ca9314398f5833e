//! Messages to a room (XEP-0045 §7.4-7.9): groupchat broadcast with a XEP-0359 stanza-id by
//! the room and a XEP-0421 occupant-id, subject changes, private messages between occupants,
//! and mediated invitations and declines (§7.8.2). XEP-0249 direct invitations go from user
//! to user and never pass here.

use super::room::{Affiliation, Role, Room, NS_OCCUPANT_ID};
use super::{mam, Ctx, NS_MUC_USER};
use crate::addr::Addr;
use crate::modules::mam::NS_SID;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::{Element, Node};

/// Invitations one message may carry; more is refused (each costs a stanza).
const MAX_INVITES_PER_MESSAGE: usize = 10;

/// Handles a message from `from_full` to the room (`nick` `None`) or an occupant.
pub async fn handle(
    ctx: &mut Ctx<'_>,
    room: &mut Room,
    stanza: Element,
    from_full: &str,
    nick: Option<&str>,
) {
    let kind = stanza.attr("type").unwrap_or("normal").to_owned();
    if kind == "error" {
        // An occupant's client refused a message: it is gone (§7.4, status 333).
        if let Some(occ) = room.by_jid(from_full).cloned() {
            super::presence::remove(room, &occ, &[], &[333], false, &mut ctx.out);
        }
        return;
    }
    match (nick, kind.as_str()) {
        (None, "groupchat") => groupchat(ctx, room, stanza, from_full).await,
        (None, _) if stanza.get_child("x", NS_MUC_USER).is_some() => {
            invitations(ctx, room, &stanza, from_full).await
        }
        (None, _) => ctx.error(&stanza, SEC::BadRequest),
        (Some(_), "groupchat") => ctx.error(&stanza, SEC::BadRequest),
        (Some(n), _) => private(ctx, room, stanza, from_full, n),
    }
}

/// Children a sender may not forge: ids the room writes itself.
fn strip_room_elements(children: &[Node], room_jid: &str) -> Vec<Node> {
    children
        .iter()
        .filter(|n| match n {
            Node::Element(e) => {
                !(e.ns == NS_OCCUPANT_ID
                    || (e.is("stanza-id", NS_SID) && e.attr("by") == Some(room_jid)))
            }
            Node::Text(_) => true,
        })
        .cloned()
        .collect()
}

async fn groupchat(ctx: &mut Ctx<'_>, room: &mut Room, stanza: Element, from_full: &str) {
    let Some(sender) = room.by_jid(from_full).cloned() else {
        ctx.error(&stanza, SEC::NotAcceptable);
        return;
    };
    if sender.role == Role::Visitor {
        ctx.error_with(&stanza, StanzaError::new(SEC::Forbidden).with_text("you have no voice"));
        return;
    }
    let subject = stanza.get_child("subject", ns::CLIENT).map(|s| s.text());
    let has_body = stanza.get_child("body", ns::CLIENT).is_some();
    if let (Some(subject), false) = (&subject, has_body) {
        let may = sender.role == Role::Moderator || room.config.change_subject;
        if !may {
            ctx.error_with(
                &stanza,
                StanzaError::new(SEC::Forbidden)
                    .with_text("only moderators may change the subject"),
            );
            return;
        }
        if subject.chars().count() > ctx.cfg.max_text_chars {
            ctx.error(&stanza, SEC::NotAcceptable);
            return;
        }
        room.subject = subject.clone();
        room.subject_by = sender.nick.clone();
        ctx.save(room).await;
    }
    let mut msg = Element::new("message", ns::CLIENT)
        .with_attr("from", room.occupant_jid(&sender.nick))
        .with_attr("type", "groupchat");
    if let Some(id) = stanza.attr("id") {
        // Kept: clients recognise their own message in the reflection by its id.
        msg.set_attr("id", id);
    }
    msg.children = strip_room_elements(&stanza.children, &room.jid);
    let id = ctx.server.mam.ids.next();
    msg = msg
        .with_child(
            Element::new("stanza-id", NS_SID)
                .with_attr("by", room.jid.clone())
                .with_attr("id", crate::modules::mam::archive::id_to_string(id)),
        )
        .with_child(
            Element::new("occupant-id", NS_OCCUPANT_ID)
                .with_attr("id", room.occupant_id(&sender.bare)),
        );
    if has_body {
        let now = super::now_ms();
        room.history.push(msg.clone(), now, ctx.cfg.history_max_stanzas, ctx.cfg.max_history_chars);
        if room.config.mam {
            mam::archive(ctx, room, &msg, id, &sender.nick, now).await;
        }
    }
    room.broadcast(&msg, &mut ctx.out);
}

/// §7.5: a private message to one occupant, under the sender's occupant JID.
fn private(ctx: &mut Ctx<'_>, room: &Room, stanza: Element, from_full: &str, nick: &str) {
    let Some(sender) = room.by_jid(from_full) else {
        ctx.error(&stanza, SEC::NotAcceptable);
        return;
    };
    use super::config::AllowPm;
    let allowed = match room.config.allow_pm {
        AllowPm::Anyone => true,
        AllowPm::Participants => sender.role <= Role::Participant,
        AllowPm::Moderators => sender.role == Role::Moderator,
        AllowPm::Nobody => false,
    };
    if !allowed {
        ctx.error_with(
            &stanza,
            StanzaError::new(SEC::Forbidden).with_text("private messages are not allowed here"),
        );
        return;
    }
    let Some(target) = room.occupants.get(nick) else {
        ctx.error(&stanza, SEC::ItemNotFound);
        return;
    };
    let mut msg = Element::new("message", ns::CLIENT)
        .with_attr("from", room.occupant_jid(&sender.nick))
        .with_attr("to", target.jid.clone());
    for a in ["type", "id"] {
        if let Some(v) = stanza.attr(a) {
            msg.set_attr(a, v);
        }
    }
    msg.children = strip_room_elements(&stanza.children, &room.jid);
    msg.remove_children("x", NS_MUC_USER);
    msg = msg.with_child(Element::new("x", NS_MUC_USER));
    ctx.out.push(msg);
}

/// §7.8.2 mediated invitations and their declines.
async fn invitations(ctx: &mut Ctx<'_>, room: &mut Room, stanza: &Element, from_full: &str) {
    let Some(x) = stanza.get_child("x", NS_MUC_USER) else { return };
    let invites: Vec<&Element> = x.children().filter(|c| c.is("invite", NS_MUC_USER)).collect();
    let declines: Vec<&Element> = x.children().filter(|c| c.is("decline", NS_MUC_USER)).collect();
    if invites.is_empty() && declines.is_empty() {
        ctx.error(stanza, SEC::BadRequest);
        return;
    }
    if invites.len() + declines.len() > MAX_INVITES_PER_MESSAGE {
        ctx.error_with(
            stanza,
            StanzaError::new(SEC::PolicyViolation)
                .with_text(format!("at most {MAX_INVITES_PER_MESSAGE} invitations per message")),
        );
        return;
    }
    let from_bare = Addr::parse(from_full).map(|a| a.bare()).unwrap_or_default();
    let reason = |e: &Element| e.get_child("reason", NS_MUC_USER).map(|r| r.text());
    for d in declines {
        let Some(to) = d.attr("to").and_then(Addr::parse) else {
            ctx.error(stanza, SEC::JidMalformed);
            return;
        };
        let mut decline = Element::new("decline", NS_MUC_USER).with_attr("from", from_bare.clone());
        if let Some(r) = reason(d) {
            decline = decline.with_child(Element::new("reason", NS_MUC_USER).with_text(r));
        }
        ctx.out.push(
            Element::new("message", ns::CLIENT)
                .with_attr("from", room.jid.clone())
                .with_attr("to", to.full())
                .with_attr("id", super::new_id())
                .with_child(Element::new("x", NS_MUC_USER).with_child(decline)),
        );
    }
    if invites.is_empty() {
        return;
    }
    let Some(sender) = room.by_jid(from_full).cloned() else {
        ctx.error(stanza, SEC::NotAcceptable);
        return;
    };
    let aff = room.affiliation(&sender.bare);
    let may =
        room.config.allow_invites || sender.role == Role::Moderator || aff <= Affiliation::Admin;
    if !may {
        ctx.error_with(stanza, StanzaError::new(SEC::Forbidden).with_text("you may not invite"));
        return;
    }
    let mut targets = Vec::new();
    for i in &invites {
        let Some(to) = i.attr("to").and_then(Addr::parse) else {
            ctx.error(stanza, SEC::JidMalformed);
            return;
        };
        targets.push(to);
    }
    let mut added = false;
    for (i, to) in invites.iter().zip(&targets) {
        // In a members-only room an admin's invitation makes the invitee a member (§7.8.2),
        // or they could not enter.
        if room.config.members_only
            && aff <= Affiliation::Admin
            && room.affiliation(&to.bare()) == Affiliation::None
            && room.affiliations.len() < ctx.cfg.max_affiliations
        {
            room.affiliations.insert(to.bare(), Affiliation::Member);
            added = true;
        }
        let mut invite = Element::new("invite", NS_MUC_USER).with_attr("from", from_full);
        if let Some(r) = reason(i) {
            invite = invite.with_child(Element::new("reason", NS_MUC_USER).with_text(r));
        }
        let mut ux = Element::new("x", NS_MUC_USER).with_child(invite);
        if room.config.password_protected {
            ux = ux.with_child(
                Element::new("password", NS_MUC_USER).with_text(room.config.password.clone()),
            );
        }
        ctx.out.push(
            Element::new("message", ns::CLIENT)
                .with_attr("from", room.jid.clone())
                .with_attr("to", to.full())
                .with_attr("id", super::new_id())
                .with_child(ux),
        );
    }
    if added {
        ctx.save(room).await;
    }
}
