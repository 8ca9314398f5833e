//! IQ reply construction (RFC 6120 §8.2.3): every get/set gets exactly one result or error.

use meerkat_proto::error::{error_reply, StanzaError};
use meerkat_xml::Element;

pub use meerkat_proto::iq::result;

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
