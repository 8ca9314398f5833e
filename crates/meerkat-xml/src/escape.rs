//! Escaping of character data and attribute values (XML 1.0 §2.4, §3.3.3).
//!
//! Both functions escape more than the bare minimum so that what [`crate::StreamParser`] reads
//! back is exactly what was written: a parser normalises a literal CR in text to LF (§2.11) and a
//! literal tab, LF or CR in an attribute value to a space (§3.3.3), so those are written as
//! character references.

/// Appends `text` to `out`, escaping `&`, `<` and `>` (and CR as `&#xD;`, so it survives the
/// line-end normalisation of the reader).
pub fn escape_text(out: &mut Vec<u8>, text: &str) {
    escape_with(out, text, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Appends `value` to `out` for use inside a single- or double-quoted attribute: `&`, `<`, `>`,
/// `'` and `"` become entity references; tab, LF and CR become character references so that
/// attribute-value normalisation does not turn them into spaces.
pub fn escape_attr(out: &mut Vec<u8>, value: &str) {
    escape_with(out, value, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\'' => Some(b"&apos;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Copies `s` into `out`, replacing each byte for which `replacement` answers `Some`. Only ASCII
/// bytes are ever replaced, so multi-byte UTF-8 sequences pass through untouched.
#[inline]
fn escape_with(out: &mut Vec<u8>, s: &str, replacement: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = replacement(b) {
            out.extend_from_slice(bytes.get(copied..i).unwrap_or_default());
            out.extend_from_slice(rep);
            copied = i + 1;
        }
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        let mut out = Vec::new();
        escape_text(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn attr(s: &str) -> String {
        let mut out = Vec::new();
        escape_attr(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_escapes() {
        assert_eq!(text(""), "");
        assert_eq!(text("plain"), "plain");
        assert_eq!(text("a & b < c > d"), "a &amp; b &lt; c &gt; d");
        assert_eq!(text("'quotes' \"stay\""), "'quotes' \"stay\"");
        assert_eq!(text("line\r\nend\ttab"), "line&#xD;\nend\ttab");
        assert_eq!(text("]]>"), "]]&gt;");
        assert_eq!(text("héllo ☃ 𝄞<"), "héllo ☃ 𝄞&lt;");
    }

    #[test]
    fn attr_escapes() {
        assert_eq!(attr("plain"), "plain");
        assert_eq!(attr("a&b<c>d'e\"f"), "a&amp;b&lt;c&gt;d&apos;e&quot;f");
        assert_eq!(attr("\t\n\r "), "&#x9;&#xA;&#xD; ");
        assert_eq!(attr("ünï"), "ünï");
    }

    #[test]
    fn appends() {
        let mut out = b"x=".to_vec();
        escape_attr(&mut out, "<");
        escape_text(&mut out, "&");
        assert_eq!(out, b"x=&lt;&amp;");
    }
}
