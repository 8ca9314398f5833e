//! Service discovery (XEP-0045 §6, XEP-0030): the service's identity and its public rooms,
//! and each room's identity, features (§15.2, per configuration) and `muc#roominfo` form.

use super::room::{Affiliation, Room, NS_OCCUPANT_ID};
use super::{Ctx, NS_MUC, NS_SELF_PING};
use crate::modules::{iq, mam};
use meerkat_proto::error::StanzaErrorCondition as SEC;
use meerkat_proto::ns;
use meerkat_xml::Element;

/// Rooms listed in one disco#items answer of the service (no RSM paging yet).
const MAX_LISTED_ROOMS: usize = 500;

/// XEP-0425 and XEP-0424 features a room advertises.
const NS_MODERATE: &str = super::moderation::NS;
const NS_RETRACT: &str = super::moderation::NS_RETRACT;

/// Stanzas to the service domain itself: disco and ping; other requests are not served.
pub async fn service_stanza(ctx: &mut Ctx<'_>, stanza: &Element) {
    if stanza.name != "iq" || !iq::is_request(stanza) {
        return;
    }
    let payload = iq::payload(stanza);
    let get = stanza.attr("type") == Some("get");
    match payload.map(|p| p.ns.as_str()) {
        Some(ns::DISCO_INFO) if get && payload.and_then(|p| p.attr("node")).is_none() => {
            let mut q = Element::new("query", ns::DISCO_INFO).with_child(
                Element::new("identity", ns::DISCO_INFO)
                    .with_attr("category", "conference")
                    .with_attr("type", "text")
                    .with_attr("name", "Chatrooms"),
            );
            for f in [ns::DISCO_INFO, ns::DISCO_ITEMS, NS_MUC, NS_OCCUPANT_ID, ns::PING] {
                q = q.with_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
            }
            ctx.out.push(iq::result(stanza, Some(q)));
        }
        Some(ns::DISCO_ITEMS) if get && payload.and_then(|p| p.attr("node")).is_none() => {
            let items = public_rooms(ctx).await;
            let mut q = Element::new("query", ns::DISCO_ITEMS);
            for (jid, name) in items {
                let mut item = Element::new("item", ns::DISCO_ITEMS).with_attr("jid", jid);
                if !name.is_empty() {
                    item.set_attr("name", name);
                }
                q = q.with_child(item);
            }
            ctx.out.push(iq::result(stanza, Some(q)));
        }
        Some(ns::DISCO_INFO | ns::DISCO_ITEMS) if get => ctx.error(stanza, SEC::ItemNotFound),
        Some(ns::PING) if get => ctx.out.push(iq::result(stanza, None)),
        _ => ctx.error(stanza, SEC::ServiceUnavailable),
    }
}

/// Public rooms: the configured rooms in memory and the stored ones, sorted by JID.
async fn public_rooms(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let mut rooms: std::collections::BTreeMap<String, (bool, String)> = Default::default();
    match ctx.server.storage.misc.muc.list_rooms(&ctx.svc.domain, MAX_LISTED_ROOMS).await {
        Ok(stored) => {
            for r in stored {
                let c = super::config::RoomConfig::from_pairs(ctx.cfg, &r.config);
                rooms.insert(r.name.clone(), (c.public, c.name));
            }
        }
        Err(e) => tracing::error!(what = "muc_room_list_failed", error = %e),
    }
    for (name, l) in ctx.svc.live_rooms() {
        rooms.insert(name, (l.public && !l.locked, l.title));
    }
    rooms
        .into_iter()
        .filter(|(_, (public, _))| *public)
        .take(MAX_LISTED_ROOMS)
        .map(|(name, (_, title))| (format!("{name}@{}", ctx.svc.domain), title))
        .collect()
}

/// disco#info and disco#items of a room. A locked room is not there yet for anyone but its
/// owner (§10.1.3).
pub fn room(ctx: &mut Ctx<'_>, room: &Room, req: &Element, from_bare: &str) {
    let Some(q) = iq::payload(req) else { return };
    if req.attr("type") != Some("get") {
        ctx.error(req, SEC::BadRequest);
        return;
    }
    if q.attr("node").is_some()
        || (room.locked && room.affiliation(from_bare) != Affiliation::Owner)
    {
        ctx.error(req, SEC::ItemNotFound);
        return;
    }
    if q.ns == ns::DISCO_ITEMS {
        // Occupants are not listed: in a semi-anonymous room that would tell outsiders who
        // is inside (§6.5 allows an empty answer).
        ctx.out.push(iq::result(req, Some(Element::new("query", ns::DISCO_ITEMS))));
        return;
    }
    let title =
        if room.config.name.is_empty() { room.name.clone() } else { room.config.name.clone() };
    let mut out = Element::new("query", ns::DISCO_INFO).with_child(
        Element::new("identity", ns::DISCO_INFO)
            .with_attr("category", "conference")
            .with_attr("type", "text")
            .with_attr("name", title),
    );
    let mut features = vec![
        ns::DISCO_INFO,
        ns::DISCO_ITEMS,
        NS_MUC,
        NS_OCCUPANT_ID,
        NS_SELF_PING,
        mam::NS_SID,
        NS_MODERATE,
        NS_RETRACT,
    ];
    if room.config.mam {
        features.push(mam::NS);
    }
    features.extend(room.config.features());
    for f in features {
        out = out.with_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
    }
    out = out.with_child(room.config.info_form(room.occupants.len(), &room.subject));
    ctx.out.push(iq::result(req, Some(out)));
}
