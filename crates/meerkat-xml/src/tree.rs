//! Tree building over the bytes of one complete element (XML 1.0 5th ed., Namespaces in XML 1.0).
//!
//! [`crate::parser`] finds where a top-level element ends with a cheap incremental scan; this
//! module then checks and builds it in one pass over bytes known to be complete, so it needs no
//! state across feeds. Everything is validated here again (the scanner only looks at structure):
//! UTF-8, allowed characters, names, quoting, references, tag matching, namespaces and the
//! per-element [`Limits`].
//!
//! Namespace declarations become scope entries, not attributes, with one exception: when an
//! attribute has a prefix other than `xml` (`<a p:x='1'>`), the declaration of that prefix is kept
//! as an `xmlns:p` attribute of the same element (appended after the others unless written there),
//! so the element stays self-contained: serialised on its own it still parses.

use std::borrow::Cow;

use memchr::{memchr, memmem};

use crate::{Element, Limits, Node, XmlError, NS_XML};

/// The namespace bound to the `xmlns` prefix itself; may not be declared.
const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// Prefix bindings as (prefix, namespace); the empty prefix is the default namespace.
pub(crate) type Bindings = [(Box<str>, Box<str>)];

pub(crate) fn nwf(msg: &str) -> XmlError {
    XmlError::NotWellFormed(msg.to_owned())
}

/// XML whitespace (S production).
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `Char` production of XML 1.0.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `NameStartChar` of XML 1.0 without `:` (Namespaces: a QName never starts with a colon).
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// `NameChar` of XML 1.0 (colon included; QName rules are checked separately).
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, ':' | '-' | '.' | '0'..='9' | '\u{B7}'
            | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A byte that may start a name (ASCII name start, or the lead byte of a non-ASCII character,
/// checked properly later). Used by the scanner to reject junk after `<` early.
#[inline]
pub(crate) fn may_start_name(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// Rejects C0 controls other than tab, LF and CR, and U+FFFE / U+FFFF (XML 1.0 `Char`).
/// Surrogates and other invalid sequences are left to the UTF-8 check.
fn check_chars(bytes: &[u8]) -> Result<(), XmlError> {
    // Hot: a tight search for the rare suspicious bytes, then a closer look at each.
    let mut i = 0;
    while let Some(off) =
        bytes.get(i..).and_then(|rest| rest.iter().position(|&b| b < 0x20 || b == 0xEF))
    {
        let at = i + off;
        match bytes.get(at) {
            Some(b'\t' | b'\n' | b'\r') => {}
            Some(0xEF) => {
                if bytes.get(at + 1) == Some(&0xBF)
                    && matches!(bytes.get(at + 2), Some(0xBE | 0xBF))
                {
                    return Err(nwf("character U+FFFE/U+FFFF not allowed in XML"));
                }
            }
            _ => return Err(nwf("character not allowed in XML")),
        }
        i = at + 1;
    }
    Ok(())
}

/// Checked UTF-8 and characters of a complete construct.
fn checked_str(bytes: &[u8]) -> Result<&str, XmlError> {
    check_chars(bytes)?;
    std::str::from_utf8(bytes).map_err(|_| nwf("invalid UTF-8"))
}

/// `s[a..b]` without a panic path (callers only cut at ASCII bytes, so this never fails).
#[inline]
fn sub(s: &str, a: usize, b: usize) -> &str {
    s.get(a..b).unwrap_or_default()
}

/// Decodes one reference at the start of `s` (which starts with `&`): the five predefined
/// entities or a character reference. Returns the character and the reference's length.
fn parse_ref(s: &str) -> Result<(char, usize), XmlError> {
    // Longest valid reference is `&#x` + leading zeros...; 32 bytes is far beyond any sane one.
    let head = s.as_bytes().get(..s.len().min(32)).unwrap_or_default();
    let semi = memchr(b';', head).ok_or_else(|| nwf("unterminated entity reference"))?;
    let body = sub(s, 1, semi);
    let c = match body {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let (digits, radix) = if let Some(hex) = body.strip_prefix("#x") {
                (hex, 16)
            } else if let Some(dec) = body.strip_prefix('#') {
                (dec, 10)
            } else {
                return Err(nwf("undeclared entity reference"));
            };
            if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
                return Err(nwf("malformed character reference"));
            }
            u32::from_str_radix(digits, radix)
                .ok()
                .and_then(char::from_u32)
                .filter(|&c| is_xml_char(c))
                .ok_or_else(|| nwf("character reference to a character not allowed in XML"))?
        }
    };
    Ok((c, semi + 1))
}

/// Appends `raw` to `out`, decoding references and normalising line ends (XML 1.0 §2.11): CR LF
/// and lone CR become LF. In an attribute value (`attr`), tab, LF and CR become a space after
/// that (§3.3.3; references are not normalised).
fn decode_into(raw: &str, attr: bool, out: &mut String) -> Result<(), XmlError> {
    let bytes = raw.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'&' => {
                out.push_str(sub(raw, copied, i));
                let (c, len) = parse_ref(sub(raw, i, raw.len()))?;
                out.push(c);
                i += len;
                copied = i;
            }
            b'\r' => {
                out.push_str(sub(raw, copied, i));
                out.push(if attr { ' ' } else { '\n' });
                i += if bytes.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                copied = i;
            }
            b'\t' | b'\n' if attr => {
                out.push_str(sub(raw, copied, i));
                out.push(' ');
                i += 1;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(sub(raw, copied, raw.len()));
    Ok(())
}

/// Appends CDATA content, normalising line ends only.
fn push_cdata(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(i) = memchr(b'\r', rest.as_bytes()) {
        out.push_str(sub(rest, 0, i));
        out.push('\n');
        let skip = if rest.as_bytes().get(i + 1) == Some(&b'\n') { 2 } else { 1 };
        rest = sub(rest, i + skip, rest.len());
    }
    out.push_str(rest);
}

/// Position in the text being built. `i` is always on a character boundary because it only ever
/// moves past ASCII bytes or whole characters.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    #[inline]
    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.as_bytes().get(self.i + k).copied()
    }

    #[inline]
    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or_default()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn expect(&mut self, b: u8, msg: &str) -> Result<(), XmlError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(nwf(msg))
        }
    }

    /// Skips whitespace; true when there was some.
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
        self.i > start
    }

    /// A QName: NCName or NCName ':' NCName.
    fn qname(&mut self, max_bytes: usize) -> Result<&'a str, XmlError> {
        let rest = self.rest();
        let bytes = rest.as_bytes();
        // Fast path over ASCII name characters; the full check takes over at the first
        // non-ASCII byte.
        let ascii_end = bytes
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')))
            .unwrap_or(bytes.len());
        match bytes.first() {
            Some(&b) if b.is_ascii_alphabetic() || b == b'_' => {}
            Some(&b) if b >= 0x80 && rest.chars().next().is_some_and(is_name_start) => {}
            _ => return Err(nwf("expected a name")),
        }
        let end = match bytes.get(ascii_end) {
            Some(&b) if b >= 0x80 => {
                let tail = sub(rest, ascii_end, rest.len());
                ascii_end
                    + tail
                        .char_indices()
                        .find(|&(_, c)| !is_name_char(c))
                        .map_or(tail.len(), |(i, _)| i)
            }
            _ => ascii_end,
        };
        if end > max_bytes {
            return Err(XmlError::LimitExceeded("name length"));
        }
        let name = sub(rest, 0, end);
        if let Some((_, local)) = name.split_once(':') {
            let ok = local.chars().next().is_some_and(is_name_start) && !local.contains(':');
            if !ok {
                return Err(nwf("malformed qualified name"));
            }
        }
        self.i += end;
        Ok(name)
    }
}

/// Attributes of one start tag as written: (qname, unescaped value).
type RawAttrs<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// Parses a start tag after its `<`, up to and including `>` or `/>`. Fills `attrs`; returns
/// the qname and whether the tag was an empty-element tag.
fn parse_start_tag<'a>(
    cur: &mut Cursor<'a>,
    limits: &Limits,
    attrs: &mut RawAttrs<'a>,
) -> Result<(&'a str, bool), XmlError> {
    let qname = cur.qname(limits.max_name_bytes)?;
    attrs.clear();
    loop {
        let had_ws = cur.skip_ws();
        match cur.peek() {
            Some(b'>') => {
                cur.i += 1;
                return Ok((qname, false));
            }
            Some(b'/') => {
                cur.i += 1;
                cur.expect(b'>', "expected '>' after '/'")?;
                return Ok((qname, true));
            }
            Some(_) if had_ws => {
                let name = cur.qname(limits.max_name_bytes)?;
                cur.skip_ws();
                cur.expect(b'=', "expected '=' after attribute name")?;
                cur.skip_ws();
                let quote = match cur.peek() {
                    Some(q @ (b'\'' | b'"')) => q,
                    _ => return Err(nwf("unquoted attribute value")),
                };
                cur.i += 1;
                let rest = cur.rest();
                let end = memchr(quote, rest.as_bytes())
                    .ok_or_else(|| nwf("unterminated attribute value"))?;
                let raw = sub(rest, 0, end);
                let raw_bytes = raw.as_bytes();
                if memchr(b'<', raw_bytes).is_some() {
                    return Err(nwf("'<' in attribute value"));
                }
                let value = if raw_bytes.iter().any(|&b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
                {
                    let mut v = String::with_capacity(raw.len());
                    decode_into(raw, true, &mut v)?;
                    Cow::Owned(v)
                } else {
                    Cow::Borrowed(raw)
                };
                cur.i += end + 1;
                if attrs.iter().any(|(n, _)| *n == name) {
                    return Err(nwf("duplicate attribute"));
                }
                attrs.push((name, value));
                if attrs.len() > limits.max_attributes {
                    return Err(XmlError::LimitExceeded("attributes per element"));
                }
            }
            Some(_) => return Err(nwf("expected whitespace, '>' or '/>' in tag")),
            None => return Err(nwf("unexpected end of tag")),
        }
    }
}

/// In-scope namespace bindings: those of the stream header, then the ones declared inside the
/// element being built (a stack, truncated when an element closes).
struct Scope<'a> {
    header: &'a Bindings,
    local: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Scope<'a> {
    fn lookup(&self, prefix: &str) -> Option<&str> {
        if let Some((_, uri)) = self.local.iter().rev().find(|(p, _)| *p == prefix) {
            return Some(uri);
        }
        if let Some((_, uri)) = self.header.iter().rev().find(|(p, _)| &**p == prefix) {
            return Some(uri);
        }
        (prefix == "xml").then_some(NS_XML)
    }
}

/// Turns a parsed start tag into an element: pushes its namespace declarations onto `scope`
/// (the caller truncates them when the element closes), resolves its namespace, checks
/// attribute prefixes.
fn make_element<'a>(
    qname: &'a str,
    attrs: &mut RawAttrs<'a>,
    scope: &mut Scope<'a>,
) -> Result<Element, XmlError> {
    for (name, value) in attrs.iter() {
        if *name == "xmlns" {
            if value == NS_XML || value == NS_XMLNS {
                return Err(nwf("reserved namespace as default namespace"));
            }
            scope.local.push(("", value.clone()));
        } else if let Some(prefix) = name.strip_prefix("xmlns:") {
            let reserved = match prefix {
                "xmlns" => true,
                "xml" => value != NS_XML,
                _ => value == NS_XML || value == NS_XMLNS,
            };
            if reserved {
                return Err(nwf("reserved prefix or namespace in declaration"));
            }
            if value.is_empty() {
                return Err(nwf("prefix bound to the empty namespace"));
            }
            scope.local.push((prefix, value.clone()));
        }
    }

    let ns = match qname.split_once(':') {
        Some(("xmlns", _)) => return Err(nwf("element with the xmlns prefix")),
        // Allowed by Namespaces in XML but meaningless, and not writable with a default
        // namespace declaration (which may not name the xml namespace): rejected.
        Some(("xml", _)) => return Err(nwf("element in the xml namespace")),
        Some((prefix, _)) => scope.lookup(prefix).ok_or_else(|| nwf("undeclared prefix"))?,
        None => scope.lookup("").unwrap_or_default(),
    };
    let local = qname.split_once(':').map_or(qname, |(_, l)| l);
    let mut el = Element {
        name: local.to_owned(),
        ns: ns.to_owned(),
        attrs: Vec::with_capacity(attrs.len()),
        children: Vec::new(),
    };

    // (prefix, local name, namespace) of attributes with a prefix other than `xml`.
    let mut prefixed: Vec<(&str, &str, &str)> = Vec::new();
    for (name, value) in attrs.drain(..) {
        if name == "xmlns" || name.starts_with("xmlns:") {
            continue;
        }
        if let Some((prefix, local)) = name.split_once(':') {
            if prefix != "xml" {
                let uri = scope.lookup(prefix).ok_or_else(|| nwf("undeclared attribute prefix"))?;
                if prefixed.iter().any(|&(_, l, u)| l == local && u == uri) {
                    return Err(nwf("duplicate attribute (same expanded name)"));
                }
                prefixed.push((prefix, local, uri));
            }
        }
        el.attrs.push((name.to_owned(), value.into_owned()));
    }
    for (prefix, _, uri) in prefixed {
        let decl = format!("xmlns:{prefix}");
        if !el.attrs.iter().any(|(n, _)| *n == decl) {
            el.attrs.push((decl, uri.to_owned()));
        }
    }
    Ok(el)
}

/// Moves pending character data into `el` as one text node.
fn flush_text(text: &mut String, el: &mut Element) {
    if !text.is_empty() {
        el.children.push(Node::Text(std::mem::take(text)));
    }
}

/// An element whose end tag has not been reached yet.
struct Open<'a> {
    el: Element,
    qname: &'a str,
    scope_len: usize,
}

/// Builds the element in `bytes`, which must be exactly one element (a top-level stanza).
/// `header` holds the bindings declared on the stream header, which the stanza inherits.
pub(crate) fn build_element(
    bytes: &[u8],
    header: &Bindings,
    limits: &Limits,
) -> Result<Element, XmlError> {
    let s = checked_str(bytes)?;
    let mut cur = Cursor { s, i: 0 };
    let mut scope = Scope { header, local: Vec::new() };
    let mut attrs: RawAttrs<'_> = Vec::new();
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut text = String::new();

    cur.expect(b'<', "expected '<'")?;
    if limits.max_depth == 0 {
        return Err(XmlError::LimitExceeded("element depth"));
    }
    let (qname, empty) = parse_start_tag(&mut cur, limits, &mut attrs)?;
    let el = make_element(qname, &mut attrs, &mut scope)?;
    if empty {
        return finish(&cur, el);
    }
    stack.push(Open { el, qname, scope_len: 0 });

    loop {
        match cur.peek() {
            None => return Err(nwf("unexpected end of element")),
            Some(b'<') => match cur.peek_at(1) {
                Some(b'/') => {
                    cur.i += 2;
                    let Some(mut open) = stack.pop() else {
                        return Err(nwf("end tag without start tag"));
                    };
                    // The start tag's qname was validated: comparing bytes is enough (a longer
                    // name fails at the '>' check below).
                    if !cur.rest().starts_with(open.qname) {
                        return Err(nwf("mismatched end tag"));
                    }
                    cur.i += open.qname.len();
                    cur.skip_ws();
                    cur.expect(b'>', "mismatched end tag or no '>' in end tag")?;
                    flush_text(&mut text, &mut open.el);
                    scope.local.truncate(open.scope_len);
                    match stack.last_mut() {
                        Some(parent) => parent.el.children.push(Node::Element(open.el)),
                        None => return finish(&cur, open.el),
                    }
                }
                Some(b'!') => {
                    let rest = cur.rest();
                    if let Some(body) = rest.strip_prefix("<![CDATA[") {
                        let end = memmem::find(body.as_bytes(), b"]]>")
                            .ok_or_else(|| nwf("unterminated CDATA section"))?;
                        push_cdata(sub(body, 0, end), &mut text);
                        cur.i += "<![CDATA[".len() + end + 3;
                    } else if rest.starts_with("<!-") {
                        return Err(XmlError::RestrictedXml("comment"));
                    } else if rest.as_bytes().get(2).is_some_and(u8::is_ascii_uppercase) {
                        return Err(XmlError::RestrictedXml("DTD or markup declaration"));
                    } else {
                        return Err(nwf("invalid '<!' construct"));
                    }
                }
                Some(b'?') => return Err(XmlError::RestrictedXml("processing instruction")),
                _ => {
                    cur.i += 1;
                    if stack.len() >= limits.max_depth {
                        return Err(XmlError::LimitExceeded("element depth"));
                    }
                    let scope_len = scope.local.len();
                    let (qname, empty) = parse_start_tag(&mut cur, limits, &mut attrs)?;
                    let el = make_element(qname, &mut attrs, &mut scope)?;
                    let Some(parent) = stack.last_mut() else {
                        return Err(nwf("element outside the root"));
                    };
                    flush_text(&mut text, &mut parent.el);
                    if empty {
                        scope.local.truncate(scope_len);
                        parent.el.children.push(Node::Element(el));
                    } else {
                        stack.push(Open { el, qname, scope_len });
                    }
                }
            },
            Some(_) => {
                let rest = cur.rest();
                let end = memchr(b'<', rest.as_bytes()).unwrap_or(rest.len());
                let run = sub(rest, 0, end);
                if memmem::find(run.as_bytes(), b"]]>").is_some() {
                    return Err(nwf("']]>' in character data"));
                }
                decode_into(run, false, &mut text)?;
                cur.i += end;
            }
        }
    }
}

fn finish(cur: &Cursor<'_>, el: Element) -> Result<Element, XmlError> {
    if cur.at_end() {
        Ok(el)
    } else {
        Err(nwf("data after the element"))
    }
}

/// A parsed stream header.
pub(crate) struct Header {
    /// The header element, without children.
    pub element: Element,
    /// The qname as written (`stream:stream`), which the closing tag must repeat.
    pub qname: Box<str>,
    /// Namespace bindings declared on the header, inherited by every stanza.
    pub bindings: Box<Bindings>,
}

/// Parses the stream header start tag in `bytes` (`<stream:stream ...>` or `.../>`).
pub(crate) fn parse_header(bytes: &[u8], limits: &Limits) -> Result<Header, XmlError> {
    let s = checked_str(bytes)?;
    let mut cur = Cursor { s, i: 0 };
    cur.expect(b'<', "expected '<'")?;
    let mut attrs = Vec::new();
    let (qname, _) = parse_start_tag(&mut cur, limits, &mut attrs)?;
    if !cur.at_end() {
        return Err(nwf("data after the stream header"));
    }
    let mut scope = Scope { header: &[], local: Vec::new() };
    let element = make_element(qname, &mut attrs, &mut scope)?;
    let bindings =
        scope.local.into_iter().map(|(p, u)| (Box::from(p), Box::from(u.as_ref()))).collect();
    Ok(Header { element, qname: Box::from(qname), bindings })
}

/// Checks a stream end tag (`</stream:stream>`, `bytes` from `<` to `>`) against the header's
/// qname.
pub(crate) fn check_close_tag(bytes: &[u8], qname: &str) -> Result<(), XmlError> {
    let inner = bytes
        .strip_prefix(b"</")
        .and_then(|b| b.strip_suffix(b">"))
        .ok_or_else(|| nwf("malformed end tag"))?;
    let end = inner.iter().rposition(|&b| !is_ws(b)).map_or(0, |i| i + 1);
    if inner.get(..end) == Some(qname.as_bytes()) {
        Ok(())
    } else {
        Err(nwf("end tag does not match the stream header"))
    }
}

/// Checks an XML declaration (`<?xml version='1.0' encoding='UTF-8' standalone='yes'?>`, whole).
/// Only UTF-8 is supported (RFC 6120 §11.6): any other encoding is `NotWellFormed`. A processing
/// instruction with another target is `RestrictedXml`.
pub(crate) fn check_xml_decl(bytes: &[u8]) -> Result<(), XmlError> {
    let s = checked_str(bytes)?;
    let body = s
        .strip_prefix("<?")
        .and_then(|b| b.strip_suffix("?>"))
        .ok_or_else(|| nwf("malformed XML declaration"))?;
    let target_end = body.bytes().position(is_ws).unwrap_or(body.len());
    let target = sub(body, 0, target_end);
    if target != "xml" {
        if target.eq_ignore_ascii_case("xml") {
            return Err(nwf("reserved processing instruction target"));
        }
        return Err(XmlError::RestrictedXml("processing instruction"));
    }
    let mut cur = Cursor { s: body, i: target_end };
    let mut expected: &[&str] = &["version", "encoding", "standalone"];
    let mut seen_version = false;
    loop {
        let had_ws = cur.skip_ws();
        if cur.at_end() {
            break;
        }
        if !had_ws {
            return Err(nwf("malformed XML declaration"));
        }
        let start = cur.i;
        while cur.peek().is_some_and(|b| b.is_ascii_lowercase()) {
            cur.i += 1;
        }
        let name = sub(body, start, cur.i);
        let pos = expected
            .iter()
            .position(|&n| n == name)
            .ok_or_else(|| nwf("unknown or misplaced pseudo-attribute in XML declaration"))?;
        expected = expected.get(pos + 1..).unwrap_or_default();
        cur.skip_ws();
        cur.expect(b'=', "expected '=' in XML declaration")?;
        cur.skip_ws();
        let quote = match cur.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(nwf("unquoted value in XML declaration")),
        };
        cur.i += 1;
        let rest = cur.rest();
        let end =
            memchr(quote, rest.as_bytes()).ok_or_else(|| nwf("unterminated XML declaration"))?;
        let value = sub(rest, 0, end);
        cur.i += end + 1;
        let ok = match name {
            "version" => {
                seen_version = true;
                value
                    .strip_prefix("1.")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            }
            "encoding" => value.eq_ignore_ascii_case("UTF-8"),
            _ => value == "yes" || value == "no",
        };
        if !ok || !seen_version {
            return Err(nwf("unsupported XML declaration (only version 1.x, UTF-8)"));
        }
    }
    if seen_version {
        Ok(())
    } else {
        Err(nwf("XML declaration without version"))
    }
}
