//! Streaming XML for XMPP streams (RFC 6120 §11: restricted XML).
//!
//! # Layout
//! - [`element`]: the owned element tree ([`Element`], [`Node`]) stanzas are parsed into, with a
//!   small builder API and lookups by name and namespace.
//! - [`parser`]: [`StreamParser`], a push parser fed raw bytes from the socket that yields
//!   [`StreamEvent`]s (stream header, complete top-level stanzas, stream close). It enforces the
//!   [`Limits`] and rejects what XMPP forbids (DTDs, comments, processing instructions).
//! - [`writer`]: serialisation of elements with namespace declarations relative to a parent.
//! - `tree` (private): checks and builds one complete element from its bytes (names,
//!   references, namespaces, per-element limits); the parser calls it once per stanza.
//! - [`escape`]: text and attribute escaping.
//!
//! The crate does no I/O and reads no clock, so it can be unit-tested and fuzzed alone.
//!
//! Why our own parser instead of rxml/quick-xml: an idle XMPP connection must cost almost no
//! memory, and the parser must tell "need more bytes", "not well-formed", "restricted XML" and
//! "over a limit" apart for the stream errors. This parser keeps nothing but the bytes of the one
//! partial stanza in flight, and only what it has not yet consumed.
#![warn(missing_docs)]
// Input paths must not panic on any byte sequence (STYLE.md): no unwrap, no slice indexing.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod element;
pub mod escape;
pub mod parser;
mod tree;
pub mod writer;

pub use element::{Element, Node};
pub use parser::{Limits, StreamEvent, StreamOpen, StreamParser, XmlError};

/// Namespace of the stream wrapper element (`<stream:stream>`), RFC 6120 §4.
pub const NS_STREAM: &str = "http://etherx.jabber.org/streams";
/// Namespace of the `xml:` prefix, bound by definition.
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
