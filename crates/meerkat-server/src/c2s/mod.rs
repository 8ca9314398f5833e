//! Client-to-server connections (RFC 6120): listeners, negotiation, bound sessions.
//!
//! A connection is one task: [`listener`] accepts it, [`negotiate`] runs the stream up to the
//! bind request, [`session`] serves it afterwards. [`conn`] and [`transport`] carry the bytes;
//! [`features`] builds the stream features.

pub mod conn;
pub mod features;
pub mod listener;
pub mod negotiate;
pub mod session;
pub mod transport;
