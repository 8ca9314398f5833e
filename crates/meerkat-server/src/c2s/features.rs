//! Stream features (RFC 6120 §4.3.2) offered at each negotiation stage. Pure functions.

use meerkat_proto::ns;
use meerkat_xml::Element;

/// Features before authentication: STARTTLS (with `<required/>` when mandatory), SASL
/// mechanisms (none until TLS when TLS is mandatory), in-band registration.
pub fn pre_auth(
    mechanisms: &[&str],
    starttls: bool,
    tls_required: bool,
    register: bool,
) -> Element {
    let mut f = Element::new("features", ns::STREAM);
    if starttls {
        let mut tls = Element::new("starttls", ns::TLS);
        if tls_required {
            tls = tls.with_child(Element::new("required", ns::TLS));
        }
        f = f.with_child(tls);
    }
    if !tls_required {
        let mut mechs = Element::new("mechanisms", ns::SASL);
        for m in mechanisms {
            mechs = mechs.with_child(Element::new("mechanism", ns::SASL).with_text(*m));
        }
        f = f.with_child(mechs);
        if register {
            f = f.with_child(Element::new("register", ns::REGISTER_FEATURE));
        }
    }
    f
}

/// Features after authentication: resource binding, the optional legacy session (RFC 3921,
/// kept for old clients), roster versioning (XEP-0237) and pre-approvals (RFC 6121 §3.4).
pub fn post_auth(roster_versioning: bool) -> Element {
    let mut f =
        Element::new("features", ns::STREAM).with_child(Element::new("bind", ns::BIND)).with_child(
            Element::new("session", ns::SESSION).with_child(Element::new("optional", ns::SESSION)),
        );
    if roster_versioning {
        f = f.with_child(Element::new("ver", ns::ROSTER_VER));
    }
    f.with_child(Element::new("sub", ns::PRE_APPROVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_required_hides_sasl_and_register() {
        let f = pre_auth(&["PLAIN"], true, true, true);
        let tls = f.get_child("starttls", ns::TLS).expect("starttls");
        assert!(tls.has_child("required", ns::TLS));
        assert!(!f.has_child("mechanisms", ns::SASL));
        assert!(!f.has_child("register", ns::REGISTER_FEATURE));
    }

    #[test]
    fn optional_tls_offers_everything_in_order() {
        let f = pre_auth(&["SCRAM-SHA-256", "PLAIN"], true, false, true);
        let names: Vec<_> = f.children().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["starttls", "mechanisms", "register"]);
        let mechs: Vec<_> = f
            .get_child("mechanisms", ns::SASL)
            .expect("mechanisms")
            .children()
            .map(|m| m.text())
            .collect();
        assert_eq!(mechs, ["SCRAM-SHA-256", "PLAIN"]);
    }

    #[test]
    fn post_auth_offers_bind_and_optional_session() {
        let f = post_auth(true);
        assert!(f.has_child("bind", ns::BIND));
        assert!(f
            .get_child("session", ns::SESSION)
            .expect("session")
            .has_child("optional", ns::SESSION));
        assert!(f.has_child("ver", ns::ROSTER_VER));
    }
}
