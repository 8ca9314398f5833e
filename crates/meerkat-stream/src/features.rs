//! Stream features (RFC 6120 §4.3.2) offered at each c2s negotiation stage. Pure functions.

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

/// [`pre_auth`] plus, on TLS, the channel-binding types the -PLUS mechanisms support
/// (XEP-0440), so clients pick one that works instead of failing and falling back.
pub fn pre_auth_with_cb(
    is_tls: bool,
    mechanisms: &[&str],
    starttls: bool,
    tls_required: bool,
    register: bool,
) -> Element {
    let mut f = pre_auth(mechanisms, starttls, tls_required, register);
    if is_tls && mechanisms.iter().any(|m| m.ends_with("-PLUS")) {
        let mut cb = Element::new("sasl-channel-binding", ns::SASL_CB);
        for t in ["tls-server-end-point", "tls-exporter"] {
            cb = cb.with_child(Element::new("channel-binding", ns::SASL_CB).with_attr("type", t));
        }
        f = f.with_child(cb);
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

/// `features` plus Stream Management (XEP-0198 §3) and Client State Indication (XEP-0352 §4)
/// when offered.
pub fn with_sm_csi(mut features: Element, sm: bool, csi: bool) -> Element {
    if sm {
        features = features.with_child(Element::new("sm", crate::sm::NS));
    }
    if csi {
        features = features.with_child(Element::new("csi", CSI_NS));
    }
    features
}

/// `urn:xmpp:csi:0` (XEP-0352).
pub const CSI_NS: &str = "urn:xmpp:csi:0";

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
    fn channel_binding_types_only_on_tls_with_plus_mechanisms() {
        let cb = |f: &Element| f.get_child("sasl-channel-binding", ns::SASL_CB).cloned();
        assert!(cb(&pre_auth_with_cb(false, &["SCRAM-SHA-256"], true, false, true)).is_none());
        assert!(cb(&pre_auth_with_cb(true, &["SCRAM-SHA-256"], false, false, true)).is_none());
        let f =
            pre_auth_with_cb(true, &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], false, false, true);
        let types: Vec<_> = cb(&f)
            .expect("cb")
            .children()
            .filter_map(|c| c.attr("type").map(str::to_owned))
            .collect();
        assert_eq!(types, ["tls-server-end-point", "tls-exporter"]);
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
