//! The local session table: bare JID -> bound resources, each with a bounded mailbox.
//!
//! Readers (the router, on every stanza) never wait on writers for long: the table is a sharded
//! concurrent map and entries are small. Presence state lives here because routing to a bare JID
//! needs every resource's priority and availability (RFC 6121 §8.5.2).

mod mailbox;
mod table;

pub use mailbox::{Mail, Mailbox, SendError};
pub use table::{plain_presence, BindOutcome, SessionEntry, SessionId, SessionTable};
