//! In-band registration (XEP-0077) pieces shared by the pre-authentication negotiation and the
//! post-authentication module.

use crate::ns;
use meerkat_xml::Element;

/// Longest password accepted; bounds the PBKDF2 input a peer controls.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The registration form (XEP-0077 §3.1, example 2).
pub fn form() -> Element {
    Element::new("query", ns::REGISTER)
        .with_child(
            Element::new("instructions", ns::REGISTER)
                .with_text("Choose a username and password to register with this server"),
        )
        .with_child(Element::new("username", ns::REGISTER))
        .with_child(Element::new("password", ns::REGISTER))
}

/// Text of the field `name` of a registration query.
pub fn field(query: &Element, name: &str) -> Option<String> {
    query.get_child(name, ns::REGISTER).map(|e| e.text())
}
