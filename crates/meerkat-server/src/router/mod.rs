//! Stanza routing (RFC 6120 §10, RFC 6121 §8): the one entry point [`route`] decides, from the
//! `to` address, whether the server itself, a local account, a local session or a remote domain
//! handles a stanza.
//!
//! ```text
//! c2s session --route()--> server domain  -> modules::server_iq (disco, ping, version, ...)
//!                      \-> local bare JID -> rules of RFC 6121 §8.5.2 (priority, offline)
//!                      \-> local full JID -> session mailbox, or §8.5.3 fallbacks
//!                      \-> (cluster) account held on another node -> its NATS subject
//!                      \-> component domain (conference., pubsub., upload.) -> components
//!                      \-> other domain   -> remote-server-not-found (no s2s yet)
//! ```
//! Routing runs in the sender's task; it never waits on the recipient (mailboxes are bounded
//! and `try_send` is used), so a slow reader cannot stall its senders.

mod local;

use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_proto::error::{error_reply, StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;

pub(crate) use local::route_local_from;
pub use local::{deliver_to_available, route_local};

/// Where a stanza for a local-domain account comes from, which decides whether the cluster may
/// still be asked (never for a stanza that came from it: no loops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Routed on this node (a client, a module): other nodes may hold the recipient.
    Local,
    /// Sent here by another node that found this node subscribed to the account.
    Cluster,
    /// No node took it: the single-node rules for an account without sessions, here.
    Fallback,
}

/// Routes a stanza whose `from` has been stamped by the server. Errors are bounced to `from`.
pub async fn route(server: &ServerRef, stanza: Element) {
    // Boxed once here: routing can recurse (a module answers by routing a reply), and an
    // async recursion needs one indirection.
    Box::pin(route_inner(server, stanza)).await
}

async fn route_inner(server: &ServerRef, stanza: Element) {
    let Some(to) = stanza.attr("to").and_then(Addr::parse) else {
        bounce(server, &stanza, StanzaError::new(SEC::JidMalformed)).await;
        return;
    };
    if !crate::modules::blocking::outbound_allowed(server, &stanza, &to).await {
        return;
    }
    if server.serves(&to.domain) {
        route_local(server, stanza, to).await;
    } else if let Some(component) = server.components.get(&to.domain).cloned() {
        crate::components::route(server, component, stanza, to).await;
    } else {
        bounce(server, &stanza, StanzaError::new(SEC::RemoteServerNotFound)).await;
    }
}

/// Sends the error reply to `stanza` back to its sender (never answers an error with an error).
pub async fn bounce(server: &ServerRef, stanza: &Element, error: StanzaError) {
    let Some(reply) = error_reply(stanza, &error) else { return };
    route(server, reply).await;
}
