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
//!
//! plus [`interop`]: slixmpp (a client library nobody here wrote) against the node.
//!
//! All in one test binary so the suite links once and runs in parallel.

#[path = "../common/mod.rs"]
mod common;

mod admin_cli;
mod auth;
mod bad_input;
mod config;
mod interop;
mod offline;
mod os_limits;
mod postgres;
mod roster;
mod routing;
mod services;
mod stream;
