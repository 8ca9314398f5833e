//! IQ replies (RFC 6120 §8.2.3): every `get`/`set` gets exactly one `result` or `error`.

use meerkat_xml::Element;

/// `<iq type='result'>` answering `req`, with `id` copied, `from`/`to` swapped and an optional
/// payload.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_swaps_addresses_and_keeps_the_id() {
        let req = Element::new("iq", "jabber:client")
            .with_attr("id", "a1")
            .with_attr("from", "u@h/r")
            .with_attr("to", "h")
            .with_attr("type", "get");
        let r = result(&req, None);
        assert_eq!(
            r.to_xml(),
            "<iq xmlns='jabber:client' type='result' id='a1' from='h' to='u@h/r'/>"
        );
    }
}
