//! Server features, one file per protocol: each is a set of functions the router and the c2s
//! session call for the stanzas in its namespace. Modules act through the router and storage;
//! they never see sockets.
//!
//! Dispatch:
//! - [`server_stanza`]: stanzas to the server's own domain (`to='localhost'`).
//! - [`account_iq`]: IQs to a local account's bare JID, answered by the server on its behalf.
//! - [`own_iq`]: IQs a user sends to their own account (no `to`), e.g. roster.

pub mod adhoc;
pub mod blocking;
pub mod caps;
pub mod carbons;
pub mod chat;
pub mod csi;
pub mod disco;
pub mod iq;
pub mod last;
pub mod last_writer;
pub mod mam;
pub mod misc_state;
pub mod offline;
pub mod pep;
pub mod presence;
pub mod private;
pub mod pubsub;
pub mod register;
pub mod roster;
pub mod services;
pub mod stream_management;
pub mod vcard;

use crate::router;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::Element;

/// The sending session, as modules see it.
#[derive(Debug, Clone)]
pub struct Me {
    /// Localpart.
    pub user: String,
    /// Domain.
    pub host: String,
    /// `user@host`.
    pub bare: String,
    /// Resource.
    pub resource: String,
    /// Session id in the session table.
    pub sid: crate::session::SessionId,
}

impl Me {
    /// `user@host/resource`.
    pub fn full(&self) -> String {
        format!("{}/{}", self.bare, self.resource)
    }
}

/// Handles a stanza addressed to the server's domain itself.
pub async fn server_stanza(server: &ServerRef, stanza: Element) {
    if caps::on_response(server, &stanza).await {
        return;
    }
    if stanza.name != "iq" || !iq::is_request(&stanza) {
        // Messages and presences to the server have no handler; only errors would be noise.
        return;
    }
    let payload_ns = iq::payload(&stanza).map(|p| p.ns.clone()).unwrap_or_default();
    let reply = match payload_ns.as_str() {
        ns::DISCO_INFO | ns::DISCO_ITEMS => {
            caps::server_node_info(server, &stanza).or_else(|| adhoc::server_disco(server, &stanza))
        }
        ns::PING => Some(iq::result(&stanza, None)),
        ns::VERSION => services::version(server, &stanza),
        ns::TIME => services::time(&stanza),
        ns::LAST => last::server_uptime(server, &stanza),
        ns::REGISTER => register::post_auth(server, &stanza).await,
        adhoc::NS => adhoc::answer(server, &stanza).await,
        _ => iq::error(&stanza, StanzaError::new(SEC::ServiceUnavailable)),
    };
    if let Some(reply) = reply {
        router::route(server, reply).await;
    }
}

/// Answers an IQ addressed to a local account's bare JID: the server handles it on the
/// account's behalf (RFC 6120 §10.5.4).
pub async fn account_iq(server: &ServerRef, stanza: Element, node: &str, domain: &str) {
    if !iq::is_request(&stanza) || misc_state::account_iq(server, &stanza, node, domain).await {
        return;
    }
    let payload_ns = iq::payload(&stanza).map(|p| p.ns.clone()).unwrap_or_default();
    let reply = match payload_ns.as_str() {
        ns::DISCO_INFO | ns::DISCO_ITEMS => {
            pep::disco::account(server, &stanza, node, domain, disco::account(server, &stanza))
                .await
        }
        ns::PUBSUB | ns::PUBSUB_OWNER if pep::handles(server, &payload_ns) => {
            pep::handle_iq(server, &stanza, node, domain).await
        }
        ns::PING => Some(iq::result(&stanza, None)),
        ns::LAST => last::account(server, &stanza, node, domain).await,
        _ => iq::error(&stanza, StanzaError::new(SEC::ServiceUnavailable)),
    };
    if let Some(reply) = reply {
        router::route(server, reply).await;
    }
}

/// Handles an IQ a user sent with no `to` or to their own bare JID.
pub async fn own_iq(server: &ServerRef, me: &Me, stanza: Element) {
    let payload_ns = iq::payload(&stanza).map(|p| p.ns.clone()).unwrap_or_default();
    if payload_ns == ns::ROSTER {
        roster::handle(server, me, &stanza).await;
        return;
    }
    if payload_ns == carbons::NS && carbons::handle_iq(server, me, &stanza).await {
        return;
    }
    if payload_ns == mam::NS && mam::handle_iq(server, me, &stanza).await {
        return;
    }
    if misc_state::own_iq(server, me, &stanza).await {
        return;
    }
    if payload_ns == ns::REGISTER {
        if let Some(reply) = register::post_auth(server, &stanza).await {
            router::route(server, reply).await;
        }
        return;
    }
    account_iq(server, stanza, &me.user, &me.host).await;
}
