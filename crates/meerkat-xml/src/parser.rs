//! Push parser for an XMPP stream.

use crate::Element;

/// Ceilings on what a peer may send. Every field is finite by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest top-level stanza, in bytes as received (also bounds the buffered partial stanza).
    pub max_stanza_bytes: usize,
    /// Deepest element nesting inside a stanza (the stanza itself is depth 1).
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Longest element or attribute name, prefix included.
    pub max_name_bytes: usize,
    /// Largest stream header (`<?xml ...?><stream:stream ...>`).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 65536,
            max_depth: 32,
            max_attributes: 64,
            max_name_bytes: 256,
            max_header_bytes: 4096,
        }
    }
}

/// Why a stream cannot continue. Each maps to one stream error condition of RFC 6120 §4.9.3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML (bad syntax, mismatched tags, invalid UTF-8 or characters,
    /// undeclared prefix, duplicate attribute): `not-well-formed`.
    #[error("not well-formed: {0}")]
    NotWellFormed(String),
    /// A DTD, entity declaration/reference other than the five predefined and character
    /// references, comment or processing instruction: `restricted-xml`.
    #[error("restricted XML: {0}")]
    RestrictedXml(&'static str),
    /// A limit from [`Limits`] was exceeded: `policy-violation`.
    #[error("limit exceeded: {0}")]
    LimitExceeded(&'static str),
    /// Non-whitespace character data directly inside the stream element: `bad-format`.
    #[error("text outside stanzas")]
    TextOutsideStanza,
    /// The stream header is not `stream` in the streams namespace: `invalid-namespace`.
    #[error("invalid stream namespace")]
    InvalidNamespace,
}

/// The opening `<stream:stream>` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOpen {
    /// The stream element without children: name `stream`, namespace [`crate::NS_STREAM`],
    /// attributes such as `to`, `from`, `version`, `xml:lang`, `id`.
    pub element: Element,
    /// The default namespace declared on the header (`jabber:client`, `jabber:server`, ...).
    pub default_ns: Option<String>,
}

/// What the parser found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The stream header arrived.
    Open(StreamOpen),
    /// A complete top-level element (stanza, `<starttls/>`, `<auth/>`, ...). Namespaces are
    /// resolved; an element in the stream's default namespace has that namespace in `ns`.
    Stanza(Element),
    /// `</stream:stream>` arrived.
    Close,
}

/// A push parser: [`StreamParser::feed`] bytes, then call [`StreamParser::next_event`] until
/// it returns `Ok(None)` (needs more bytes).
///
/// Whitespace between stanzas (keepalives) is consumed silently. After an error the parser is
/// poisoned: every later call returns the same error.
#[derive(Debug)]
pub struct StreamParser {
    limits: Limits,
}

impl StreamParser {
    /// A parser expecting a stream header (an optional XML declaration first).
    pub fn new(limits: Limits) -> Self {
        StreamParser { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends received bytes. Never fails: limits are checked by [`Self::next_event`].
    pub fn feed(&mut self, bytes: &[u8]) {
        let _ = bytes;
        todo!("meerkat-xml helper")
    }

    /// The next complete event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        todo!("meerkat-xml helper")
    }

    /// Forgets everything buffered and expects a new stream header (stream restart after
    /// STARTTLS or SASL success, RFC 6120 §5.3.4 and §6.4.6).
    pub fn reset(&mut self) {
        todo!("meerkat-xml helper")
    }

    /// Bytes currently held (partial stanza), for memory accounting.
    pub fn buffered_bytes(&self) -> usize {
        todo!("meerkat-xml helper")
    }
}
