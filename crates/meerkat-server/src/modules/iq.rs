//! IQ reply construction (RFC 6120 §8.2.3): every get/set gets exactly one result or error.

use meerkat_proto::error::{error_reply, StanzaError};
use meerkat_xml::Element;

/// `<iq type='result'>` answering `req`, with an optional payload; `from`/`to` swapped.
pub fn result(req: &Element, payload: Option<Element>) -> Element {
    let mut r = Element::new("iq", req.ns.clone()).with_attr("type", "result");
    if let Some(id) = req.attr("id") {
        r.set_attr("id", id);
    }
    if let Some(to) = req.attr("to") {
        r.set_attr("from", to);
    }
    if let Some(from) = req.attr("from") {
        r.set_attr("to", from);
    }
    if let Some(p) = payload {
        r = r.with_child(p);
    }
    r
}

/// The error reply to `req` (`None` if `req` is itself an error).
pub fn error(req: &Element, err: StanzaError) -> Option<Element> {
    error_reply(req, &err)
}

/// The payload element of a request IQ (its first child element).
pub fn payload(req: &Element) -> Option<&Element> {
    req.children().next()
}

/// True for requests (`get`/`set`) that must be answered.
pub fn is_request(req: &Element) -> bool {
    matches!(req.attr("type"), Some("get" | "set"))
}
