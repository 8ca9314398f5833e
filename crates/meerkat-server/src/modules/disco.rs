//! Service discovery (XEP-0030) for the server and for accounts.

use super::iq;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::Element;

/// Features the server domain advertises.
pub const SERVER_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::VERSION,
    ns::TIME,
    ns::LAST,
    ns::REGISTER,
    ns::ROSTER,
    ns::MSGOFFLINE,
    ns::ROSTER_VER,
    super::carbons::NS,
    super::mam::NS_SID,
];

/// Features an account's bare JID advertises (served by the server on its behalf).
pub const ACCOUNT_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::LAST,
    super::mam::NS,
    super::mam::NS_EXTENDED,
    super::mam::NS_SID,
];

fn info(identity: (&str, &str, Option<&str>), features: &[&str], node: Option<&str>) -> Element {
    let mut q = Element::new("query", ns::DISCO_INFO);
    if let Some(n) = node {
        q.set_attr("node", n);
    }
    let mut id = Element::new("identity", ns::DISCO_INFO)
        .with_attr("category", identity.0)
        .with_attr("type", identity.1);
    if let Some(name) = identity.2 {
        id.set_attr("name", name);
    }
    q = q.with_child(id);
    for f in features {
        q = q.with_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", *f));
    }
    q
}

/// disco#info / disco#items answered with this identity and these features (no nodes, no
/// items: there are no components or published nodes yet).
fn answer(
    req: &Element,
    identity: (&str, &str, Option<&str>),
    features: &[&str],
) -> Option<Element> {
    if req.attr("type") != Some("get") {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    }
    let q = iq::payload(req)?;
    if q.attr("node").is_some() {
        return iq::error(req, StanzaError::new(SEC::ItemNotFound));
    }
    if q.ns == ns::DISCO_INFO {
        Some(iq::result(req, Some(info(identity, features, None))))
    } else {
        Some(iq::result(req, Some(Element::new("query", ns::DISCO_ITEMS))))
    }
}

/// disco#info / disco#items of the server domain.
pub fn server(req: &Element) -> Option<Element> {
    answer(req, ("server", "im", Some("Meerkat")), SERVER_FEATURES)
}

/// disco#info / disco#items of an account's bare JID.
pub fn account(req: &Element) -> Option<Element> {
    answer(req, ("account", "registered", None), ACCOUNT_FEATURES)
}
