//! What a user's resources on other nodes must see of this node's resources (RFC 6121 §4.2.2,
//! §4.5.2, XEP-0280 `sent` carbons) and of the account's changes (roster and blocklist
//! pushes): copies addressed to the user's own bare JID, published on the account's subject
//! only while another node holds (or may hold) the account.

use super::outbound::Mode;
use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_xml::Element;

/// Sends `stanza` (its `to` is the user's bare JID) to the user's resources on other nodes.
/// Dropped when the outbox is full: like a local copy to a slow reader, not worth storing.
pub fn to_own_resources(server: &ServerRef, bare: &str, stanza: Element) {
    let Some(c) = server.cluster() else { return };
    if !c.views.must_publish(bare) {
        return;
    }
    let Some(to) = Addr::parse(bare) else { return };
    if c.outbox.try_send(stanza, &to, Mode::NoFallback).is_err() {
        tracing::debug!(what = "cluster_own_copy_dropped", %bare);
    }
}

/// An IQ set from the account to itself, from another node: a roster or blocklist push.
pub(crate) async fn deliver_push(server: &ServerRef, bare: &str, iq: &Element) {
    if iq.get_child("query", meerkat_proto::ns::ROSTER).is_some() {
        crate::modules::roster::deliver_remote_push(server, bare, iq);
        return;
    }
    let ns = crate::modules::blocking::NS;
    if let Some(p) = iq.get_child("block", ns).or_else(|| iq.get_child("unblock", ns)) {
        crate::modules::blocking::on_remote_change(server, bare, p).await;
    }
}
