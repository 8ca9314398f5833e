//! Roster subscription states (RFC 6121 §3 and Appendix A).
//!
//! Presence subscriptions are directional: the *user* (a local account) may be subscribed to
//! the *contact*'s presence (`to`), the contact to the user's (`from`), both or neither, and
//! each direction may have a request waiting for an answer. RFC 6121 Appendix A names the nine
//! reachable combinations ("None", "None + Pending Out", ..., "Both") and gives, for each of
//! the four subscription stanzas (`subscribe`, `subscribed`, `unsubscribe`, `unsubscribed`),
//! what the user's server does when the user sends one ([`outbound`], Appendix A.2) and when
//! one arrives from the contact ([`inbound`], Appendix A.3). Pre-approval (§3.4) adds one more
//! flag.
//!
//! These are pure functions over a 4-byte [`State`]: no storage, no routing. The caller loads
//! the state of the (user, contact) pair, calls [`outbound`] or [`inbound`], stores the new
//! state, and then does what the result says: forward or deliver the stanza, push the roster
//! item to the user's interested resources, answer on the user's behalf, send presence.
//!
//! # What must be kept across logins
//! Everything in [`State`] is persistent, not session state:
//! - `sub` is the roster item's `subscription` attribute;
//! - `pending_out` is the item's `ask='subscribe'`: the contact has not answered yet, and its
//!   answer may arrive days later, while the user is offline;
//! - `pending_in` is an inbound request the user has not answered. RFC 6121 §3.1.3 requires the
//!   server to keep it (ideally with the original `subscribe` stanza, for its `<status/>`) and
//!   to deliver it again each time the user comes online (sends initial presence) until the
//!   user approves or denies it. It exists even when the contact is not in the roster, and it
//!   is not shown in roster items;
//! - `pre_approved` is the item's `approved='true'` (§3.4).
//!
//! A state that [`State::is_empty`] and has no roster item need not be stored at all.

use std::fmt;

/// The `subscription` attribute of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sub {
    /// Neither side receives the other's presence.
    #[default]
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    /// Both directions.
    Both,
}

impl Sub {
    /// The attribute value: `none`, `to`, `from` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sub::None => "none",
            Sub::To => "to",
            Sub::From => "from",
            Sub::Both => "both",
        }
    }

    /// Parses the attribute value (`remove` is an action, not a state, so it gives `None`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Sub::None),
            "to" => Some(Sub::To),
            "from" => Some(Sub::From),
            "both" => Some(Sub::Both),
            _ => None,
        }
    }

    /// True when the user receives the contact's presence (`to` or `both`).
    pub fn has_to(self) -> bool {
        matches!(self, Sub::To | Sub::Both)
    }

    /// True when the contact receives the user's presence (`from` or `both`).
    pub fn has_from(self) -> bool {
        matches!(self, Sub::From | Sub::Both)
    }

    /// The state with the `to` direction set or cleared, `from` unchanged.
    fn with_to(self, to: bool) -> Self {
        Sub::from_directions(to, self.has_from())
    }

    /// The state with the `from` direction set or cleared, `to` unchanged.
    fn with_from(self, from: bool) -> Self {
        Sub::from_directions(self.has_to(), from)
    }

    fn from_directions(to: bool, from: bool) -> Self {
        match (to, from) {
            (false, false) => Sub::None,
            (true, false) => Sub::To,
            (false, true) => Sub::From,
            (true, true) => Sub::Both,
        }
    }
}

/// The subscription state of one (user, contact) pair, from the user's side.
///
/// All fields are persistent; see the module doc. Valid states have `pending_out` only
/// without `to`, `pending_in` only without `from`, and `pre_approved` only without `from` and
/// without `pending_in`; [`outbound`] and [`inbound`] keep to these when given a valid state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct State {
    /// The established subscription.
    pub sub: Sub,
    /// The user asked to subscribe to the contact and has no answer yet (`ask='subscribe'`).
    pub pending_out: bool,
    /// The contact asked to subscribe to the user and the user has not answered yet.
    pub pending_in: bool,
    /// The user approved a future request from the contact in advance (§3.4,
    /// `approved='true'`).
    pub pre_approved: bool,
}

impl State {
    /// No subscription, nothing pending, no pre-approval: the state of a contact the server has
    /// never heard of.
    pub const NONE: State =
        State { sub: Sub::None, pending_out: false, pending_in: false, pre_approved: false };

    /// True when nothing is subscribed, pending or pre-approved.
    pub fn is_empty(self) -> bool {
        self == State::NONE
    }

    /// What a roster item shows of this state (`subscription`, `ask`, `approved`); a change
    /// here is what calls for a roster push. `pending_in` is not part of roster items.
    fn visible(self) -> (Sub, bool, bool) {
        (self.sub, self.pending_out, self.pre_approved)
    }
}

impl fmt::Display for State {
    /// The RFC 6121 Appendix A name, e.g. `None + Pending Out+In`, then ` (pre-approved)` if
    /// set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sub = match self.sub {
            Sub::None => "None",
            Sub::To => "To",
            Sub::From => "From",
            Sub::Both => "Both",
        };
        f.write_str(sub)?;
        match (self.pending_out, self.pending_in) {
            (true, true) => f.write_str(" + Pending Out+In")?,
            (true, false) => f.write_str(" + Pending Out")?,
            (false, true) => f.write_str(" + Pending In")?,
            (false, false) => {}
        }
        if self.pre_approved {
            f.write_str(" (pre-approved)")?;
        }
        Ok(())
    }
}

/// The `type` of a presence subscription stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Ask to receive the other side's presence.
    Subscribe,
    /// Approve the other side's request (or pre-approve one, §3.4).
    Subscribed,
    /// Stop receiving the other side's presence, or cancel an unanswered request.
    Unsubscribe,
    /// Deny the other side's request, or revoke its subscription (or a pre-approval).
    Unsubscribed,
}

impl Kind {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Subscribe => "subscribe",
            Kind::Subscribed => "subscribed",
            Kind::Unsubscribe => "unsubscribe",
            Kind::Unsubscribed => "unsubscribed",
        }
    }

    /// Parses a presence `type`; `None` for the other presence types.
    pub fn from_type(presence_type: &str) -> Option<Self> {
        match presence_type {
            "subscribe" => Some(Kind::Subscribe),
            "subscribed" => Some(Kind::Subscribed),
            "unsubscribe" => Some(Kind::Unsubscribe),
            "unsubscribed" => Some(Kind::Unsubscribed),
            _ => None,
        }
    }
}

/// Presence the user's server sends to the contact after a state change, from all of the
/// user's available resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceToContact {
    /// The contact just gained `from`: send the user's current presence (§3.1.5).
    Available,
    /// The contact just lost `from`: send `unavailable` (§3.2.2).
    Unavailable,
}

/// What to do with a subscription stanza the user sent ([`outbound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outbound {
    /// The state to store.
    pub state: State,
    /// Route the stanza to the contact (stamped with the user's bare JID, §3.1.2).
    pub forward: bool,
    /// Send a roster push of the item to the user's interested resources.
    pub push: bool,
    /// Presence to send to the contact afterwards, if any.
    pub presence_to_contact: Option<PresenceToContact>,
}

/// What to do with a subscription stanza the contact sent to the user ([`inbound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inbound {
    /// The state to store.
    pub state: State,
    /// Deliver the stanza to the user's available resources. For a `subscribe` with no
    /// resource available, the stored `pending_in` stands for it and it is delivered at the
    /// user's next login (§3.1.3).
    pub deliver: bool,
    /// Send a roster push of the item to the user's interested resources.
    pub push: bool,
    /// Answer the contact with this stanza on the user's behalf, from the user's bare JID:
    /// `subscribed` to a `subscribe` when the contact already has `from` (§3.1.3) or was
    /// pre-approved (§3.4).
    pub auto_reply: Option<Kind>,
    /// Presence to send to the contact afterwards, if any: current presence after a
    /// pre-approved request, `unavailable` after the contact unsubscribed.
    pub presence_to_contact: Option<PresenceToContact>,
}

/// The user sends `kind` to the contact (RFC 6121 Appendix A.2).
///
/// `subscribe` and `unsubscribe` are always forwarded, so that the two servers converge even
/// when their views differ; `subscribed` and `unsubscribed` are forwarded only when they change
/// the state. A `subscribed` with no pending request (and no `from` yet) is a pre-approval
/// (§3.4): stored, pushed, not forwarded; an `unsubscribed` then cancels it.
pub fn outbound(state: State, kind: Kind) -> Outbound {
    let mut next = state;
    let mut presence_to_contact = None;
    let forward = match kind {
        Kind::Subscribe => {
            // Already subscribed: nothing to wait for, but forward it anyway (A.2.1).
            next.pending_out = !state.sub.has_to();
            true
        }
        Kind::Unsubscribe => {
            next.sub = state.sub.with_to(false);
            next.pending_out = false;
            true
        }
        Kind::Subscribed if state.pending_in => {
            next.sub = state.sub.with_from(true);
            next.pending_in = false;
            next.pre_approved = false;
            presence_to_contact = Some(PresenceToContact::Available);
            true
        }
        // The contact is already subscribed: nothing to approve (A.2.3).
        Kind::Subscribed if state.sub.has_from() => false,
        Kind::Subscribed => {
            next.pre_approved = true;
            false
        }
        Kind::Unsubscribed if state.pending_in || state.sub.has_from() => {
            if state.sub.has_from() {
                presence_to_contact = Some(PresenceToContact::Unavailable);
            }
            next.sub = state.sub.with_from(false);
            next.pending_in = false;
            next.pre_approved = false;
            true
        }
        Kind::Unsubscribed => {
            // Nothing to deny or revoke; only a pre-approval can be withdrawn (§3.4).
            next.pre_approved = false;
            false
        }
    };
    Outbound { state: next, forward, push: next.visible() != state.visible(), presence_to_contact }
}

/// The contact's `kind` arrives for the user (RFC 6121 Appendix A.3).
///
/// Stanzas that change nothing are neither delivered nor answered, except a `subscribe` from
/// a contact that already has `from`, which the server answers with `subscribed` itself
/// (its server evidently lost the state).
pub fn inbound(state: State, kind: Kind) -> Inbound {
    let mut next = state;
    let mut auto_reply = None;
    let mut presence_to_contact = None;
    let deliver = match kind {
        Kind::Subscribe if state.sub.has_from() => {
            auto_reply = Some(Kind::Subscribed);
            false
        }
        // A duplicate of a request the user has not answered yet (A.3.1).
        Kind::Subscribe if state.pending_in => false,
        Kind::Subscribe if state.pre_approved => {
            next.sub = state.sub.with_from(true);
            next.pre_approved = false;
            auto_reply = Some(Kind::Subscribed);
            presence_to_contact = Some(PresenceToContact::Available);
            false
        }
        Kind::Subscribe => {
            next.pending_in = true;
            true
        }
        Kind::Unsubscribe if state.pending_in || state.sub.has_from() => {
            // The contact stops receiving the user's presence: end it with `unavailable`
            // (§3.3.3), so it does not see the user online forever.
            if state.sub.has_from() {
                presence_to_contact = Some(PresenceToContact::Unavailable);
            }
            next.sub = state.sub.with_from(false);
            next.pending_in = false;
            true
        }
        Kind::Subscribed if state.pending_out => {
            next.sub = state.sub.with_to(true);
            next.pending_out = false;
            true
        }
        Kind::Unsubscribed if state.pending_out || state.sub.has_to() => {
            next.sub = state.sub.with_to(false);
            next.pending_out = false;
            true
        }
        // Answers to nothing: ignored (A.3.2-A.3.4).
        Kind::Unsubscribe | Kind::Subscribed | Kind::Unsubscribed => false,
    };
    Inbound {
        state: next,
        deliver,
        push: next.visible() != state.visible(),
        auto_reply,
        presence_to_contact,
    }
}

/// What the user's server sends to the contact when the user removes the contact from the
/// roster (RFC 6121 §2.5.2): after removal the stored state is [`State::NONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Removal {
    /// Send `unsubscribe`: the user had `to` or a pending request to the contact.
    pub unsubscribe: bool,
    /// Send `unsubscribed`: the contact had `from` or a pending request to the user.
    pub unsubscribed: bool,
}

/// The stanzas to send when the user removes the contact's roster item, so that the contact's
/// server clears its side too (pending requests included).
pub fn removal(state: State) -> Removal {
    Removal {
        unsubscribe: state.sub.has_to() || state.pending_out,
        unsubscribed: state.sub.has_from() || state.pending_in,
    }
}

#[cfg(test)]
mod tests;
