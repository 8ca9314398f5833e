//! Server side of SASL (RFC 4422) for XMPP (RFC 6120 §6).
//!
//! Sans-I/O: the caller feeds decoded client data and answers credential look-ups; the
//! mechanism never touches storage or sockets.
//!
//! ```text
//! let mut m = ServerMechanism::new(Mechanism::ScramSha256, channel_binding);
//! match m.start(initial_response)? { SaslStep::NeedCredentials { username, .. } => ... }
//! match m.provide_credentials(stored)? { SaslStep::Challenge(bytes) => send, ... }
//! match m.respond(client_final)? { SaslStep::Success { additional_data, .. } => ... }
//! ```

pub mod credentials;
mod mechanism;

pub use credentials::{ScramCredentials, ScramHash, StoredCredentials};
pub use mechanism::{ChannelBinding, Mechanism, SaslFailure, SaslStep, ServerMechanism};
