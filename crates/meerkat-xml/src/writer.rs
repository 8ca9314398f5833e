//! Serialisation of elements.
//!
//! The output form is fixed, so tests can compare bytes: `<name xmlns='ns' a='v'>…</name>`,
//! single-quoted attribute values, `<name/>` for an element without children, and an `xmlns`
//! declaration only where the namespace differs from the parent's. Elements are always written
//! unprefixed (their namespace as the default namespace). Attributes are written as stored, so an
//! `xmlns:p` attribute kept by the parser for a prefixed attribute (see [`crate::parser`]) is
//! written back and the element stays self-contained.
//!
//! The writer trusts the tree: names are written as they are and strings must contain only
//! characters XML allows (every tree the parser produced does).

use crate::escape::{escape_attr, escape_text};
use crate::{Element, Node};

impl Element {
    /// Appends the serialised element to `out`. An `xmlns` declaration is written only where the
    /// element's namespace differs from `parent_ns` (pass the stream's default namespace, e.g.
    /// `jabber:client`, for a top-level stanza).
    ///
    /// An attribute literally named `xmlns` is skipped: [`Element::ns`] decides the default
    /// namespace.
    pub fn write_to(&self, out: &mut Vec<u8>, parent_ns: &str) {
        out.push(b'<');
        out.extend_from_slice(self.name.as_bytes());
        if self.ns != parent_ns {
            out.extend_from_slice(b" xmlns='");
            escape_attr(out, &self.ns);
            out.push(b'\'');
        }
        for (name, value) in &self.attrs {
            if name == "xmlns" {
                continue;
            }
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"='");
            escape_attr(out, value);
            out.push(b'\'');
        }
        if self.children.is_empty() {
            out.extend_from_slice(b"/>");
            return;
        }
        out.push(b'>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_to(out, &self.ns),
                Node::Text(t) => escape_text(out, t),
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(self.name.as_bytes());
        out.push(b'>');
    }

    /// The element as a standalone XML string (its namespace always declared).
    pub fn to_xml(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out, "");
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Element, Node};

    fn write(e: &Element, parent: &str) -> String {
        let mut out = Vec::new();
        e.write_to(&mut out, parent);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_element_self_closes() {
        let e = Element::new("presence", "jabber:client");
        assert_eq!(write(&e, "jabber:client"), "<presence/>");
        assert_eq!(e.to_xml(), "<presence xmlns='jabber:client'/>");
        assert_eq!(Element::new("x", "").to_xml(), "<x/>");
    }

    #[test]
    fn message_exact_form() {
        let e = Element::new("message", "jabber:client")
            .with_attr("to", "juliet@example.com")
            .with_attr("type", "chat")
            .with_attr("xml:lang", "en")
            .with_child(Element::new("body", "jabber:client").with_text("Art thou <not> R&J?"))
            .with_child(Element::new("active", "http://jabber.org/protocol/chatstates"));
        assert_eq!(
            write(&e, "jabber:client"),
            "<message to='juliet@example.com' type='chat' xml:lang='en'>\
             <body>Art thou &lt;not&gt; R&amp;J?</body>\
             <active xmlns='http://jabber.org/protocol/chatstates'/></message>"
        );
    }

    #[test]
    fn namespace_only_where_it_changes() {
        let e = Element::new("iq", "jabber:client").with_child(
            Element::new("query", "jabber:iq:roster")
                .with_child(Element::new("item", "jabber:iq:roster"))
                .with_child(Element::new("x", "")),
        );
        assert_eq!(
            write(&e, "jabber:client"),
            "<iq><query xmlns='jabber:iq:roster'><item/><x xmlns=''/></query></iq>"
        );
    }

    #[test]
    fn attribute_values_escaped() {
        let e = Element::new("a", "").with_attr("v", "'\"<&>\t\n\r");
        assert_eq!(e.to_xml(), "<a v='&apos;&quot;&lt;&amp;&gt;&#x9;&#xA;&#xD;'/>");
    }

    #[test]
    fn xmlns_attribute_skipped() {
        let mut e = Element::new("a", "urn:x");
        e.attrs.push(("xmlns".into(), "urn:other".into()));
        e.attrs.push(("xmlns:p".into(), "urn:p".into()));
        e.attrs.push(("p:q".into(), "1".into()));
        assert_eq!(e.to_xml(), "<a xmlns='urn:x' xmlns:p='urn:p' p:q='1'/>");
    }

    #[test]
    fn text_children_and_mixed_content() {
        let mut e = Element::new("body", "jabber:client");
        e.children.push(Node::Text("a\r\nb".into()));
        e.children.push(Node::Element(Element::new("br", "jabber:client")));
        e.children.push(Node::Text("c".into()));
        assert_eq!(write(&e, "jabber:client"), "<body>a&#xD;\nb<br/>c</body>");
    }
}
