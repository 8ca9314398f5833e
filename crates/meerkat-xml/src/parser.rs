//! Push parser for an XMPP stream (RFC 6120 §4 streams, §11 restricted XML).
//!
//! # How it works
//! The socket feeds bytes with [`StreamParser::feed`]; [`StreamParser::next_event`] runs an
//! incremental scanner over the bytes not yet consumed. The scanner keeps its state between calls
//! (a small enum, the nesting depth and three offsets), so a stanza arriving one byte at a time is
//! scanned once in total, not once per feed. It only tracks structure: tags, quotes, CDATA and
//! depth, and rejects `<!` constructs other than CDATA and `<?` processing instructions as soon as
//! it sees them. When it finds the end of a top-level element, the tree builder (`tree.rs`) checks
//! and builds that element in one pass over its complete bytes.
//!
//! The stream header (an optional `<?xml?>` declaration, then `<stream:stream ...>` left open) is
//! scanned the same way, with [`Limits::max_header_bytes`] as its ceiling. Its namespace
//! declarations stay in scope for every stanza, so a stanza written without `xmlns` inherits the
//! stream's default namespace (`jabber:client`, `jabber:server`) and can use prefixes declared on
//! the header (`db:` in server-to-server streams).
//!
//! # Memory
//! Between stanzas the parser holds nothing but the stream header's qname and namespace bindings
//! (a few dozen bytes on the heap) and its inline state (see the size test). Whitespace between
//! stanzas is consumed as it is scanned. Consumed bytes are dropped on the next
//! [`StreamParser::feed`] (one move of the unconsumed tail per feed); when nothing unconsumed is
//! left the buffer is cleared, and freed when its capacity is above
//! [`RETAIN_CAPACITY_BYTES`]. [`StreamParser::release_memory`] frees it whatever its size, for a
//! connection going idle. The buffer never holds more than the partial stanza, which is checked
//! against [`Limits::max_stanza_bytes`] on every call, plus the last feed: call `next_event` after
//! every `feed`.
//!
//! # Deviations from a general XML parser
//! - Only UTF-8 is accepted; an XML declaration naming another encoding is `NotWellFormed`.
//! - The XML declaration is only accepted as the very first thing of the stream (after an
//!   optional byte order mark), as XML 1.0 requires; elsewhere it is a processing instruction.
//! - DTDs, comments and processing instructions are `RestrictedXml` (RFC 6120 §11.1), so only the
//!   five predefined entities and character references exist.
//! - A self-closed header (`<stream:stream .../>`) yields `Open` then `Close`.
//! - An element with the `xml:` prefix (in the xml namespace) is `NotWellFormed`: Namespaces in
//!   XML allows it, but it means nothing and cannot be written back with a default namespace.
//! - A declaration `xmlns:p` is kept as an attribute when an attribute of the same element has
//!   prefix `p` (see `tree.rs`), so the element serialises on its own.
//! - The per-element limits (attributes, name length) apply to the stream header too.

use crate::tree::{self, is_ws, may_start_name, nwf};
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

/// When the buffer empties, a capacity above this is freed rather than kept for the next stanza.
/// Typical stanzas (a few hundred bytes) then reuse their allocation, while a burst of large ones
/// gives its memory back as soon as it has been parsed.
pub const RETAIN_CAPACITY_BYTES: usize = 4096;

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the end of the stream header.
    Header,
    /// Inside the stream: stanzas.
    Body,
    /// A self-closed header was returned; `Close` comes next.
    ClosePending,
    /// After `</stream:stream>`: only whitespace may follow.
    Closed,
}

/// Scanner state: what the byte at `pos` is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Very first byte of the stream: an XML declaration or byte order mark may start here.
    Start { bom_ok: bool },
    /// Inside the UTF-8 byte order mark, `seen` of its 3 bytes read.
    Bom { seen: u8 },
    /// After a `<` at the very start: `?` starts the XML declaration.
    StartLt,
    /// Inside the XML declaration; `question` when the previous byte was `?`.
    Decl { question: bool },
    /// Between top-level constructs (prolog whitespace, or between stanzas).
    Gap,
    /// After `<`.
    Lt,
    /// Inside a start tag outside quotes; `slash` when the previous byte was `/`.
    StartTag { slash: bool },
    /// Inside an attribute value delimited by `quote`.
    AttrValue { quote: u8 },
    /// Inside an end tag below the top level.
    EndTag,
    /// Inside an end tag at the top level: the stream's end.
    CloseTag,
    /// Character data inside a stanza.
    Text,
    /// After `<!`: `matched` bytes of `[CDATA[` seen.
    Bang { matched: u8 },
    /// Inside a CDATA section, after `brackets` consecutive `]`.
    CData { brackets: u8 },
}

/// A complete construct found by the scanner, ending at `pos`.
enum Found {
    Header { self_closing: bool },
    Stanza,
    Close,
}

/// What the stream header declared, kept for the stream's lifetime (boxed: one pointer inline).
#[derive(Debug)]
struct StreamScope {
    /// Header qname as written (`stream:stream`), for the closing tag.
    qname: Box<str>,
    /// Namespace bindings declared on the header.
    bindings: Box<tree::Bindings>,
}

/// A push parser: [`StreamParser::feed`] bytes, then call [`StreamParser::next_event`] until
/// it returns `Ok(None)` (needs more bytes).
///
/// Whitespace between stanzas (keepalives) is consumed silently. After an error the parser is
/// poisoned: every later call returns the same error.
#[derive(Debug)]
pub struct StreamParser {
    limits: Limits,
    /// Received bytes; everything before `tok_start` is consumed and dropped on the next feed.
    buf: Vec<u8>,
    /// Next byte to scan.
    pos: usize,
    /// Start of the construct being scanned (the stanza, or the whole prolog before the header):
    /// the limits count from here.
    tok_start: usize,
    /// Position of the `<` of the stream header (the prolog may precede it).
    elem_start: usize,
    /// Open elements of the stanza being scanned.
    depth: u32,
    scan: Scan,
    phase: Phase,
    stream: Option<Box<StreamScope>>,
    /// Set by the first error; rare, so boxed to keep the parser small.
    poison: Option<Box<XmlError>>,
}

impl StreamParser {
    /// A parser expecting a stream header (an optional XML declaration first).
    pub fn new(limits: Limits) -> Self {
        StreamParser {
            limits,
            buf: Vec::new(),
            pos: 0,
            tok_start: 0,
            elem_start: 0,
            depth: 0,
            scan: Scan::Start { bom_ok: true },
            phase: Phase::Header,
            stream: None,
            poison: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends received bytes. Never fails: limits are checked by [`Self::next_event`], which
    /// must be called after every feed so that no more than the limit plus this feed is held.
    /// Bytes fed to a poisoned parser are dropped.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.poison.is_some() || bytes.is_empty() {
            return;
        }
        if self.tok_start > 0 {
            // Drop what the previous events consumed: one move of the partial tail per feed.
            self.buf.drain(..self.tok_start.min(self.buf.len()));
            self.pos = self.pos.saturating_sub(self.tok_start);
            self.elem_start = self.elem_start.saturating_sub(self.tok_start);
            self.tok_start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        if let Some(e) = &self.poison {
            return Err(XmlError::clone(e));
        }
        match self.next_event_inner() {
            Ok(event) => {
                if self.tok_start >= self.buf.len() {
                    self.clear_buffer(RETAIN_CAPACITY_BYTES);
                }
                Ok(event)
            }
            Err(e) => {
                self.poison = Some(Box::new(e.clone()));
                self.clear_buffer(0);
                Err(e)
            }
        }
    }

    /// Marks the stream broken by a rule the framing above the XML enforces (e.g. one element
    /// per WebSocket message): drops what is buffered, and every later call returns `e`.
    pub fn poison(&mut self, e: XmlError) {
        self.poison = Some(Box::new(e));
        self.clear_buffer(0);
    }

    /// Forgets everything buffered and expects a new stream header (stream restart after
    /// STARTTLS or SASL success, RFC 6120 §5.3.4 and §6.4.6).
    pub fn reset(&mut self) {
        *self = StreamParser::new(self.limits);
    }

    /// Bytes currently held (partial stanza), for memory accounting.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len().saturating_sub(self.tok_start)
    }

    /// Heap bytes held by the parser (buffer capacity, stream header scope, error), for memory
    /// accounting. Allocator overhead is not included.
    pub fn heap_bytes(&self) -> usize {
        let scope = self.stream.as_deref().map_or(0, |s| {
            std::mem::size_of::<StreamScope>()
                + s.qname.len()
                + s.bindings.len() * std::mem::size_of::<(Box<str>, Box<str>)>()
                + s.bindings.iter().map(|(p, u)| p.len() + u.len()).sum::<usize>()
        });
        let poison = self.poison.as_ref().map_or(0, |_| std::mem::size_of::<XmlError>());
        self.buf.capacity() + scope + poison
    }

    /// Frees the buffer if it holds no partial stanza, whatever its capacity. For a connection
    /// going idle; returns true when nothing is buffered any more.
    pub fn release_memory(&mut self) -> bool {
        if self.tok_start >= self.buf.len() {
            self.clear_buffer(0);
            true
        } else {
            false
        }
    }

    /// Empties the buffer (all of it must be consumed), freeing it above `keep_capacity`.
    fn clear_buffer(&mut self, keep_capacity: usize) {
        if self.buf.capacity() > keep_capacity {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.pos = 0;
        self.tok_start = 0;
        self.elem_start = 0;
    }

    fn next_event_inner(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        if self.phase == Phase::ClosePending {
            self.phase = Phase::Closed;
            return Ok(Some(StreamEvent::Close));
        }
        let Some(found) = self.scan_to_token()? else {
            return Ok(None);
        };
        let event = match found {
            Found::Header { self_closing } => {
                let bytes = self.buf.get(self.elem_start..self.pos).unwrap_or_default();
                let header = tree::parse_header(bytes, &self.limits)?;
                if !header.element.is("stream", crate::NS_STREAM) {
                    return Err(XmlError::InvalidNamespace);
                }
                let default_ns = header
                    .bindings
                    .iter()
                    .rev()
                    .find(|(p, _)| p.is_empty())
                    .filter(|(_, u)| !u.is_empty())
                    .map(|(_, u)| u.to_string());
                self.stream =
                    Some(Box::new(StreamScope { qname: header.qname, bindings: header.bindings }));
                self.phase = if self_closing { Phase::ClosePending } else { Phase::Body };
                StreamEvent::Open(StreamOpen { element: header.element, default_ns })
            }
            Found::Stanza => {
                let bytes = self.buf.get(self.tok_start..self.pos).unwrap_or_default();
                let bindings = self.stream.as_deref().map_or(&[][..], |s| &s.bindings);
                StreamEvent::Stanza(tree::build_element(bytes, bindings, &self.limits)?)
            }
            Found::Close => {
                let bytes = self.buf.get(self.tok_start..self.pos).unwrap_or_default();
                let qname = self.stream.as_deref().map_or("", |s| &s.qname);
                tree::check_close_tag(bytes, qname)?;
                self.phase = Phase::Closed;
                StreamEvent::Close
            }
        };
        self.tok_start = self.pos;
        self.depth = 0;
        self.scan = Scan::Gap;
        Ok(Some(event))
    }

    /// Scans until a construct is complete (`Some`), more bytes are needed (`None`) or a limit
    /// or syntax error.
    fn scan_to_token(&mut self) -> Result<Option<Found>, XmlError> {
        loop {
            let len = self.buf.len();
            if self.scan == Scan::Gap && self.phase != Phase::Header {
                // Between stanzas: whitespace is consumed, not buffered or counted.
                while self.buf.get(self.pos).copied().is_some_and(is_ws) {
                    self.pos += 1;
                }
                self.tok_start = self.pos;
                match self.buf.get(self.pos) {
                    None => return Ok(None),
                    Some(_) if self.phase == Phase::Closed => {
                        return Err(nwf("data after the end of the stream"));
                    }
                    Some(b'<') => {}
                    Some(_) => return Err(XmlError::TextOutsideStanza),
                }
            }
            let (limit, what) = if self.phase == Phase::Header {
                (self.limits.max_header_bytes, "stream header size")
            } else {
                (self.limits.max_stanza_bytes, "stanza size")
            };
            let limit_end = self.tok_start.saturating_add(limit);
            let end = len.min(limit_end);
            if self.pos >= end {
                if self.pos < len {
                    return Err(XmlError::LimitExceeded(what));
                }
                return Ok(None);
            }
            if let Some(found) = self.step(end)? {
                return Ok(Some(found));
            }
        }
    }

    /// Advances over at least one byte of `buf[pos..end]` (not empty).
    fn step(&mut self, end: usize) -> Result<Option<Found>, XmlError> {
        let window = self.buf.get(self.pos..end).unwrap_or_default();
        let Some(&b) = window.first() else {
            return Ok(None);
        };
        match self.scan {
            Scan::Start { bom_ok } => match b {
                0xEF if bom_ok => self.advance(Scan::Bom { seen: 1 }),
                b'<' => {
                    self.elem_start = self.pos;
                    self.advance(Scan::StartLt);
                }
                _ if is_ws(b) => self.advance(Scan::Gap),
                _ => return Err(nwf("expected a stream header")),
            },
            Scan::Bom { seen } => match (seen, b) {
                (1, 0xBB) => self.advance(Scan::Bom { seen: 2 }),
                (2, 0xBF) => self.advance(Scan::Start { bom_ok: false }),
                _ => return Err(nwf("invalid byte order mark")),
            },
            Scan::StartLt => {
                if b == b'?' {
                    self.advance(Scan::Decl { question: false });
                } else {
                    // Not a declaration: the same byte is looked at again as an ordinary `<`.
                    self.scan = Scan::Lt;
                }
            }
            Scan::Decl { question } => {
                if b == b'>' && question {
                    let decl = self.buf.get(self.elem_start..=self.pos).unwrap_or_default();
                    tree::check_xml_decl(decl)?;
                    self.advance(Scan::Gap);
                } else {
                    self.advance(Scan::Decl { question: b == b'?' });
                }
            }
            Scan::Gap => match b {
                b'<' => {
                    self.elem_start = self.pos;
                    self.advance(Scan::Lt);
                }
                _ if is_ws(b) && self.phase == Phase::Header => self.advance(Scan::Gap),
                _ if self.phase == Phase::Header => return Err(nwf("expected a stream header")),
                _ => return Err(XmlError::TextOutsideStanza),
            },
            Scan::Lt => match b {
                b'/' if self.depth > 0 => self.advance(Scan::EndTag),
                b'/' if self.phase == Phase::Body => self.advance(Scan::CloseTag),
                b'/' => return Err(nwf("unexpected end tag")),
                b'!' => self.advance(Scan::Bang { matched: 0 }),
                b'?' => return Err(XmlError::RestrictedXml("processing instruction")),
                _ if may_start_name(b) => self.advance(Scan::StartTag { slash: false }),
                _ => return Err(nwf("invalid character after '<'")),
            },
            Scan::StartTag { mut slash } => {
                // Hot: names and spaces of a tag, in one loop over what has arrived.
                for (i, &b) in window.iter().enumerate() {
                    match b {
                        b'\'' | b'"' => {
                            self.pos += i + 1;
                            self.scan = Scan::AttrValue { quote: b };
                            return Ok(None);
                        }
                        b'>' => {
                            self.pos += i + 1;
                            return self.tag_closed(slash);
                        }
                        b'<' => return Err(nwf("'<' inside a tag")),
                        _ if slash => return Err(nwf("'/' not followed by '>' in a tag")),
                        b'/' => slash = true,
                        _ => {}
                    }
                }
                self.pos = end;
                self.scan = Scan::StartTag { slash };
            }
            Scan::AttrValue { quote } => match memchr::memchr(quote, window) {
                Some(i) => {
                    self.pos += i + 1;
                    self.scan = Scan::StartTag { slash: false };
                }
                None => self.pos = end,
            },
            Scan::EndTag => match memchr::memchr(b'>', window) {
                Some(i) => {
                    self.pos += i + 1;
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Ok(Some(Found::Stanza));
                    }
                    self.scan = Scan::Text;
                }
                None => self.pos = end,
            },
            Scan::CloseTag => match memchr::memchr(b'>', window) {
                Some(i) => {
                    self.pos += i + 1;
                    return Ok(Some(Found::Close));
                }
                None => self.pos = end,
            },
            Scan::Text => match memchr::memchr(b'<', window) {
                Some(i) => {
                    self.pos += i + 1;
                    self.scan = Scan::Lt;
                }
                None => self.pos = end,
            },
            Scan::Bang { matched } => {
                const CDATA_OPEN: &[u8] = b"[CDATA[";
                if matched == 0 {
                    match b {
                        b'-' => return Err(XmlError::RestrictedXml("comment")),
                        _ if b.is_ascii_uppercase() => {
                            return Err(XmlError::RestrictedXml("DTD or markup declaration"));
                        }
                        _ => {}
                    }
                }
                if CDATA_OPEN.get(usize::from(matched)) != Some(&b) {
                    return Err(nwf("invalid '<!' construct"));
                }
                let matched = matched + 1;
                if usize::from(matched) < CDATA_OPEN.len() {
                    self.advance(Scan::Bang { matched });
                } else if self.depth == 0 {
                    return Err(if self.phase == Phase::Header {
                        nwf("CDATA section outside the stream")
                    } else {
                        XmlError::TextOutsideStanza
                    });
                } else {
                    self.advance(Scan::CData { brackets: 0 });
                }
            }
            Scan::CData { brackets } => match b {
                b']' => self.advance(Scan::CData { brackets: (brackets + 1).min(2) }),
                b'>' if brackets == 2 => self.advance(Scan::Text),
                _ => self.advance(Scan::CData { brackets: 0 }),
            },
        }
        Ok(None)
    }

    #[inline]
    fn advance(&mut self, next: Scan) {
        self.pos += 1;
        self.scan = next;
    }

    /// A start tag ended (its `>` consumed).
    fn tag_closed(&mut self, empty: bool) -> Result<Option<Found>, XmlError> {
        if self.phase == Phase::Header {
            return Ok(Some(Found::Header { self_closing: empty }));
        }
        let depth = self.depth.saturating_add(1);
        if usize::try_from(depth).unwrap_or(usize::MAX) > self.limits.max_depth {
            return Err(XmlError::LimitExceeded("element depth"));
        }
        if empty && self.depth == 0 {
            return Ok(Some(Found::Stanza));
        }
        if !empty {
            self.depth = depth;
        }
        self.scan = Scan::Text;
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
