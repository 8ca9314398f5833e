//! Service discovery (XEP-0030) for the server and for accounts.

use super::iq;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::Element;

/// Features the server domain always advertises (the core of RFC 6120/6121 and the small
/// services every node runs).
const CORE_SERVER_FEATURES: &[&str] = &[
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
];

/// Features an account's bare JID always advertises (served by the server on its behalf).
const CORE_ACCOUNT_FEATURES: &[&str] = &[ns::DISCO_INFO, ns::DISCO_ITEMS, ns::PING, ns::LAST];

/// Features the server domain advertises: the core ones and those of the enabled modules, so
/// a client never tries a module the configuration turned off.
pub fn server_features(server: &ServerRef) -> Vec<&'static str> {
    let m = &server.config.modules;
    let modules = [
        (m.carbons.enabled, super::carbons::NS),
        (m.mam.enabled, super::mam::NS_SID),
        // Also on the server, not only on accounts (XEP-0313 §7): clients such as profanity
        // decide from the server's features whether to query the archive.
        (m.mam.enabled, super::mam::NS),
        (m.mam.enabled, super::mam::NS_EXTENDED),
        (m.blocking.enabled, super::blocking::NS),
        (m.vcard.enabled, super::vcard::NS),
        (m.private.enabled, super::private::NS),
        (m.adhoc.enabled, super::adhoc::NS),
    ];
    let enabled = modules.into_iter().filter(|(on, _)| *on).map(|(_, var)| var);
    CORE_SERVER_FEATURES.iter().copied().chain(enabled).collect()
}

/// Features an account's bare JID advertises: the core ones and the archive's when enabled.
pub fn account_features(server: &ServerRef) -> Vec<&'static str> {
    let mam: &[&str] = if server.config.modules.mam.enabled {
        &[super::mam::NS, super::mam::NS_EXTENDED, super::mam::NS_SID]
    } else {
        &[]
    };
    CORE_ACCOUNT_FEATURES.iter().chain(mam).copied().collect()
}

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

/// disco#info / disco#items answered with this identity, these features and these items.
fn answer(
    req: &Element,
    identity: (&str, &str, Option<&str>),
    features: &[&str],
    items: &[&str],
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
        let mut q = Element::new("query", ns::DISCO_ITEMS);
        for jid in items {
            q = q.with_child(Element::new("item", ns::DISCO_ITEMS).with_attr("jid", *jid));
        }
        Some(iq::result(req, Some(q)))
    }
}

/// disco#info / disco#items of the server domain.
pub fn server(server: &ServerRef, req: &Element) -> Option<Element> {
    // The components of the host asked (MUC, pubsub, upload), so clients find them.
    let host = req.attr("to").unwrap_or_default();
    let items = server.components.of_host(host);
    answer(req, ("server", "im", Some("Meerkat")), &server_features(server), &items)
}

/// disco#info / disco#items of an account's bare JID.
pub fn account(server: &ServerRef, req: &Element) -> Option<Element> {
    answer(req, ("account", "registered", None), &account_features(server), &[])
}
