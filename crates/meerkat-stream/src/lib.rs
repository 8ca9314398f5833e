//! Sans-I/O XMPP stream negotiation (RFC 6120 §4-§7, XEP-0077).
//!
//! # Layout
//! - [`bosh`]: BOSH (XEP-0124/XEP-0206) bodies, session parameters, the rid window and
//!   retransmission, so the same machine and sessions run over HTTP requests.
//! - [`c2s`]: [`c2s::Negotiation`], the client-to-server negotiation state machine: stream
//!   header checks, STARTTLS, SASL, pre-authentication registration, stream restart, up to the
//!   resource-binding request. It is fed parser events and time, and answers with
//!   [`c2s::Action`]s the caller performs (write, TLS handshake, credential lookup, account
//!   creation, PBKDF2 on a thread that may block).
//! - [`features`]: the `<stream:features/>` each stage offers.
//! - [`sm`]: Stream Management (XEP-0198) nonzas, counters and the unacked queue.
//! - [`websocket`]: the RFC 7395 framing (one element per WebSocket message, `<open/>` and
//!   `<close/>`) that lets the same machine and sessions run over a WebSocket.
//! - [`xml_stream_error`]: the stream error that ends a stream whose XML broke.
//!
//! The crate does no I/O and reads no clock: the caller passes "now" in and enforces the
//! deadline the machine reports, so everything here is unit-tested with bytes and a fake clock.
#![warn(missing_docs)]
// Input paths must not panic on anything a peer sends (STYLE.md).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod bosh;
pub mod c2s;
pub mod features;
pub mod sm;
pub mod websocket;

use meerkat_proto::error::{StreamError, StreamErrorCondition as C};
use meerkat_xml::XmlError;

/// The stream error (RFC 6120 §4.9.3) for a stream whose XML broke: one mapping, so a parser
/// failure looks the same on the wire during negotiation and in a bound session.
pub fn xml_stream_error(e: &XmlError) -> StreamError {
    match e {
        XmlError::NotWellFormed(_) => StreamError::new(C::NotWellFormed),
        XmlError::RestrictedXml(_) => StreamError::new(C::RestrictedXml),
        XmlError::LimitExceeded(what) => {
            StreamError::with_text(C::PolicyViolation, format!("{what} limit exceeded"))
        }
        XmlError::TextOutsideStanza => StreamError::new(C::BadFormat),
        XmlError::InvalidNamespace => StreamError::new(C::InvalidNamespace),
    }
}
