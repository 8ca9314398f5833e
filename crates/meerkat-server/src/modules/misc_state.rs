//! In-memory state of the blocking and ad-hoc command modules, one field of [`crate::Server`].

use super::adhoc::AdhocSessions;
use super::blocking::BlockCache;

/// Node-wide state of the modules of issue 4 "misc" (blocking, ad-hoc commands).
#[derive(Default)]
pub struct MiscState {
    /// Blocklists of online users (XEP-0191).
    pub blocking: BlockCache,
    /// Multi-stage ad-hoc command sessions (XEP-0050).
    pub adhoc: AdhocSessions,
}

/// IQs a user sends to their own account for the blocking, vCard and private-storage modules.
/// Returns false when the payload is none of theirs.
pub async fn own_iq(
    server: &crate::server::ServerRef,
    me: &super::Me,
    stanza: &meerkat_xml::Element,
) -> bool {
    let Some(payload) = super::iq::payload(stanza) else { return false };
    match payload.ns.as_str() {
        super::blocking::NS => super::blocking::handle(server, me, stanza).await,
        super::vcard::NS => super::vcard::own(server, me, stanza).await,
        super::private::NS => super::private::own(server, me, stanza).await,
        _ => return false,
    }
    true
}

/// IQs to another local account's bare JID for the vCard and private-storage modules. Returns
/// false when the payload is none of theirs.
pub async fn account_iq(
    server: &crate::server::ServerRef,
    stanza: &meerkat_xml::Element,
    node: &str,
    domain: &str,
) -> bool {
    if !super::iq::is_request(stanza) {
        return false;
    }
    let Some(payload) = super::iq::payload(stanza) else { return false };
    match payload.ns.as_str() {
        super::vcard::NS => super::vcard::account(server, stanza, node, domain).await,
        super::private::NS => super::private::account(server, stanza).await,
        _ => return false,
    }
    true
}
