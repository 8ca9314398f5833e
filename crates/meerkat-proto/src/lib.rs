//! XMPP protocol pieces that do no I/O and read no clock.
//!
//! # Layout
//! - [`ns`]: namespace constants.
//! - [`iq`]: IQ result construction.
//! - [`caps`]: XEP-0115 entity capabilities verification string and hash.
//! - [`register`]: XEP-0077 form and fields.
//! - [`error`]: stream errors (RFC 6120 §4.9) and stanza errors (RFC 6120 §8.3) with their XML.
//! - [`sasl`]: server side of SASL PLAIN, SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants
//!   (RFC 4616, RFC 5802, RFC 7677), as sans-I/O state machines, and SCRAM credential derivation.
//! - [`subscription`]: the roster subscription state machine of RFC 6121 (Appendix A).
//! - [`jid`]: re-export of the `jid` crate (RFC 7622 addresses, 1023-byte parts).
#![warn(missing_docs)]

pub mod caps;
pub mod error;
pub mod iq;
pub mod ns;
pub mod register;
pub mod sasl;
pub mod subscription;

pub use jid;
