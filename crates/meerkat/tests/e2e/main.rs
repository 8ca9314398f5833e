//! End-to-end tests of the `meerkat` binary (issue 2, "Meerkat core").
//!
//! Each test starts its own node (temp config, fresh loopback ports, temp SQLite data dir),
//! speaks XMPP to it over real sockets with the raw-XML client of `tests/common`, and asserts
//! on the parsed XML structurally. One module per item of the issue:
//!
//! 1. [`stream`]: stream header, features, STARTTLS, direct TLS.
//! 2. [`auth`]: SASL PLAIN/SCRAM, failures and rate limit, bind, conflict, keepalive.
//! 3. [`routing`]: RFC 6120 §10 / RFC 6121 §8 delivery rules.
//! 4. [`roster`]: roster, versioning, subscriptions and presence (RFC 6121).
//! 5. [`offline`]: XEP-0160 offline messages.
//! 6. [`services`]: disco, ping, version, time, last, in-band registration.
//! 7. [`admin_cli`]: the admin commands of the binary.
//! 8. [`bad_input`]: malformed, restricted or oversized input, timeouts, floods.
//! 9. [`config`]: config errors.
//! 10. [`os_limits`]: running out of file descriptors.
//! 11. [`postgres`]: the PostgreSQL backend (issue 5).
//! 12. [`cluster`]: three nodes over NATS and one PostgreSQL database (issue 5).
//! 13. [`cluster_ops`]: join/leave/remove/cluster_status and dead-node cleanup (issue 5).
//!
//! Issue 4 (modern clients): [`stream_management`] (XEP-0198), [`csi`] (XEP-0352), [`interop_sm`]
//! (slixmpp resuming over a cut TCP proxy); one-to-one message path: [`carbons`] (XEP-0280), [`mam`]
//! (XEP-0313/0359/0059/0334), [`passthrough`] (payloads routed untouched), and [`interop_mam`]
//! (slixmpp's carbons and MAM plugins).
//!
//! plus [`interop`]: slixmpp (a client library nobody here wrote) against the node.
//!
//! Issue 4 (misc): [`blocking`], [`vcard`], [`private`], [`adhoc`], [`interop_blocking`].
//! Issue 4 (PEP): [`pep`], [`caps`], [`interop_pep`] (slixmpp avatar published and notified).
//!
//! (@xmpp/client under Node.js over WebSocket), [`bosh`] (XEP-0124/XEP-0206) and
//! (@xmpp/client under Node.js over WebSocket).
//! Issue 6 (browsers): [`websocket`] (XMPP over WebSocket, RFC 7395) and [`interop_websocket`]
//! Issue 6 (browsers): [`websocket`] (XMPP over WebSocket, RFC 7395), [`interop_websocket`]
//! Issue 6 (services): [`upload`] (XEP-0363 HTTP File Upload), [`pubsub_service`] (XEP-0060).
//! [`interop_bosh`] (Strophe.js under Node.js over BOSH), [`bosh_cluster`] (a BOSH session
//! used through every node of a cluster).
//!
//! Issue 6 (MUC): [`muc`] (XEP-0045 core), [`muc_admin`] (owner/admin use cases, limits),
//! [`muc_extras`] (disco, invitations, self-ping, moderation, room archives), [`muc_cluster`]
//! (one live copy per room in a cluster, failover).
//!
//! All in one test binary so the suite links once and runs in parallel.

#[path = "../common/mod.rs"]
mod common;

mod adhoc;
mod admin_cli;
mod auth;
mod bad_input;
mod blocking;
mod bosh;
mod bosh_cluster;
mod caps;
mod carbons;
mod cluster;
mod cluster_ops;
mod config;
mod csi;
mod interop;
mod interop_blocking;
mod interop_bosh;
mod interop_converse;
mod interop_mam;
mod interop_pep;
mod interop_sm;
mod interop_websocket;
mod mam;
mod muc;
mod muc_admin;
mod muc_cluster;
mod muc_extras;
mod offline;
mod os_limits;
mod passthrough;
mod pep;
mod postgres;
mod private;
mod pubsub_service;
mod roster;
mod routing;
mod services;
mod stream;
mod stream_management;
mod upload;
mod vcard;
mod websocket;
