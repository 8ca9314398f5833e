//! Client-to-server connections (RFC 6120): listeners, negotiation, bound sessions.
//!
//! A connection is one task: [`listener`] accepts it, [`negotiate`] runs the stream up to the
//! bind request, [`session`] serves it afterwards. [`conn`] and [`transport`] carry the bytes;
//! the stream features and every negotiation decision are in `meerkat_stream`. [`websocket`]
//! is the RFC 7395 framing that lets the same negotiation and session run over a WebSocket
//! (accepted by [`crate::http`]), and [`bosh`] the BOSH transport (XEP-0206) that does the same
//! over HTTP requests.

pub mod bosh;
pub mod conn;
pub mod listener;
pub mod negotiate;
pub mod session;
pub mod transport;
pub mod websocket;
