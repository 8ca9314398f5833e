//! vCard-temp (XEP-0054) and vCard-based avatars (XEP-0153).
//!
//! Implemented: get and set of the user's own vCard (no `to`, or the own bare JID); get of
//! another account's vCard at its bare JID (an empty `<vCard xmlns='vcard-temp'/>` when none
//! is stored, XEP-0054 §3.1); set on another account is `forbidden`; a size bound
//! (`modules.vcard.max_bytes`, `not-acceptable` with text beyond). XEP-0153: the SHA-1 of the
//! PHOTO's BINVAL is kept beside the vCard; the server puts
//! `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>` into the user's available
//! presence (an empty `<photo/>` when the stored vCard has no photo; a client's non-empty
//! `<photo/>` is kept as it is), and after a vCard set it re-broadcasts each available
//! resource's presence with the new hash (XEP-0153 §4.2).
//!
//! Not implemented: vCard4 (XEP-0292) and PEP avatars (XEP-0084); EXTVAL photos get no hash.

mod avatar;

pub use avatar::stamp_presence;

use super::{iq, Me};
use crate::router;
use crate::server::ServerRef;
use base64::Engine as _;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_storage::StoredVcard;
use meerkat_xml::Element;
use sha1::Digest as _;

/// The vCard-temp namespace.
pub const NS: &str = "vcard-temp";
/// The XEP-0153 presence extension namespace.
pub const NS_UPDATE: &str = "vcard-temp:x:update";

/// vCard get/set from the user's own session.
pub async fn own(server: &ServerRef, me: &Me, req: &Element) {
    let reply = if !server.config.modules.vcard.enabled {
        iq::error(req, StanzaError::new(SEC::ServiceUnavailable))
    } else {
        match req.attr("type") {
            Some("get") => get(server, req, &me.user, &me.host).await,
            Some("set") => set(server, me, req).await,
            _ => None,
        }
    };
    if let Some(r) = reply {
        router::route(server, r).await;
    }
}

/// vCard requests to another account's bare JID: get answers, set is `forbidden`.
pub async fn account(server: &ServerRef, req: &Element, node: &str, domain: &str) {
    let reply = if !server.config.modules.vcard.enabled {
        iq::error(req, StanzaError::new(SEC::ServiceUnavailable))
    } else {
        match req.attr("type") {
            Some("get") => get(server, req, node, domain).await,
            _ => iq::error(req, StanzaError::new(SEC::Forbidden)),
        }
    };
    if let Some(r) = reply {
        router::route(server, r).await;
    }
}

async fn get(server: &ServerRef, req: &Element, node: &str, domain: &str) -> Option<Element> {
    match server.storage.misc.vcard.get_vcard(domain, node).await {
        Ok(Some(v)) => match parse(&v.xml) {
            Some(card) => Some(iq::result(req, Some(card))),
            None => iq::error(req, StanzaError::new(SEC::InternalServerError)),
        },
        // XEP-0054 §3.1: no vCard is an empty vCard.
        Ok(None) => Some(iq::result(req, Some(Element::new("vCard", NS)))),
        Err(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
    }
}

async fn set(server: &ServerRef, me: &Me, req: &Element) -> Option<Element> {
    let Some(card) = iq::payload(req).filter(|p| p.is("vCard", NS)) else {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    };
    let xml = card.to_xml();
    let max = server.config.modules.vcard.max_bytes;
    if xml.len() > max {
        let e = StanzaError::new(SEC::NotAcceptable)
            .with_text(format!("vCard larger than {max} bytes"));
        return iq::error(req, e);
    }
    let stored = StoredVcard { xml, photo_sha1: photo_hash(card) };
    let changed_photo = match server.storage.misc.vcard.get_vcard(&me.host, &me.user).await {
        Ok(old) => old.map(|o| o.photo_sha1) != Some(stored.photo_sha1.clone()),
        Err(_) => true,
    };
    if server.storage.misc.vcard.set_vcard(&me.host, &me.user, &stored).await.is_err() {
        return iq::error(req, StanzaError::new(SEC::InternalServerError));
    }
    let reply = iq::result(req, None);
    if changed_photo {
        router::route(server, reply).await;
        avatar::rebroadcast(server, me, stored.photo_sha1.as_deref()).await;
        return None;
    }
    Some(reply)
}

/// SHA-1 (lowercase hex) of the decoded `PHOTO/BINVAL`, `None` without one.
pub fn photo_hash(card: &Element) -> Option<String> {
    let binval = card.get_child("PHOTO", NS)?.get_child("BINVAL", NS)?.text();
    let clean: String = binval.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(clean).ok()?;
    if bytes.is_empty() {
        return None;
    }
    let digest = sha1::Sha1::digest(&bytes);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Parses a stored vCard back into an element.
fn parse(xml: &str) -> Option<Element> {
    let mut p = meerkat_xml::StreamParser::new(meerkat_xml::Limits::default());
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(xml.as_bytes());
    loop {
        match p.next_event() {
            Ok(Some(meerkat_xml::StreamEvent::Stanza(el))) => return Some(el),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_hash_of_binval() {
        // base64("abc") = "YWJj"; SHA-1("abc") is the FIPS 180 test vector.
        let card = Element::new("vCard", NS).with_child(
            Element::new("PHOTO", NS)
                .with_child(Element::new("TYPE", NS).with_text("image/png"))
                .with_child(Element::new("BINVAL", NS).with_text("YW\nJj")),
        );
        assert_eq!(photo_hash(&card).as_deref(), Some("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(photo_hash(&Element::new("vCard", NS)), None);
        let bad = Element::new("vCard", NS).with_child(
            Element::new("PHOTO", NS).with_child(Element::new("BINVAL", NS).with_text("!!")),
        );
        assert_eq!(photo_hash(&bad), None);
    }

    #[test]
    fn stored_xml_round_trips() {
        let card = Element::new("vCard", NS).with_child(Element::new("FN", NS).with_text("A & B"));
        let back = parse(&card.to_xml()).expect("parses");
        assert_eq!(back, card);
    }
}
