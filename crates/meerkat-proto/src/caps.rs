//! Entity Capabilities (XEP-0115 §5): the verification string of a disco#info answer and its
//! hash, as pure functions.
//!
//! [`verification_string`] builds the string of §5.1 from a `<query xmlns='disco#info'/>`
//! (identities, features, extended XEP-0128 forms) after the checks of §5.4 (duplicates and
//! malformed forms make the answer unverifiable); [`ver`] hashes it with one of the hash
//! functions named by their IANA text names (`sha-1`, `sha-224`, `sha-256`, `sha-384`,
//! `sha-512`) and base64-encodes the digest; [`verify`] compares with a claimed `ver`.

use crate::ns;
use base64::Engine as _;
use meerkat_xml::Element;
use sha1::Digest as _;

/// Why a disco#info answer has no verification string (XEP-0115 §5.4, step 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapsError {
    /// Two identities with the same category, type, language and name.
    #[error("duplicate identity")]
    DuplicateIdentity,
    /// A feature listed twice.
    #[error("duplicate feature")]
    DuplicateFeature,
    /// Two extended forms with the same FORM_TYPE.
    #[error("duplicate form type")]
    DuplicateFormType,
    /// An extended form whose FORM_TYPE is not a hidden field with one value.
    #[error("malformed FORM_TYPE")]
    BadFormType,
}

/// The hash function names XEP-0115 accepts here (IANA "Hash Function Textual Names").
pub const HASHES: &[&str] = &["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"];

/// The verification string S of XEP-0115 §5.1 for a disco#info `<query/>`.
pub fn verification_string(query: &Element) -> Result<String, CapsError> {
    let mut identities: Vec<String> = query
        .children()
        .filter(|c| c.is("identity", ns::DISCO_INFO))
        .map(|i| {
            format!(
                "{}/{}/{}/{}",
                i.attr("category").unwrap_or(""),
                i.attr("type").unwrap_or(""),
                i.attr("xml:lang").unwrap_or(""),
                i.attr("name").unwrap_or("")
            )
        })
        .collect();
    identities.sort();
    if identities.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(CapsError::DuplicateIdentity);
    }
    let mut features: Vec<&str> = query
        .children()
        .filter(|c| c.is("feature", ns::DISCO_INFO))
        .filter_map(|f| f.attr("var"))
        .collect();
    features.sort_unstable();
    if features.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(CapsError::DuplicateFeature);
    }
    // (FORM_TYPE, [(field var, values)]) per extended form.
    type Form = (String, Vec<(String, Vec<String>)>);
    let mut forms: Vec<Form> = Vec::new();
    for x in query.children().filter(|c| c.is("x", ns::DATA_FORMS)) {
        let type_fields: Vec<&Element> = x
            .children()
            .filter(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some("FORM_TYPE"))
            .collect();
        // A form without FORM_TYPE is ignored (§5.4 step 3.6); a malformed one fails.
        let Some(ft) = type_fields.first() else { continue };
        let values = field_values(ft);
        if type_fields.len() != 1 || ft.attr("type") != Some("hidden") || values.len() != 1 {
            return Err(CapsError::BadFormType);
        }
        let form_type = values.into_iter().next().unwrap_or_default();
        let mut fields: Vec<(String, Vec<String>)> = x
            .children()
            .filter(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") != Some("FORM_TYPE"))
            .map(|f| {
                let mut v = field_values(f);
                v.sort();
                (f.attr("var").unwrap_or("").to_owned(), v)
            })
            .collect();
        fields.sort();
        forms.push((form_type, fields));
    }
    forms.sort();
    if forms.windows(2).any(|w| w.first().map(|f| &f.0) == w.get(1).map(|f| &f.0)) {
        return Err(CapsError::DuplicateFormType);
    }
    let mut s = String::new();
    for i in &identities {
        s.push_str(i);
        s.push('<');
    }
    for f in &features {
        s.push_str(f);
        s.push('<');
    }
    for (form_type, fields) in &forms {
        s.push_str(form_type);
        s.push('<');
        for (var, values) in fields {
            s.push_str(var);
            s.push('<');
            for v in values {
                s.push_str(v);
                s.push('<');
            }
        }
    }
    Ok(s)
}

fn field_values(field: &Element) -> Vec<String> {
    field.children().filter(|v| v.is("value", ns::DATA_FORMS)).map(|v| v.text()).collect()
}

/// Base64 of the digest of `s` with the hash function named `hash`; `None` for a name this
/// implementation does not support.
pub fn hash_string(hash: &str, s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digest: Vec<u8> = match hash {
        "sha-1" => sha1::Sha1::digest(b).to_vec(),
        "sha-224" => sha2::Sha224::digest(b).to_vec(),
        "sha-256" => sha2::Sha256::digest(b).to_vec(),
        "sha-384" => sha2::Sha384::digest(b).to_vec(),
        "sha-512" => sha2::Sha512::digest(b).to_vec(),
        _ => return None,
    };
    Some(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// The `ver` of a disco#info `<query/>` with hash function `hash`.
pub fn ver(hash: &str, query: &Element) -> Option<String> {
    hash_string(hash, &verification_string(query).ok()?)
}

/// True when `claimed` is the `ver` of `query` under `hash` (§5.4 step 3.8).
pub fn verify(hash: &str, claimed: &str, query: &Element) -> bool {
    ver(hash, query).is_some_and(|v| v == claimed)
}

/// The server's own `<c/>` (§6.3 for stream features) for its disco#info `<query/>`.
pub fn caps_element(node: &str, query: &Element) -> Option<Element> {
    Some(
        Element::new("c", ns::CAPS)
            .with_attr("hash", "sha-1")
            .with_attr("node", node)
            .with_attr("ver", ver("sha-1", query)?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(category: &str, typ: &str, lang: Option<&str>, name: &str) -> Element {
        let mut e = Element::new("identity", ns::DISCO_INFO)
            .with_attr("category", category)
            .with_attr("type", typ)
            .with_attr("name", name);
        if let Some(l) = lang {
            e.set_attr("xml:lang", l);
        }
        e
    }

    fn feature(var: &str) -> Element {
        Element::new("feature", ns::DISCO_INFO).with_attr("var", var)
    }

    fn field(var: &str, typ: Option<&str>, values: &[&str]) -> Element {
        let mut f = Element::new("field", ns::DATA_FORMS).with_attr("var", var);
        if let Some(t) = typ {
            f.set_attr("type", t);
        }
        for v in values {
            f = f.with_child(Element::new("value", ns::DATA_FORMS).with_text(*v));
        }
        f
    }

    const FEATURES: [&str; 4] = [
        "http://jabber.org/protocol/disco#items",
        "http://jabber.org/protocol/caps",
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/muc",
    ];

    /// XEP-0115 §5.2, the simple example.
    #[test]
    fn simple_example() {
        let mut q = Element::new("query", ns::DISCO_INFO).with_child(id(
            "client",
            "pc",
            None,
            "Exodus 0.9.1",
        ));
        for f in FEATURES {
            q = q.with_child(feature(f));
        }
        assert_eq!(
            verification_string(&q).expect("S"),
            "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
             http://jabber.org/protocol/muc<"
        );
        assert_eq!(ver("sha-1", &q).as_deref(), Some("QgayPKawpkPSDYmwT/WM94uAlu0="));
        assert!(verify("sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=", &q));
        assert!(!verify("sha-1", "QgayPKawpkPSDYmwT/WM94uAlu1=", &q));
        assert!(!verify("md5", "QgayPKawpkPSDYmwT/WM94uAlu0=", &q));
    }

    fn complex() -> Element {
        let mut q = Element::new("query", ns::DISCO_INFO)
            .with_child(id("client", "pc", Some("en"), "Psi 0.11"))
            .with_child(id("client", "pc", Some("el"), "Ψ 0.11"));
        for f in FEATURES {
            q = q.with_child(feature(f));
        }
        let x = Element::new("x", ns::DATA_FORMS)
            .with_attr("type", "result")
            .with_child(field("FORM_TYPE", Some("hidden"), &["urn:xmpp:dataforms:softwareinfo"]))
            .with_child(field("ip_version", None, &["ipv4", "ipv6"]))
            .with_child(field("os", None, &["Mac"]))
            .with_child(field("os_version", None, &["10.5.1"]))
            .with_child(field("software", None, &["Psi"]))
            .with_child(field("software_version", None, &["0.11"]));
        q.with_child(x)
    }

    /// XEP-0115 §5.3, the complex example (two identities, an extended form).
    #[test]
    fn complex_example() {
        let q = complex();
        assert_eq!(
            verification_string(&q).expect("S"),
            "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
             http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<\
             ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<\
             software_version<0.11<"
        );
        assert_eq!(ver("sha-1", &q).as_deref(), Some("q07IKJEyjvHSyhy//CH0CxmKi8w="));
    }

    #[test]
    fn duplicates_and_bad_forms_are_unverifiable() {
        let q = complex().with_child(feature("http://jabber.org/protocol/muc"));
        assert_eq!(verification_string(&q), Err(CapsError::DuplicateFeature));
        let q = complex().with_child(id("client", "pc", Some("en"), "Psi 0.11"));
        assert_eq!(verification_string(&q), Err(CapsError::DuplicateIdentity));
        let bad = Element::new("x", ns::DATA_FORMS).with_child(field(
            "FORM_TYPE",
            None,
            &["urn:example"],
        ));
        let q = complex().with_child(bad);
        assert_eq!(verification_string(&q), Err(CapsError::BadFormType));
        let dup = Element::new("x", ns::DATA_FORMS).with_child(field(
            "FORM_TYPE",
            Some("hidden"),
            &["urn:xmpp:dataforms:softwareinfo"],
        ));
        assert_eq!(
            verification_string(&complex().with_child(dup)),
            Err(CapsError::DuplicateFormType)
        );
        // A form with no FORM_TYPE is ignored, not an error.
        let plain = Element::new("x", ns::DATA_FORMS).with_child(field("a", None, &["b"]));
        assert_eq!(ver("sha-1", &complex().with_child(plain)), ver("sha-1", &complex()));
    }

    #[test]
    fn other_hashes_and_caps_element() {
        let q = complex();
        for h in HASHES {
            assert!(verify(h, &ver(h, &q).expect("supported"), &q), "{h}");
        }
        let c = caps_element("https://example.org", &q).expect("c");
        assert_eq!(c.attr("ver"), Some("q07IKJEyjvHSyhy//CH0CxmKi8w="));
        assert_eq!(c.attr("hash"), Some("sha-1"));
    }
}
