//! Small informational services of the server: software version (XEP-0092) and entity time
//! (XEP-0202).

use super::iq;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::Element;

/// XEP-0092: name, version and (if configured) operating system.
pub fn version(server: &ServerRef, req: &Element) -> Option<Element> {
    if req.attr("type") != Some("get") {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    }
    let mut q = Element::new("query", ns::VERSION)
        .with_child(Element::new("name", ns::VERSION).with_text("Meerkat"))
        .with_child(Element::new("version", ns::VERSION).with_text(env!("CARGO_PKG_VERSION")));
    if server.config.modules.version.show_os {
        q = q.with_child(Element::new("os", ns::VERSION).with_text(std::env::consts::OS));
    }
    Some(iq::result(req, Some(q)))
}

/// XEP-0202: the server's time in UTC.
pub fn time(req: &Element) -> Option<Element> {
    if req.attr("type") != Some("get") {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    }
    let t = Element::new("time", ns::TIME)
        .with_child(Element::new("tzo", ns::TIME).with_text("+00:00"))
        .with_child(Element::new("utc", ns::TIME).with_text(xep0082_now()));
    Some(iq::result(req, Some(t)))
}

/// Current time as an XEP-0082 DateTime in UTC with milliseconds.
pub fn xep0082_now() -> String {
    xep0082(chrono::Utc::now().timestamp_millis())
}

/// Milliseconds since the epoch as an XEP-0082 DateTime in UTC.
pub fn xep0082(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xep0082_format() {
        assert_eq!(xep0082(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(xep0082(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
