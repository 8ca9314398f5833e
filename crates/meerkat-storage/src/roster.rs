//! Rosters (RFC 6121 §2) with subscription states (RFC 6121 §3) and versioning (XEP-0237).

use crate::Result;

/// The `subscription` attribute of a roster item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subscription {
    /// Neither side subscribed.
    #[default]
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    /// Both.
    Both,
}

/// Pending outbound request (`ask='subscribe'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ask {
    /// Nothing pending.
    #[default]
    None,
    /// The user asked to subscribe and the contact has not answered yet.
    Subscribe,
}

/// One roster item with everything RFC 6121 needs kept across logins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RosterItem {
    /// Contact's bare JID, normalised.
    pub jid: String,
    /// Handle chosen by the user.
    pub name: Option<String>,
    /// Subscription state.
    pub subscription: Subscription,
    /// Pending outbound subscription request.
    pub ask: Ask,
    /// Pending inbound subscription request (the contact asked, the user has not answered):
    /// kept so it can be re-delivered at each login (RFC 6121 §3.1.3).
    pub pending_in: bool,
    /// The inbound `<presence type='subscribe'/>` as received (XML), re-delivered at login.
    pub pending_in_stanza: Option<String>,
    /// Subscription pre-approved by the user (RFC 6121 §3.4).
    pub pre_approved: bool,
    /// Groups, sorted and unique.
    pub groups: Vec<String>,
    /// False for an entry that exists only to hold a pending inbound request; such items are not
    /// shown in roster results (RFC 6121 §3.1.3 says the contact is not added to the roster
    /// before the user approves).
    pub in_roster: bool,
}

/// Rosters of local users. `user` is `(host, username)`; every write bumps the roster version.
#[async_trait::async_trait]
pub trait RosterStore: Send + Sync {
    /// All items of a user (including `in_roster == false` ones), sorted by jid.
    async fn get_items(&self, host: &str, username: &str) -> Result<Vec<RosterItem>>;
    /// One item.
    async fn get_item(&self, host: &str, username: &str, jid: &str) -> Result<Option<RosterItem>>;
    /// Creates or replaces an item; returns the new roster version.
    async fn put_item(&self, host: &str, username: &str, item: &RosterItem) -> Result<String>;
    /// Removes an item; returns the new roster version (unchanged version when absent).
    async fn remove_item(&self, host: &str, username: &str, jid: &str) -> Result<String>;
    /// Current roster version ("0" for a user that never had a roster write).
    async fn version(&self, host: &str, username: &str) -> Result<String>;
    /// Number of items of a user (for the roster size limit).
    async fn count_items(&self, host: &str, username: &str) -> Result<u64>;
}
