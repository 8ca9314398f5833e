//! Serialisation of elements.

use crate::Element;

impl Element {
    /// Appends the serialised element to `out`. An `xmlns` declaration is written only where the
    /// element's namespace differs from `parent_ns` (pass the stream's default namespace, e.g.
    /// `jabber:client`, for a top-level stanza).
    pub fn write_to(&self, out: &mut Vec<u8>, parent_ns: &str) {
        let _ = (out, parent_ns);
        todo!("meerkat-xml helper")
    }

    /// The element as a standalone XML string (its namespace always declared).
    pub fn to_xml(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out, "");
        String::from_utf8(out).unwrap_or_default()
    }
}
