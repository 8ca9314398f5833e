//! XEP-0153 presence stamping and re-broadcast after a photo change.

use super::NS_UPDATE;
use crate::addr::Addr;
use crate::modules::Me;
use crate::router;
use crate::server::ServerRef;
use meerkat_storage::Subscription;
use meerkat_xml::{Element, Node};
use std::sync::Arc;

fn update_x(hash: Option<&str>) -> Element {
    let photo = Element::new("photo", NS_UPDATE);
    let photo = match hash {
        Some(h) => photo.with_text(h.to_owned()),
        None => photo,
    };
    Element::new("x", NS_UPDATE).with_child(photo)
}

/// Puts the stored avatar hash into an available presence from the user's client (XEP-0153
/// §4.1). A client's own non-empty `<photo/>` is kept; without a stored vCard nothing is
/// added. One storage read per available presence, beside the roster read it already costs.
pub async fn stamp_presence(server: &ServerRef, me: &Me, mut stanza: Element) -> Element {
    if !server.config.modules.vcard.enabled {
        return stanza;
    }
    let client_hash = stanza
        .get_child("x", NS_UPDATE)
        .and_then(|x| x.get_child("photo", NS_UPDATE))
        .map(|p| p.text())
        .filter(|t| !t.trim().is_empty());
    if client_hash.is_some() {
        return stanza;
    }
    let stored = match server.storage.misc.vcard.get_vcard(&me.host, &me.user).await {
        Ok(Some(v)) => v,
        Ok(None) => return stanza,
        Err(e) => {
            tracing::error!(what = "vcard_read_failed", error = %e);
            return stanza;
        }
    };
    stanza.remove_children("x", NS_UPDATE);
    stanza.children.push(Node::Element(update_x(stored.photo_sha1.as_deref())));
    stanza
}

/// After a vCard set changed the photo: each available resource's presence gets the new hash
/// and is sent again to the contacts that see it and to the user's available resources.
pub async fn rebroadcast(server: &ServerRef, me: &Me, hash: Option<&str>) {
    let sessions = server.sessions.resources(&me.bare);
    if sessions.iter().all(|e| e.presence.is_none()) {
        return;
    }
    let roster = server.storage.roster.get_items(&me.host, &me.user).await.unwrap_or_default();
    for e in &sessions {
        let Some(current) = &e.presence else { continue };
        let mut p = (**current).clone();
        p.remove_children("x", NS_UPDATE);
        p.children.push(Node::Element(update_x(hash)));
        let kept = Arc::new(p);
        server.sessions.set_presence(&me.bare, e.sid, Some(kept.clone()), e.priority);
        let mut stamped = (*kept).clone();
        stamped.set_attr("from", format!("{}/{}", me.bare, e.resource));
        for item in &roster {
            let local = Addr::parse(&item.jid).is_some_and(|a| server.serves(&a.domain));
            if local && matches!(item.subscription, Subscription::From | Subscription::Both) {
                let mut c = stamped.clone();
                c.set_attr("to", item.jid.clone());
                router::route(server, c).await;
            }
        }
        for own in sessions.iter().filter(|o| o.presence.is_some()) {
            let mut c = stamped.clone();
            c.set_attr("to", format!("{}/{}", me.bare, own.resource));
            let _ = server.deliver(own, c);
        }
        // The user's resources on other nodes see it too (RFC 6121 §4.2.2).
        let mut c = stamped.clone();
        c.set_attr("to", me.bare.clone());
        crate::cluster::to_own_resources(server, &me.bare, c);
    }
}
