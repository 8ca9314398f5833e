//! Server side of SASL (RFC 4422) for XMPP (RFC 6120 §6): PLAIN (RFC 4616), SCRAM-SHA-1
//! (RFC 5802), SCRAM-SHA-256 (RFC 7677) and their -PLUS variants with the channel binding types
//! `tls-exporter` (RFC 9266) and `tls-server-end-point` (RFC 5929).
//!
//! Sans-I/O: the caller feeds decoded client data and answers credential look-ups; the
//! mechanism never touches storage, sockets or the clock.
//!
//! ```text
//! let mut m = ServerMechanism::new(Mechanism::ScramSha256, channel_binding);
//! match m.start(initial_response) { SaslStep::NeedCredentials { username } => ... }
//! match m.provide_credentials(stored.as_ref()) { SaslStep::Challenge(bytes) => send, ... }
//! match m.respond(client_final) { SaslStep::Success { additional_data, .. } => ... }
//! // then check m.authzid() against the stream's domain
//! ```
//!
//! # Security notes
//! - Passwords are never stored: [`StoredCredentials`] holds SCRAM keys only, and PLAIN is
//!   verified by deriving the SCRAM-SHA-256 keys from the offered password.
//! - An unknown user (`provide_credentials(None)`) goes through the same exchange with fake
//!   credentials (salt derived from the username and a per-process secret) and fails at the
//!   end with `not-authorized`, so probing does not reveal which accounts exist.
//! - Proofs and keys are compared in constant time.
//! - Each client message is limited to [`MAX_MESSAGE_BYTES`]; larger ones fail with
//!   `malformed-request`.
//!
//! # Layout
//! - `mechanism`: public types and the [`ServerMechanism`] state machine.
//! - `plain`: PLAIN parsing and password check.
//! - `scram`: SCRAM message parsing, channel binding, proof and signature.
//! - [`credentials`]: key derivation and stored credentials.

// Everything here parses bytes from unauthenticated peers: no unwraps, no indexing that can panic.
#![warn(clippy::unwrap_used, clippy::indexing_slicing)]

pub mod credentials;
mod mechanism;
mod plain;
mod scram;
#[cfg(test)]
mod tests;

pub use credentials::{
    ScramCredentials, ScramHash, StoredCredentials, DEFAULT_ITERATIONS, SALT_BYTES,
};
pub use mechanism::{ChannelBinding, Mechanism, SaslFailure, SaslStep, ServerMechanism};

/// Largest client message accepted (initial response or `<response>`, after base64 decoding).
/// Real SCRAM and PLAIN messages are a few hundred bytes; the state machine keeps at most about
/// twice this per exchange.
pub const MAX_MESSAGE_BYTES: usize = 4096;
