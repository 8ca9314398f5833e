//! Data forms (XEP-0004) of the administration commands, with `FORM_TYPE`
//! `http://jabber.org/protocol/admin` (XEP-0133 §3).

use meerkat_proto::ns;
use meerkat_xml::Element;

/// The `FORM_TYPE` of XEP-0133 forms.
pub const FORM_TYPE: &str = "http://jabber.org/protocol/admin";

/// A form (`type` form or result) with title and the hidden FORM_TYPE.
pub fn form(kind: &str, title: &str, instructions: Option<&str>) -> Element {
    let mut x = Element::new("x", ns::DATA_FORMS)
        .with_attr("type", kind.to_owned())
        .with_child(Element::new("title", ns::DATA_FORMS).with_text(title.to_owned()));
    if let Some(i) = instructions {
        x = x.with_child(Element::new("instructions", ns::DATA_FORMS).with_text(i.to_owned()));
    }
    x.with_child(field("hidden", "FORM_TYPE", None, &[FORM_TYPE], false))
}

/// A `<field/>` with optional label, values and `<required/>`.
pub fn field(
    kind: &str,
    var: &str,
    label: Option<&str>,
    values: &[&str],
    required: bool,
) -> Element {
    let mut f = Element::new("field", ns::DATA_FORMS)
        .with_attr("type", kind.to_owned())
        .with_attr("var", var.to_owned());
    if let Some(l) = label {
        f.set_attr("label", l.to_owned());
    }
    if required {
        f = f.with_child(Element::new("required", ns::DATA_FORMS));
    }
    for v in values {
        f = f.with_child(Element::new("value", ns::DATA_FORMS).with_text((*v).to_owned()));
    }
    f
}

/// The values of field `var` of a submitted form (at most `max`).
pub fn values(x: &Element, var: &str, max: usize) -> Vec<String> {
    x.children()
        .filter(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some(var))
        .flat_map(|f| f.children().filter(|v| v.is("value", ns::DATA_FORMS)).map(|v| v.text()))
        .take(max)
        .collect()
}

/// The single value of field `var`, `None` when absent or empty.
pub fn value(x: &Element, var: &str) -> Option<String> {
    values(x, var, 1).into_iter().next().filter(|v| !v.is_empty())
}
