//! The one-to-one message path besides routing: what happens to a message a client sends
//! ([`from_client`]) before the router delivers it. Recipient-side work (XEP-0359 stamp, the
//! recipient's archive, `received` carbons) is called from `router::local`.

use super::{carbons, mam, Me};
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;

/// Checks and records a message from a client before it is routed: refuses a forged carbon,
/// removes stanza-ids forged in our name, archives the sender's copy (XEP-0313) and sends
/// `sent` carbons (XEP-0280). `Err` is the error to answer instead of routing.
pub async fn from_client(
    server: &ServerRef,
    me: &Me,
    msg: &mut Element,
) -> Result<(), StanzaError> {
    if carbons::is_forged(msg) {
        return Err(StanzaError::new(SEC::NotAcceptable)
            .with_text("Clients cannot send message carbons".to_owned()));
    }
    mam::archive::strip_forged_ids(server, msg);
    // To the sender's own account: the recipient side archives and copies it.
    let own =
        msg.attr("to").and_then(crate::addr::Addr::parse).is_some_and(|a| a.bare() == me.bare);
    if own {
        return Ok(());
    }
    mam::from_client(server, me, msg).await;
    carbons::fork_sent(server, me, msg);
    Ok(())
}
