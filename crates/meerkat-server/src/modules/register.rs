//! In-band registration (XEP-0077): account creation before authentication (allowed only from
//! configured address ranges; loopback by default, as MongooseIM ships), password change and
//! account removal after authentication.

use super::iq;
use crate::addr::{self, Addr};
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_proto::register::{field, form, MAX_PASSWORD_BYTES};
use meerkat_proto::sasl::StoredCredentials;
use meerkat_xml::Element;
use std::net::IpAddr;

/// True when `ip` may create accounts.
pub fn ip_allowed(server: &ServerRef, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    server.config.modules.register.allowed_ips.iter().any(|net| net.contains(&ip))
}

/// Derives SCRAM keys off the async threads (PBKDF2 is deliberately slow).
pub async fn derive(server: &ServerRef, password: String) -> Option<StoredCredentials> {
    let iterations = server.config.auth.scram_iterations;
    tokio::task::spawn_blocking(move || StoredCredentials::from_password(&password, iterations))
        .await
        .ok()
}

fn password_ok(server: &ServerRef, password: &str) -> bool {
    password.len() >= server.config.modules.register.min_password_len.max(1)
        && password.len() <= MAX_PASSWORD_BYTES
}

/// Handles a registration IQ from an authenticated user: the form, a password change, or
/// account removal (XEP-0077 §3.2, §3.3). Returns the reply to route.
pub async fn post_auth(server: &ServerRef, req: &Element) -> Option<Element> {
    if !iq::is_request(req) {
        return None;
    }
    let Some(from) = req.attr("from").and_then(Addr::parse) else {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    };
    let (Some(user), true) = (from.node.clone(), server.serves(&from.domain)) else {
        return iq::error(req, StanzaError::new(SEC::NotAllowed));
    };
    if !server.config.modules.register.enabled {
        return iq::error(req, StanzaError::new(SEC::ServiceUnavailable));
    }
    let q = req.get_child("query", ns::REGISTER)?;
    if req.attr("type") == Some("get") {
        let f = form()
            .with_child(Element::new("registered", ns::REGISTER))
            .with_child(Element::new("username", ns::REGISTER).with_text(user.clone()));
        let mut f2 = Element::new("query", ns::REGISTER);
        // Keep one <username/>: the filled one.
        for c in f.children().filter(|c| !(c.name == "username" && c.text().is_empty())) {
            f2 = f2.with_child(c.clone());
        }
        return Some(iq::result(req, Some(f2)));
    }
    if q.has_child("remove", ns::REGISTER) {
        return match crate::admin_ops::remove_account(server, &user, &from.domain).await {
            Ok(()) => Some(iq::result(req, None)),
            Err(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
        };
    }
    let Some(password) = field(q, "password") else {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    };
    if let Some(u) = field(q, "username") {
        if addr::normalize_node(&u).as_deref() != Some(user.as_str()) {
            return iq::error(req, StanzaError::new(SEC::NotAllowed));
        }
    }
    if !password_ok(server, &password) {
        return iq::error(req, StanzaError::new(SEC::NotAcceptable));
    }
    let creds = derive(server, password).await?;
    match server.storage.users.set_credentials(&from.domain, &user, &creds).await {
        Ok(()) => {
            tracing::info!(what = "password_changed", user = %user, host = %from.domain);
            Some(iq::result(req, None))
        }
        Err(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
    }
}
