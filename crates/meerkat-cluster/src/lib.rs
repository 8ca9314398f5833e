//! Meerkat clustering transport: nodes exchange stanzas and account state over core NATS
//! (design: `docs/cluster.md`). No node connects to another; each keeps two NATS connections
//! (account subscriptions on their own, see `nats_subs`).
//!
//! Crate map:
//! - [`subjects`]: keyed-hash subject names (`mk.<cluster>.u.<h>` per online account,
//!   `mk.<cluster>.hb` heartbeats, `mk.<cluster>.b.<h>` one node's BOSH requests, reserved
//!   control subjects) and node tags.
//! - [`envelope`]: versioned, length-prefixed, HMAC-SHA-256-tagged node-to-node messages
//!   (Stanza, Ack, Hello, State, Kick, Heartbeat, Leave, Resume, BOSH requests) and their
//!   hostile-input-safe decoder.
//! - [`member`]: the member table (running/stopped by heartbeats) and its events.
//! - [`settings`]: [`Settings`] and the [`Secret`].
//! - `nats_subs`: account subscriptions over a second, hand-written NATS connection (no
//!   per-subscription channel; `tls://` URLs fall back to async-nats subscribers).
//! - `cluster`: the [`Cluster`] handle over `async-nats`: reconnecting connection,
//!   reference-counted account subscriptions, request/ack [`Cluster::send_stanza`] resolving
//!   to a [`Delivery`], the [`Inbound`] queue, heartbeats and [`Cluster::members`].
//!
//! The server side (subscribing at bind, routing through `send_stanza`, the multi-node
//! resource view from Hello/State, conflict kicks, PostgreSQL membership rows, dead-node
//! cleanup and the operator commands) lives in `meerkat-server`'s `cluster` module and the
//! `meerkat` CLI; this crate is only the transport.

#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod cluster;
pub mod envelope;
pub mod member;
mod nats_subs;
pub mod settings;
mod siphash;
pub mod subjects;

pub use cluster::{
    reconnect_backoff, BoshOutcome, BoshReply, Cluster, ClusterError, Delivery, Inbound, Reply,
    ResumeReply, Stats, BOSH_MARGIN, MAX_BOSH_FORWARDED, RESUME_WAIT,
};
pub use envelope::{AccountState, Availability, BoshStatus, Envelope, Keys, Limits, ResourceState};
pub use member::{Member, MemberEvent, MemberState};
pub use settings::{Secret, Settings};
pub use siphash::siphash24;
