//! Escaping of character data and attribute values.

/// Appends `text` to `out`, escaping `&`, `<` and `>`.
pub fn escape_text(out: &mut Vec<u8>, text: &str) {
    let _ = (out, text);
    todo!("meerkat-xml helper")
}

/// Appends `value` to `out` for use inside a single- or double-quoted attribute.
pub fn escape_attr(out: &mut Vec<u8>, value: &str) {
    let _ = (out, value);
    todo!("meerkat-xml helper")
}
