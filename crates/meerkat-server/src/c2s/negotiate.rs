//! Stream negotiation before a session exists (RFC 6120 §4-§7): stream header, STARTTLS, SASL,
//! in-band registration (XEP-0077), resource binding.
//!
//! Every wait has two deadlines: one per step (`negotiation_timeout_ms`) and one for the whole
//! unauthenticated phase (`unauthenticated_timeout_ms`); a peer that is slow at either gets
//! `connection-timeout`. A stanza before authentication gets `not-authorized`.

use super::conn::{new_stream_id, Conn, ConnEnd};
use super::features;
use super::transport::Transport;
use crate::server::ServerRef;
use crate::{addr, modules};
use base64::Engine;
use meerkat_config::TlsMode;
use meerkat_proto::error::{StreamError, StreamErrorCondition as C};
use meerkat_proto::ns;
use meerkat_proto::sasl::{ChannelBinding, Mechanism, SaslFailure, SaslStep, ServerMechanism};
use meerkat_xml::{Element, StreamEvent};
use std::time::Duration;
use tokio::time::Instant;

/// An authenticated stream that asked to bind a resource.
pub struct Authenticated {
    /// Normalised localpart.
    pub user: String,
    /// Host served.
    pub host: String,
    /// The bind request (an `<iq type='set'>` with `<bind/>`), answered by the caller.
    pub bind_iq: Element,
}

/// How negotiation ended without a bind request.
pub enum Abort {
    /// The stream is over; the connection was closed (with an error where due).
    Closed,
}

struct Phase {
    step: Duration,
    overall: Instant,
}

impl Phase {
    fn deadline(&self) -> Instant {
        (Instant::now() + self.step).min(self.overall)
    }
}

/// Runs negotiation until the client asks to bind a resource.
pub async fn negotiate(
    server: &ServerRef,
    conn: &mut Conn,
    mode: TlsMode,
) -> Result<Authenticated, Abort> {
    let limits = &server.config.limits;
    let phase = Phase {
        step: Duration::from_millis(limits.negotiation_timeout_ms),
        overall: Instant::now() + Duration::from_millis(limits.unauthenticated_timeout_ms),
    };
    let default_host = server.config.general.hosts.first().cloned().unwrap_or_default();
    let mut authenticated: Option<(String, String)> = None;
    loop {
        // A new stream: initial, or restarted after STARTTLS or SASL success.
        let host = match read_header(server, conn, &phase, &default_host).await {
            Ok(h) => h,
            Err(e) => return Err(end(conn, e, &default_host).await),
        };
        if let Some((_, h)) = &authenticated {
            if *h != host {
                conn.fail(StreamError::new(C::HostUnknown), &host).await;
                return Err(Abort::Closed);
            }
        }
        let offer = Offer::new(server, conn, mode);
        let feats = match &authenticated {
            None => features::pre_auth_with_cb(
                offer.is_tls,
                &offer.mechanism_names(),
                offer.starttls,
                offer.tls_required,
                server.config.modules.register.enabled && offer.register_allowed(server, conn),
            ),
            Some(_) => features::post_auth(server.config.modules.roster.versioning),
        };
        conn.queue(&feats);
        if conn.flush().await.is_err() {
            return Err(Abort::Closed);
        }
        loop {
            let el = match conn.next_event(Some(phase.deadline())).await {
                Ok(StreamEvent::Stanza(el)) => el,
                Ok(StreamEvent::Close) => {
                    conn.close().await;
                    return Err(Abort::Closed);
                }
                Ok(StreamEvent::Open(_)) => {
                    conn.fail(StreamError::new(C::NotWellFormed), &host).await;
                    return Err(Abort::Closed);
                }
                Err(e) => return Err(end(conn, e, &host).await),
            };
            if let Some((user, _)) = &authenticated {
                if el.name == "iq"
                    && el.ns == ns::CLIENT
                    && el.attr("type") == Some("set")
                    && el.has_child("bind", ns::BIND)
                {
                    return Ok(Authenticated { user: user.clone(), host, bind_iq: el });
                }
                conn.fail(StreamError::with_text(C::NotAuthorized, "Bind a resource first"), &host)
                    .await;
                return Err(Abort::Closed);
            }
            if el.is("starttls", ns::TLS) {
                if !offer.starttls {
                    conn.fail(StreamError::new(C::PolicyViolation), &host).await;
                    return Err(Abort::Closed);
                }
                match starttls(server, conn, &phase).await {
                    Ok(()) => break,
                    Err(()) => return Err(Abort::Closed),
                }
            } else if el.is("auth", ns::SASL) {
                if offer.tls_required {
                    conn.queue(&sasl_failure("encryption-required", None));
                    if conn.flush().await.is_err() {
                        return Err(Abort::Closed);
                    }
                    continue;
                }
                match sasl(server, conn, &phase, &offer, &host, &el).await {
                    Ok(Some(user)) => {
                        conn.parser.reset();
                        authenticated = Some((user, host.clone()));
                        break;
                    }
                    Ok(None) => continue,
                    Err(e) => return Err(end(conn, e, &host).await),
                }
            } else if el.name == "iq"
                && el.ns == ns::CLIENT
                && el.children().any(|c| c.is("query", ns::REGISTER))
            {
                let allowed = !offer.tls_required && offer.register_allowed(server, conn);
                let reply =
                    modules::register::pre_auth(server, &host, &el, allowed, conn.peer.ip()).await;
                conn.queue(&reply);
                if conn.flush().await.is_err() {
                    return Err(Abort::Closed);
                }
            } else {
                conn.fail(StreamError::new(C::NotAuthorized), &host).await;
                return Err(Abort::Closed);
            }
        }
    }
}

/// What this connection may be offered right now.
struct Offer {
    is_tls: bool,
    starttls: bool,
    tls_required: bool,
    mechanisms: Vec<Mechanism>,
}

impl Offer {
    fn new(server: &ServerRef, conn: &Conn, mode: TlsMode) -> Offer {
        let is_tls = conn.io.is_tls();
        let starttls = !is_tls && matches!(mode, TlsMode::Starttls | TlsMode::StarttlsRequired);
        let tls_required = !is_tls && mode == TlsMode::StarttlsRequired;
        let mechanisms = server
            .config
            .auth
            .sasl_mechanisms
            .iter()
            .filter_map(|n| Mechanism::from_name(n))
            .filter(|m| !m.is_plus() || is_tls)
            .collect();
        Offer { is_tls, starttls, tls_required, mechanisms }
    }

    fn mechanism_names(&self) -> Vec<&'static str> {
        self.mechanisms.iter().map(|m| m.name()).collect()
    }

    fn register_allowed(&self, server: &ServerRef, conn: &Conn) -> bool {
        modules::register::ip_allowed(server, conn.peer.ip())
    }
}

async fn read_header(
    server: &ServerRef,
    conn: &mut Conn,
    phase: &Phase,
    default_host: &str,
) -> Result<String, ConnEnd> {
    let open = match conn.next_event(Some(phase.deadline())).await? {
        StreamEvent::Open(o) => o,
        _ => return Err(ConnEnd::Stream(C::NotWellFormed)),
    };
    let host = match open.element.attr("to") {
        Some(to) => meerkat_proto::jid::DomainPart::new(to)
            .map(|d| d.as_str().to_owned())
            .unwrap_or_else(|_| to.to_owned()),
        None => default_host.to_owned(),
    };
    let header_host = if server.serves(&host) { host.clone() } else { default_host.to_owned() };
    conn.queue_header(&header_host, &new_stream_id());
    if open.default_ns.as_deref() != Some(ns::CLIENT) {
        return Err(ConnEnd::Stream(C::InvalidNamespace));
    }
    if !server.serves(&host) {
        return Err(ConnEnd::Stream(C::HostUnknown));
    }
    if open.element.attr("version") != Some("1.0") {
        return Err(ConnEnd::Stream(C::UnsupportedVersion));
    }
    Ok(host)
}

/// Closes the connection the way `e` requires.
pub async fn end(conn: &mut Conn, e: ConnEnd, host: &str) -> Abort {
    if let Some(err) = e.stream_error() {
        conn.fail(err, host).await;
    }
    Abort::Closed
}

async fn starttls(server: &ServerRef, conn: &mut Conn, phase: &Phase) -> Result<(), ()> {
    conn.queue(&Element::new("proceed", ns::TLS));
    conn.flush().await.map_err(|_| ())?;
    // Bytes pipelined after <starttls/> must not survive into the encrypted stream (RFC 6120
    // §5.4.3.3): the parser is reset before the handshake.
    conn.parser.reset();
    let plain = std::mem::replace(&mut conn.io, Transport::Detached);
    let Transport::Plain(tcp) = plain else { return Err(()) };
    let accept = server.tls.acceptor.accept(tcp);
    match tokio::time::timeout_at(phase.deadline(), accept).await {
        Ok(Ok(tls)) => {
            conn.io = Transport::Tls(Box::new(tls));
            conn.header_sent = false;
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::debug!(what = "tls_handshake_failed", peer = %conn.peer, error = %e);
            Err(())
        }
        Err(_) => Err(()),
    }
}

fn sasl_failure(condition: &str, text: Option<&str>) -> Element {
    let mut f = Element::new("failure", ns::SASL).with_child(Element::new(condition, ns::SASL));
    if let Some(t) = text {
        f = f.with_child(Element::new("text", ns::SASL).with_text(t));
    }
    f
}

fn decode_b64(el: &Element) -> Option<Vec<u8>> {
    let text = el.text();
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

fn b64_element(name: &str, data: &[u8]) -> Element {
    let el = Element::new(name, ns::SASL);
    if data.is_empty() {
        el
    } else {
        el.with_text(base64::engine::general_purpose::STANDARD.encode(data))
    }
}

/// One SASL exchange. `Ok(Some(user))` on success, `Ok(None)` after a failure the client may
/// retry, `Err` when the connection must end.
async fn sasl(
    server: &ServerRef,
    conn: &mut Conn,
    phase: &Phase,
    offer: &Offer,
    host: &str,
    auth: &Element,
) -> Result<Option<String>, ConnEnd> {
    let ip = conn.peer.ip();
    if !server.auth_failures.allowed(ip, std::time::Instant::now()) {
        conn.queue(&sasl_failure("not-authorized", Some("Too many failed logins; try later")));
        conn.flush().await.map_err(ConnEnd::Io)?;
        return Err(ConnEnd::Stream(C::PolicyViolation));
    }
    let mechanism = auth.attr("mechanism").and_then(Mechanism::from_name);
    let Some(mechanism) = mechanism.filter(|m| offer.mechanisms.contains(m)) else {
        conn.queue(&sasl_failure("invalid-mechanism", None));
        conn.flush().await.map_err(ConnEnd::Io)?;
        return Ok(None);
    };
    let Some(initial) = decode_b64(auth) else {
        conn.queue(&sasl_failure("incorrect-encoding", None));
        conn.flush().await.map_err(ConnEnd::Io)?;
        return Ok(None);
    };
    let binding = ChannelBinding {
        tls_exporter: conn.io.tls_exporter(),
        tls_server_end_point: conn.io.is_tls().then(|| server.tls.server_end_point.clone()),
        plus_offered: offer.mechanisms.iter().any(|m| m.is_plus()),
    };
    // Unknown users get fake SCRAM parameters with the same iteration count as real ones, so
    // the count does not reveal which accounts exist.
    let mut m = ServerMechanism::new(mechanism, binding)
        .with_fake_iterations(server.config.auth.scram_iterations);
    let mut step = m.start(&initial);
    // Only a failure after the stored credentials were consulted is a password guess. Protocol
    // failures before that (an unsupported channel-binding type such as slixmpp's tls-unique
    // on TLS 1.3, a downgrade flag) are not, and must not lock a legitimate client out while it
    // falls back to another mechanism.
    let mut credentials_checked = false;
    loop {
        match step {
            SaslStep::NeedCredentials { username } => {
                credentials_checked = true;
                let creds = match addr::normalize_node(&username) {
                    Some(node) => server
                        .storage
                        .users
                        .get_credentials(host, &node)
                        .await
                        .map_err(|e| ConnEnd::Io(std::io::Error::other(e.to_string())))?,
                    None => None,
                };
                // PLAIN derives keys from the offered password (PBKDF2): keep it off the
                // runtime threads that serve other connections.
                if mechanism == Mechanism::Plain {
                    let (m2, s) = tokio::task::spawn_blocking(move || {
                        let s = m.provide_credentials(creds.as_ref());
                        (m, s)
                    })
                    .await
                    .map_err(|e| ConnEnd::Io(std::io::Error::other(e.to_string())))?;
                    m = m2;
                    step = s;
                } else {
                    step = m.provide_credentials(creds.as_ref());
                }
            }
            SaslStep::Challenge(data) => {
                conn.queue(&b64_element("challenge", &data));
                conn.flush().await.map_err(ConnEnd::Io)?;
                let el = match conn.next_event(Some(phase.deadline())).await? {
                    StreamEvent::Stanza(el) => el,
                    _ => return Err(ConnEnd::Stream(C::NotAuthorized)),
                };
                if el.is("abort", ns::SASL) {
                    conn.queue(&sasl_failure(SaslFailure::Aborted.condition(), None));
                    conn.flush().await.map_err(ConnEnd::Io)?;
                    return Ok(None);
                }
                if !el.is("response", ns::SASL) {
                    return Err(ConnEnd::Stream(C::NotAuthorized));
                }
                step = match decode_b64(&el) {
                    Some(data) => m.respond(&data),
                    None => SaslStep::Failure(SaslFailure::MalformedRequest),
                };
            }
            SaslStep::Success { username, additional_data } => {
                let Some(user) = addr::normalize_node(&username) else {
                    step = SaslStep::Failure(SaslFailure::NotAuthorized);
                    continue;
                };
                // The mechanism checked the authzid's localpart; its domain must be this host.
                if let Some(authzid) = m.authzid() {
                    if crate::addr::Addr::parse(authzid).map(|a| a.domain) != Some(host.to_owned())
                    {
                        step = SaslStep::Failure(SaslFailure::InvalidAuthzid);
                        continue;
                    }
                }
                conn.queue(&b64_element("success", &additional_data));
                conn.flush().await.map_err(ConnEnd::Io)?;
                crate::metrics::get().logins.increment(1);
                tracing::info!(what = "login", user = %user, host = %host, mechanism = mechanism.name(), peer = %conn.peer);
                return Ok(Some(user));
            }
            SaslStep::Failure(f) => {
                if credentials_checked {
                    server.auth_failures.record_failure(ip, std::time::Instant::now());
                }
                crate::metrics::get().login_failures.increment(1);
                tracing::warn!(what = "auth_failed", peer = %conn.peer, mechanism = mechanism.name(), condition = f.condition());
                conn.queue(&sasl_failure(f.condition(), None));
                conn.flush().await.map_err(ConnEnd::Io)?;
                return Ok(None);
            }
        }
    }
}
