//! Multi-User Chat (XEP-0045) at `conference.<host>`, with stanza ids (XEP-0359), occupant ids
//! (XEP-0421), self-ping (XEP-0410), message moderation (XEP-0425) and room archives
//! (XEP-0313).
//!
//! # Shape
//! One [`MucService`] per served host. Rooms live in memory while they have occupants, each
//! behind its own async mutex: a stanza for a room locks that room only, computes every stanza
//! it causes, unlocks, and then routes them ([`crate::router::route`], which reaches users on
//! any node). So two rooms never wait on each other, and a room's order of events is the order
//! its stanzas took the lock.
//!
//! A stanza for a room not in memory loads it from storage ([`meerkat_storage::MucStore`]);
//! only a join creates a room that storage does not have. A room leaves memory when its last
//! occupant leaves: a temporary room is gone, a persistent one stays in storage with its
//! configuration, subject and affiliations (its history comes back from its archive).
//!
//! # Files
//! - [`room`]: state, affiliations, roles, presence rendering; [`config`]: the configuration
//!   form; [`history`]: discussion history.
//! - [`presence`]: entering, leaving, nick changes, presence updates (§7.1-7.7).
//! - [`message`]: groupchat, private messages, subject, mediated invitations (§7.4-7.9).
//! - [`admin`]: roles and affiliations (§8, §9, §10.3-10.8); [`owner`]: configuration and
//!   destruction (§10.1-10.2, §10.9).
//! - [`disco`]: the service's and rooms' disco (§6); [`moderation`]: XEP-0425; [`mam`]:
//!   XEP-0313 queries to the room.
//!
//! Not implemented: registration with a room (§7.10), voice requests (§8.6), multi-session
//! nicks (a second resource of the same user taking the same nick gets `conflict`),
//! `muc#roomconfig_roomowners`/`roomadmins` form fields.
//!
//! In a cluster, [`cluster`] keeps each room live on one node and forwards its stanzas there.

pub mod admin;
pub mod cluster;
pub mod config;
pub mod disco;
pub mod history;
pub mod mam;
pub mod message;
pub mod moderation;
pub mod owner;
pub mod presence;
pub mod room;

use crate::addr::Addr;
use crate::router;
use crate::server::ServerRef;
use meerkat_config::MucModule;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;
use room::Room;
use std::collections::HashMap;
use std::sync::Arc;

/// XEP-0045 base namespace (the join's `<x/>`).
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// `muc#user`: items and status codes sent to occupants.
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// `muc#admin`: roles and affiliations.
pub const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// `muc#owner`: configuration and destruction.
pub const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0410 feature.
pub const NS_SELF_PING: &str = "http://jabber.org/protocol/muc#self-ping-optimization";

/// One room's place in the service: `room` is `None` until loaded or created, and `removed`
/// tells a task that waited for the lock that the room left the service meanwhile (it then
/// looks the room up again).
#[derive(Default)]
pub struct Slot {
    room: Option<Room>,
    removed: bool,
}

/// The MUC service of one served host.
pub struct MucService {
    /// The service domain, e.g. `conference.localhost`.
    pub domain: String,
    /// The served host whose users are local.
    pub host: String,
    /// Rooms in memory by localpart. A std mutex: held only to find or insert a slot, never
    /// across an await.
    rooms: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    /// In a cluster: the home node of rooms live elsewhere, as last learned (at most
    /// [`MAX_CACHED_HOMES`] entries, emptied when full; about 100 bytes each).
    homes: std::sync::Mutex<HashMap<String, String>>,
}

/// Rooms whose home node a node remembers (see [`MucService`]).
const MAX_CACHED_HOMES: usize = 10_000;

impl std::fmt::Debug for MucService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MucService").field("domain", &self.domain).finish_non_exhaustive()
    }
}

impl MucService {
    /// The service at `domain` for served host `host`.
    pub fn new(domain: String, host: String) -> Self {
        MucService { domain, host, rooms: Default::default(), homes: Default::default() }
    }

    /// The remembered home node of room `name`.
    pub fn cached_home(&self, name: &str) -> Option<String> {
        self.homes.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Remembers that room `name` is live on `node`.
    pub fn remember_home(&self, name: &str, node: &str) {
        let mut homes = self.homes.lock().unwrap_or_else(|p| p.into_inner());
        if homes.len() >= MAX_CACHED_HOMES {
            homes.clear();
        }
        homes.insert(name.to_owned(), node.to_owned());
    }

    /// Forgets the remembered home of room `name`.
    pub fn forget_home(&self, name: &str) {
        self.homes.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    fn slot(&self, name: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.entry(name.to_owned()).or_default().clone()
    }

    fn forget(&self, name: &str, slot: &Arc<tokio::sync::Mutex<Slot>>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if rooms.get(name).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            rooms.remove(name);
        }
    }

    /// True when room `name` is in this node's memory (live or being loaded).
    pub fn is_live(&self, name: &str) -> bool {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).contains_key(name)
    }

    /// Rooms in memory (live or being loaded).
    pub fn live_count(&self) -> usize {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Snapshot of the rooms in memory: `(name, public, locked, persistent, roomname)`, read
    /// without waiting on a busy room (a room whose lock is held is left out).
    pub fn live_rooms(&self) -> Vec<(String, room::Listing)> {
        let slots: Vec<(String, Arc<tokio::sync::Mutex<Slot>>)> = {
            let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        slots
            .into_iter()
            .filter_map(|(name, s)| {
                let g = s.try_lock().ok()?;
                let r = g.room.as_ref()?;
                Some((name, room::Listing::of(r)))
            })
            .collect()
    }
}

/// What a handler works with: the node, the service and its configuration, and the stanzas
/// to route once the room is unlocked.
pub struct Ctx<'a> {
    /// The node.
    pub server: &'a ServerRef,
    /// The service.
    pub svc: &'a MucService,
    /// `[modules.muc]`.
    pub cfg: &'a MucModule,
    /// Stanzas to route, in order.
    pub out: Vec<Element>,
}

impl Ctx<'_> {
    /// Queues the error reply to `stanza`.
    pub fn error(&mut self, stanza: &Element, cond: SEC) {
        self.error_with(stanza, StanzaError::new(cond));
    }

    /// Queues the error reply to `stanza`, with text.
    pub fn error_with(&mut self, stanza: &Element, err: StanzaError) {
        if let Some(r) = meerkat_proto::error::error_reply(stanza, &err) {
            self.out.push(r);
        }
    }

    /// Writes a persistent, configured room to storage. A failure is logged: the room goes on
    /// in memory, and the next change writes it whole again.
    pub async fn save(&self, room: &Room) {
        if !room.config.persistent || room.locked {
            return;
        }
        if let Err(e) =
            self.server.storage.misc.muc.put_room(&room.to_stored(&self.svc.domain)).await
        {
            tracing::error!(what = "muc_room_store_failed", room = %room.jid, error = %e);
        }
    }
}

/// A fresh id for stanzas the room originates.
pub fn new_id() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Handles a stanza to the service domain or a JID under it.
pub async fn route(server: &ServerRef, svc: &MucService, stanza: Element, to: Addr) {
    let cfg = &server.config.modules.muc;
    let mut ctx = Ctx { server, svc, cfg, out: Vec::new() };
    let Some(from) = stanza.attr("from").and_then(Addr::parse) else { return };
    match to.node.clone() {
        None => disco::service_stanza(&mut ctx, &stanza).await,
        Some(name) => {
            if let cluster::Home::Forwarded = cluster::place(server, svc, &name, &stanza).await {
                return;
            }
            room_stanza(&mut ctx, &name, stanza, &from, to.resource.as_deref()).await
        }
    }
    for s in std::mem::take(&mut ctx.out) {
        router::route(server, s).await;
    }
}

/// True for presence that enters a room (available, to an occupant JID).
fn is_join(stanza: &Element, nick: Option<&str>) -> bool {
    stanza.name == "presence" && stanza.attr("type").is_none() && nick.is_some()
}

async fn room_stanza(
    ctx: &mut Ctx<'_>,
    name: &str,
    stanza: Element,
    from: &Addr,
    nick: Option<&str>,
) {
    // A room that left the service while this task waited is looked up again; twice is
    // enough in practice, and a third miss is answered as busy rather than looping.
    for _ in 0..3 {
        let slot = ctx.svc.slot(name);
        let mut guard = slot.lock().await;
        if guard.removed {
            continue;
        }
        if guard.room.is_none() {
            match ctx.server.storage.misc.muc.get_room(&ctx.svc.domain, name).await {
                Ok(Some(stored)) => {
                    let mut r = Room::from_stored(&stored, ctx.cfg);
                    mam::load_history(ctx, &mut r).await;
                    cluster::activated(ctx.server, &r.jid).await;
                    guard.room = Some(r);
                }
                Ok(None) if is_join(&stanza, nick) => {
                    match presence::create(ctx, name, &stanza, from).await {
                        Some(r) => {
                            cluster::activated(ctx.server, &r.jid).await;
                            guard.room = Some(r);
                        }
                        None => {
                            guard.removed = true;
                            ctx.svc.forget(name, &slot);
                            cluster::deactivated(ctx.server, ctx.svc, name).await;
                            return;
                        }
                    }
                }
                Ok(None) => {
                    guard.removed = true;
                    ctx.svc.forget(name, &slot);
                    cluster::deactivated(ctx.server, ctx.svc, name).await;
                    not_found(ctx, &stanza);
                    return;
                }
                Err(e) => {
                    tracing::error!(what = "muc_room_load_failed", room = name, error = %e);
                    guard.removed = true;
                    ctx.svc.forget(name, &slot);
                    cluster::deactivated(ctx.server, ctx.svc, name).await;
                    ctx.error(&stanza, SEC::InternalServerError);
                    return;
                }
            }
        }
        let Some(room) = guard.room.as_mut() else { return };
        let gone = dispatch(ctx, room, stanza, from, nick).await;
        if gone || room.occupants.is_empty() {
            // Temporary rooms end with their last occupant; persistent ones wait in storage.
            guard.room = None;
            guard.removed = true;
            ctx.svc.forget(name, &slot);
            cluster::deactivated(ctx.server, ctx.svc, name).await;
        }
        return;
    }
    ctx.error(&stanza, SEC::ResourceConstraint);
}

fn not_found(ctx: &mut Ctx<'_>, stanza: &Element) {
    // Leaving a room that is not there needs no answer; anything else learns it is absent.
    if stanza.name == "presence" && stanza.attr("type") == Some("unavailable") {
        return;
    }
    ctx.error(stanza, SEC::ItemNotFound);
}

/// Routes one stanza inside a loaded room. Returns true when the room was destroyed.
async fn dispatch(
    ctx: &mut Ctx<'_>,
    room: &mut Room,
    stanza: Element,
    from: &Addr,
    nick: Option<&str>,
) -> bool {
    let from_full = from.full();
    match stanza.name.as_str() {
        "presence" => {
            presence::handle(ctx, room, &stanza, &from_full, from, nick).await;
            false
        }
        "message" => {
            message::handle(ctx, room, stanza, &from_full, nick).await;
            false
        }
        "iq" => match nick {
            Some(n) => {
                iq_to_occupant(ctx, room, stanza, &from_full, n);
                false
            }
            None => iq_to_room(ctx, room, &stanza, &from_full, from).await,
        },
        _ => false,
    }
}

async fn iq_to_room(
    ctx: &mut Ctx<'_>,
    room: &mut Room,
    stanza: &Element,
    from_full: &str,
    from: &Addr,
) -> bool {
    if !crate::modules::iq::is_request(stanza) {
        return false;
    }
    let payload_ns = crate::modules::iq::payload(stanza).map(|p| p.ns.clone()).unwrap_or_default();
    match payload_ns.as_str() {
        meerkat_proto::ns::DISCO_INFO | meerkat_proto::ns::DISCO_ITEMS => {
            disco::room(ctx, room, stanza, &from.bare())
        }
        NS_MUC_ADMIN => admin::handle(ctx, room, stanza, from_full, &from.bare()).await,
        NS_MUC_OWNER => return owner::handle(ctx, room, stanza, &from.bare()).await,
        crate::modules::mam::NS => mam::query(ctx, room, stanza, from_full).await,
        moderation::NS => moderation::handle(ctx, room, stanza, from_full).await,
        meerkat_proto::ns::PING => ctx.out.push(crate::modules::iq::result(stanza, None)),
        _ => ctx.error(stanza, SEC::ServiceUnavailable),
    }
    false
}

/// IQs to an occupant JID (§7.6 and XEP-0410): a ping to one's own occupant JID is answered
/// by the room (self-ping: "you are still joined"); other requests go to the occupant's real
/// JID with the sender's occupant JID as `from`, and answers come back the same way.
fn iq_to_occupant(
    ctx: &mut Ctx<'_>,
    room: &Room,
    mut stanza: Element,
    from_full: &str,
    nick: &str,
) {
    let Some(sender) = room.by_jid(from_full).cloned() else {
        ctx.error(&stanza, SEC::NotAcceptable);
        return;
    };
    let is_ping =
        crate::modules::iq::payload(&stanza).is_some_and(|p| p.is("ping", meerkat_proto::ns::PING));
    if sender.nick == nick && is_ping && stanza.attr("type") == Some("get") {
        ctx.out.push(crate::modules::iq::result(&stanza, None));
        return;
    }
    let Some(target) = room.occupants.get(nick) else {
        ctx.error(&stanza, SEC::ItemNotFound);
        return;
    };
    stanza.set_attr("from", room.occupant_jid(&sender.nick));
    stanza.set_attr("to", target.jid.clone());
    ctx.out.push(stanza);
}
