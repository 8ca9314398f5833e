//! Message Archive Management (XEP-0313, `urn:xmpp:mam:2` and `urn:xmpp:mam:2#extended`) for
//! one-to-one chat, with unique and stable stanza ids (XEP-0359), result set management
//! (XEP-0059) and message processing hints (XEP-0334).
//!
//! # What is archived ([`archive::archivable`])
//! Both sides of a one-to-one conversation: the sender's archive when a local user sends
//! (`outgoing`), the recipient's when a local user receives, also when the message goes to
//! offline storage. Only `chat` and `normal` messages (XEP-0313 §7.1.1: never `error`, and
//! `groupchat`/`headline` do not belong in a user archive), and of those the ones a client
//! syncing history needs to rebuild a conversation:
//! - a `<body/>` (the XEP's SHOULD), or an encrypted payload (OMEMO, OpenPGP) that stands for one;
//! - reactions (XEP-0444), retractions (XEP-0424) and corrections (XEP-0308): without them a
//!   client fetching history shows messages that were withdrawn or reacted to differently;
//! - chat markers (XEP-0333 `received`/`displayed`/`acknowledged`) and delivery receipts
//!   (XEP-0184 `<received/>`): they carry the read/delivered state another client of the user
//!   must learn after the fact. Requests alone (`<markable/>`, `<request/>`) ride on a message
//!   that is archived for its body anyway.
//!
//! Chat states alone are not archived (they are stale once read). `<no-store/>` and
//! `<no-permanent-store/>` (XEP-0334) keep any message out; `<store/>` puts in any `chat` or
//! `normal` message. Users' preferences ([`prefs`], XEP-0313 §6) then decide per peer.
//!
//! # Stanza ids
//! Every archived message gets an id that is unique on the node and increases with arrival
//! order ([`archive::IdGen`]: milliseconds times 4096 plus a counter, never below the highest id
//! in storage; with a database shared by several nodes each node keeps to the low-bit residue
//! the store gave it, so nodes never choose the same id), rendered as 16 hex digits so the strings sort like the ids. The recipient's copy
//! is stamped `<stanza-id xmlns='urn:xmpp:sid:0' by='user@domain' id='..'/>`; a stanza-id a
//! client put on its message claiming to be by one of our accounts or domains is removed before
//! routing ([`archive::strip_forged_ids`]), so a stanza-id by us is always ours.
//!
//! # Writing without blocking routing ([`writer`])
//! Routing never waits on SQLite: archived messages go to a bounded queue
//! (`modules.mam.writer_queue`), and one writer task stores them in batches of at most
//! `modules.mam.writer_batch`, one transaction per batch. When the queue is full the routing
//! task waits for room (back-pressure; nothing is dropped). A query first sends a flush marker
//! through the same queue and waits for it, so it sees every message archived before it. On
//! shutdown the writer drains the queue before it ends; a message archived after that is written
//! directly.
//!
//! # Preferences
//! Kept per user in storage and cached in memory (`modules.mam.prefs_cache_entries` users), so
//! routing reads no storage once a user's preferences are known. `roster` mode costs one roster
//! lookup per archived message for users who chose it.
//!
//! # Queries ([`query`])
//! Form fields `with`, `start`, `end`, `before-id`, `after-id`, `ids`; RSM `max`, `after`,
//! `before` (empty: last page) and `<flip-page/>`; page size `default_page_size`, `max` above
//! `max_page_size` is lowered to it. Unknown fields and malformed values: `bad-request`; a
//! cursor id not in the archive: `item-not-found`; more `ids` than a page holds:
//! `policy-violation`. Results are written to the querying session only, followed by the
//! `<fin/>` result.
//!
//! Not implemented: MUC and pubsub archives, archive retention limits, the XEP-0313 metadata
//! query (`urn:xmpp:mam:2#extended` advertises the `before-id`/`after-id`/`ids` fields only),
//! RSM `<index/>`.

pub mod archive;
pub mod prefs;
pub mod query;
pub mod writer;

use super::Me;
use crate::server::ServerRef;
use meerkat_xml::Element;

pub use archive::{from_client, to_local_user};

/// XEP-0313 namespace.
pub const NS: &str = "urn:xmpp:mam:2";
/// Extended query fields (`before-id`, `after-id`, `ids`).
pub const NS_EXTENDED: &str = "urn:xmpp:mam:2#extended";
/// XEP-0359 unique and stable stanza ids.
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0059 result set management.
pub const NS_RSM: &str = "http://jabber.org/protocol/rsm";

/// The module's node-wide state: the writer queue, the id generator and the preferences cache.
pub struct MamState {
    /// Next archive ids.
    pub ids: archive::IdGen,
    /// Queue of the writer task (`None` until started, or when MAM is off).
    pub writer: std::sync::OnceLock<writer::WriterHandle>,
    /// Preferences of recently seen users (`None`: they set none).
    pub prefs: prefs::PrefsCache,
}

impl MamState {
    /// State for a node whose archives hold ids up to `max_id`.
    pub fn new(max_id: i64, prefs_cache_entries: usize) -> Self {
        MamState {
            ids: archive::IdGen::new(max_id),
            writer: std::sync::OnceLock::new(),
            prefs: prefs::PrefsCache::new(prefs_cache_entries),
        }
    }

    /// Keeps this node's archive ids to its share of a store other nodes write to as well.
    pub fn with_id_slot(self, slot: meerkat_storage::IdSlot) -> Self {
        MamState { ids: self.ids.with_slot(slot), ..self }
    }
}

/// Starts the archive writer of a node (when MAM is enabled).
pub fn start(server: &ServerRef) {
    if server.config.modules.mam.enabled {
        let handle = writer::spawn(server);
        let _ = server.mam.writer.set(handle);
    }
}

/// Handles an IQ in the MAM namespace that a user sent to their own account. Returns false
/// when it is not for this module (MAM off).
pub async fn handle_iq(server: &ServerRef, me: &Me, req: &Element) -> bool {
    if !server.config.modules.mam.enabled {
        return false;
    }
    match super::iq::payload(req).map(|p| p.name.as_str()) {
        Some("prefs") => prefs::handle(server, me, req).await,
        _ => query::handle(server, me, req).await,
    }
    true
}
