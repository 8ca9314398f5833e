//! Last activity (XEP-0012): server uptime, and when a contact was last online.

use super::iq;
use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::Subscription;
use meerkat_xml::Element;

fn query(seconds: u64, status: &str) -> Element {
    let q = Element::new("query", ns::LAST).with_attr("seconds", seconds.to_string());
    if status.is_empty() {
        q
    } else {
        q.with_text(status)
    }
}

/// Uptime of the server (XEP-0012 §4).
pub fn server_uptime(server: &ServerRef, req: &Element) -> Option<Element> {
    if req.attr("type") != Some("get") {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    }
    Some(iq::result(req, Some(query(server.started.elapsed().as_secs(), ""))))
}

/// Time since an account's last logout (XEP-0012 §3); only for the account itself and contacts
/// with a subscription to its presence (RFC 6121 §8.5.2.1.3 spirit: presence is private).
pub async fn account(
    server: &ServerRef,
    req: &Element,
    node: &str,
    domain: &str,
) -> Option<Element> {
    if req.attr("type") != Some("get") {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    }
    let requester = req.attr("from").and_then(Addr::parse).map(|a| a.bare()).unwrap_or_default();
    let me = format!("{node}@{domain}");
    if requester != me {
        let item = server.storage.roster.get_item(domain, node, &requester).await.ok().flatten();
        let allowed =
            matches!(item.map(|i| i.subscription), Some(Subscription::From | Subscription::Both));
        if !allowed {
            return iq::error(req, StanzaError::new(SEC::Forbidden));
        }
    }
    if server.sessions.resources(&me).iter().any(|e| e.presence.is_some()) {
        return Some(iq::result(req, Some(query(0, ""))));
    }
    let pending = server.last_activity.pending(domain, node);
    let stored = match pending {
        Some(last) => Ok(Some(last)),
        None => server.storage.last.get_last(domain, node).await,
    };
    match stored {
        Ok(Some(last)) => {
            let now = chrono::Utc::now().timestamp();
            let secs = now.saturating_sub(last.seconds).max(0) as u64;
            Some(iq::result(req, Some(query(secs, &last.status))))
        }
        Ok(None) => iq::error(req, StanzaError::new(SEC::ServiceUnavailable)),
        Err(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
    }
}
