//! Rooms in a cluster (design in `docs/muc.md`): a room is live on exactly one node, its
//! home, named by a claim row in PostgreSQL ([`meerkat_storage::MucStore::claim_room`]). The
//! home subscribes to the room's NATS subject (the account subject of the room's bare JID);
//! other nodes publish the room's stanzas there. When the room leaves the home's memory the
//! claim is released; when the home dies, its claims count as free (its member row is marked
//! left by the dead-node cleanup), so the next stanza for the room claims it elsewhere and the
//! room comes back from storage.
//!
//! A standalone node (`[cluster] enabled = false`) pays nothing: every function returns at once.

use super::MucService;
use crate::server::ServerRef;
use bytes::Bytes;
use meerkat_cluster::Delivery;
use meerkat_proto::error::StanzaErrorCondition as SEC;
use meerkat_proto::ns;
use meerkat_xml::Element;

/// Where a room's stanzas are handled.
pub enum Home {
    /// On this node (standalone, or this node holds the claim).
    Here,
    /// Sent to the home node; nothing left to do here.
    Forwarded,
}

/// Decides where `stanza` for room `name` is handled, forwarding it when another node holds
/// the room. A room already live here is handled here without asking storage.
pub async fn place(server: &ServerRef, svc: &MucService, name: &str, stanza: &Element) -> Home {
    let Some(cluster) = server.cluster() else { return Home::Here };
    if svc.is_live(name) {
        return Home::Here;
    }
    let me = cluster.node_name().to_owned();
    let room = format!("{name}@{}", svc.domain);
    let mut xml = Vec::with_capacity(512);
    stanza.write_to(&mut xml, ns::CLIENT);
    let xml = Bytes::from(xml);
    // The home learned before: no storage round trip per message. A stale entry shows as
    // "no responders" and falls through to a fresh claim.
    if svc.cached_home(name).is_some() {
        if let Ok(Delivery::Delivered { .. }) = cluster.send_stanza(&room, xml.clone()).await {
            return Home::Forwarded;
        }
        svc.forget_home(name);
    }
    // Twice: a home that released the room (or died) between our claim and our publish shows
    // as "no responders"; the second claim then settles it.
    for _ in 0..2 {
        let holder = match server.storage.misc.muc.claim_room(&svc.domain, name, &me).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(what = "muc_claim_failed", room = %room, error = %e);
                crate::router::bounce(
                    server,
                    stanza,
                    meerkat_proto::error::StanzaError::new(SEC::InternalServerError),
                )
                .await;
                return Home::Forwarded;
            }
        };
        if holder == me {
            return Home::Here;
        }
        match cluster.send_stanza(&room, xml.clone()).await {
            Ok(Delivery::Delivered { .. }) => {
                svc.remember_home(name, &holder);
                return Home::Forwarded;
            }
            Ok(Delivery::NoResponders) => {
                tracing::debug!(what = "muc_home_gone", room = %room, home = %holder);
                continue;
            }
            Ok(Delivery::TimedOut | Delivery::Refused { .. }) | Err(_) => break,
        }
    }
    let error = meerkat_proto::error::StanzaError::new(SEC::ServiceUnavailable)
        .with_text("the room's node does not answer; try again");
    crate::router::bounce(server, stanza, error).await;
    Home::Forwarded
}

/// The room became live here: other nodes may now publish to it.
pub async fn activated(server: &ServerRef, room_jid: &str) {
    let Some(cluster) = server.cluster() else { return };
    if let Err(e) = cluster.subscribe_account(room_jid).await {
        tracing::warn!(what = "muc_subscribe_failed", room = %room_jid, error = %e);
    }
}

/// The room left this node's memory: stop taking its stanzas and free the claim.
pub async fn deactivated(server: &ServerRef, svc: &MucService, name: &str) {
    let Some(cluster) = server.cluster() else { return };
    let room = format!("{name}@{}", svc.domain);
    cluster.unsubscribe_account(&room);
    let me = cluster.node_name().to_owned();
    if let Err(e) = server.storage.misc.muc.release_room(&svc.domain, name, &me).await {
        tracing::warn!(what = "muc_release_failed", room = %room, error = %e);
    }
}
