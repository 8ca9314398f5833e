//! Message archives (XEP-0313) and archiving preferences.
//!
//! An archive belongs to one user `(host, username)` and holds the one-to-one messages that user
//! sent or received. Every archived message has an id that is unique across the node and grows
//! with arrival order; the server chooses it (it is also the XEP-0359 stanza-id) so a message
//! can be stamped before it is written.

use crate::Result;

/// One archived message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// Archive id, chosen by the server: unique, and increasing in arrival order.
    pub id: i64,
    /// Owner host.
    pub host: String,
    /// Owner localpart.
    pub username: String,
    /// The other party's bare JID.
    pub with_bare: String,
    /// The other party's resource (empty when the peer address had none).
    pub with_resource: String,
    /// True when the owner sent the message, false when the owner received it.
    pub outgoing: bool,
    /// Archiving time, milliseconds since the Unix epoch.
    pub stamp_ms: i64,
    /// The stanza as XML.
    pub stanza: String,
}

/// Where a page starts (XEP-0059 result set management). The cursor does not change the set
/// of matching messages, only which part of it a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cursor {
    /// The oldest `max` matches.
    #[default]
    First,
    /// The oldest `max` matches with an id above this one (RSM `<after/>`).
    After(i64),
    /// The newest `max` matches (RSM empty `<before/>`).
    Last,
    /// The newest `max` matches with an id below this one (RSM `<before>id</before>`).
    Before(i64),
}

/// What to select from an archive. Every bound is optional; all given bounds apply together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveQuery {
    /// Only messages with this bare JID.
    pub with_bare: Option<String>,
    /// Only messages with this resource of `with_bare` (a full-JID `with` filter).
    pub with_resource: Option<String>,
    /// Only messages archived at or after this time (ms).
    pub start_ms: Option<i64>,
    /// Only messages archived at or before this time (ms).
    pub end_ms: Option<i64>,
    /// Only messages with an id above this one.
    pub after_id: Option<i64>,
    /// Only messages with an id below this one.
    pub before_id: Option<i64>,
    /// Only messages with one of these ids.
    pub ids: Option<Vec<i64>>,
    /// Which part of the matching set the page shows.
    pub cursor: Cursor,
    /// Most messages returned (0 returns only the count).
    pub max: usize,
}

/// One page of results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivePage {
    /// The messages, oldest first (whatever the cursor).
    pub messages: Vec<ArchivedMessage>,
    /// True when the page reaches the end of the matching set in the paging direction: the
    /// newest match for [`Cursor::First`]/[`Cursor::After`], the oldest for
    /// [`Cursor::Last`]/[`Cursor::Before`].
    pub complete: bool,
    /// How many messages match the query's filters (`cursor` and `max` do not count).
    pub count: u64,
}

/// Default archiving mode of a user (XEP-0313 §6 `default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultMode {
    /// Archive every message.
    Always,
    /// Archive no message unless its peer is in the `always` list.
    Never,
    /// Archive messages whose peer is in the user's roster.
    Roster,
}

impl DefaultMode {
    /// The XEP-0313 attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultMode::Always => "always",
            DefaultMode::Never => "never",
            DefaultMode::Roster => "roster",
        }
    }

    /// Parses the XEP-0313 attribute value.
    pub fn parse(s: &str) -> Option<DefaultMode> {
        match s {
            "always" => Some(DefaultMode::Always),
            "never" => Some(DefaultMode::Never),
            "roster" => Some(DefaultMode::Roster),
            _ => None,
        }
    }
}

/// A user's archiving preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePrefs {
    /// Mode for peers in neither list.
    pub default: DefaultMode,
    /// Bare JIDs whose messages are always archived, sorted and unique.
    pub always: Vec<String>,
    /// Bare JIDs whose messages are never archived, sorted and unique.
    pub never: Vec<String>,
}

/// The share of the id space a node draws its archive ids from, so nodes writing to one shared
/// store never choose the same id: the low `bits` bits of every id of this node equal `slot`.
/// The default (`bits` 0) is every id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdSlot {
    /// This node's residue, below `2^bits`.
    pub slot: u16,
    /// How many low bits of an id name the node (at most 12).
    pub bits: u8,
}

/// Message archives of local users.
#[async_trait::async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Writes messages, all or none (one transaction). An id already present is an error.
    async fn append(&self, messages: &[ArchivedMessage]) -> Result<()>;
    /// One page of a user's archive.
    async fn query(&self, host: &str, username: &str, query: &ArchiveQuery) -> Result<ArchivePage>;
    /// True when the user's archive holds a message with this id.
    async fn contains(&self, host: &str, username: &str, id: i64) -> Result<bool>;
    /// The highest id in any archive (0 when all are empty), so ids stay increasing after a
    /// restart.
    async fn max_id(&self) -> Result<i64>;
    /// Which ids this node may choose when other nodes write to the same archives: only ids
    /// `id` with `id % 2^bits == slot` (see [`IdSlot`]). Called once at start-up; a store only
    /// one node writes to keeps the default, every id.
    async fn claim_id_slot(&self) -> Result<IdSlot> {
        Ok(IdSlot::default())
    }
    /// The user's stored preferences (`None`: never set).
    async fn get_prefs(&self, host: &str, username: &str) -> Result<Option<ArchivePrefs>>;
    /// Replaces the user's preferences.
    async fn set_prefs(&self, host: &str, username: &str, prefs: &ArchivePrefs) -> Result<()>;
}
