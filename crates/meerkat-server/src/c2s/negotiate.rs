//! Stream negotiation before a session exists (RFC 6120 §4-§7, XEP-0077): the I/O around the
//! sans-I/O [`meerkat_stream::c2s::Negotiation`], which makes every protocol decision.
//!
//! This driver only moves bytes and answers the machine's questions: it feeds parser events
//! in, writes what the machine sends, runs the STARTTLS handshake, looks up credentials,
//! creates accounts, runs PLAIN's PBKDF2 on a blocking thread, consults the per-address login
//! limiter, and bounds every read by the deadline the machine reports (a peer too slow gets
//! `connection-timeout` from the machine). See the machine's module doc for the sequence.

use super::conn::{new_stream_id, Conn, ConnEnd};
use super::transport::Transport;
use crate::modules::{register, stream_management};
use crate::server::ServerRef;
use meerkat_config::TlsMode;
use meerkat_proto::sasl::{ChannelBinding, Mechanism};
use meerkat_storage::StorageError;
use meerkat_stream::c2s::{self, Action, Negotiation, Peer, RegisterError};
use meerkat_xml::Element;
use std::net::IpAddr;
use std::sync::Arc;
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
    /// Set instead of a bind request when the client resumed a session (XEP-0198 §5).
    pub resumed: Option<Box<Resumed>>,
}

/// A session taken over by `<resume/>`: the caller answers `<resumed/>` and serves it.
pub struct Resumed {
    /// The detached session's state.
    pub session: Box<stream_management::Detached>,
    /// The resumption id the client gave.
    pub previd: String,
    /// The client's `h`.
    pub h: u32,
}

/// How negotiation ended without a bind request.
pub enum Abort {
    /// The stream is over; the connection was closed (with an error where due).
    Closed,
}

/// Runs negotiation until the client asks to bind a resource.
pub async fn negotiate(
    server: &ServerRef,
    conn: &mut Conn,
    config: Arc<c2s::Config>,
) -> Result<Authenticated, Abort> {
    let peer = Peer {
        tls: conn.io.is_tls().then(|| channel_binding(server, conn)),
        may_register: register::ip_allowed(server, conn.peer.ip()),
    };
    // Boxed so the machine can move to a blocking thread and back at the cost of a pointer.
    let mut m = Box::new(Negotiation::new(config, peer, now()));
    loop {
        while let Some(action) = m.poll_action() {
            match action {
                Action::SendHeader { from } => conn.queue_header(&from, &new_stream_id()),
                Action::Send(el) => conn.queue(&el),
                Action::StartTls => {
                    starttls(server, conn, m.deadline()).await?;
                    m.tls_established(channel_binding(server, conn), now());
                }
                Action::RestartStream => conn.reset_parser(),
                Action::CheckLoginThrottle => {
                    let allowed = server.auth_failures.allowed(conn.peer.ip(), now());
                    m.login_throttle(allowed, now());
                }
                Action::LookupCredentials { host, user } => {
                    match server.storage.users.get_credentials(&host, &user).await {
                        Ok(creds) => m.credentials(creds, now()),
                        Err(e) => {
                            tracing::warn!(what = "credentials_lookup_failed", peer = %conn.peer, error = %e);
                            m.credentials_unavailable(now());
                        }
                    }
                }
                Action::CheckPassword => {
                    // PLAIN derives keys from the offered password (PBKDF2): keep it off the
                    // runtime threads that serve other connections.
                    let checked = tokio::task::spawn_blocking(move || {
                        m.check_password();
                        m
                    });
                    m = checked.await.map_err(|_| Abort::Closed)?;
                }
                Action::Register { host, user, password } => {
                    let result = create_account(server, &host, &user, password, conn.peer.ip());
                    let result = result.await;
                    m.register_result(result, now());
                }
                Action::LoggedIn { user, host, mechanism } => {
                    crate::metrics::get().logins.increment(1);
                    tracing::info!(what = "login", user = %user, host = %host, mechanism = mechanism.name(), peer = %conn.peer);
                }
                Action::LoginFailed { mechanism, condition, password_checked } => {
                    if password_checked {
                        server.auth_failures.record_failure(conn.peer.ip(), now());
                    }
                    crate::metrics::get().login_failures.increment(1);
                    tracing::warn!(what = "auth_failed", peer = %conn.peer, mechanism = mechanism.name(), condition);
                }
                Action::RegisterRefused => {
                    tracing::warn!(what = "register_refused", ip = %conn.peer.ip());
                }
                Action::Close(None) => {
                    conn.close().await;
                    return Err(Abort::Closed);
                }
                Action::Close(Some(err)) => {
                    tracing::info!(what = "negotiation_failed", peer = %conn.peer, condition = ?err.condition);
                    // The machine sent our header first where the stream had none, so the
                    // host given here is never written.
                    let host = server.config.general.hosts.first().cloned().unwrap_or_default();
                    conn.fail(err, &host).await;
                    return Err(Abort::Closed);
                }
                Action::Bind { user, host, iq } => {
                    return Ok(Authenticated { user, host, bind_iq: iq, resumed: None });
                }
                Action::Resume { user, host, previd, h } => {
                    let bare = format!("{user}@{host}");
                    match stream_management::take_over(server, &bare, &previd).await {
                        Some(session) => {
                            let resumed = Some(Box::new(Resumed { session, previd, h }));
                            let bind_iq = Element::new("iq", meerkat_proto::ns::CLIENT);
                            return Ok(Authenticated { user, host, bind_iq, resumed });
                        }
                        None => m.resume_failed(now()),
                    }
                }
            }
        }
        if conn.flush().await.is_err() {
            return Err(Abort::Closed);
        }
        match conn.next_event(m.deadline().map(Instant::from_std)).await {
            Ok(ev) => m.handle_event(ev, now()),
            Err(ConnEnd::Timeout) => m.timeout(now()),
            Err(ConnEnd::Xml(e)) => m.xml_error(&e),
            // EOF or a socket error: nothing more can be written.
            Err(_) => return Err(Abort::Closed),
        }
    }
}

/// The clock the machine is fed with.
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// What the machine offers and enforces on a listener; built once per listener.
pub fn config(server: &ServerRef, mode: TlsMode) -> Arc<c2s::Config> {
    let cfg = &server.config;
    Arc::new(c2s::Config {
        hosts: cfg.general.hosts.clone(),
        mechanisms: cfg
            .auth
            .sasl_mechanisms
            .iter()
            .filter_map(|n| Mechanism::from_name(n))
            .collect(),
        tls_mode: match mode {
            TlsMode::None => c2s::TlsMode::None,
            TlsMode::Starttls => c2s::TlsMode::Starttls,
            TlsMode::StarttlsRequired => c2s::TlsMode::StarttlsRequired,
            TlsMode::Tls => c2s::TlsMode::Tls,
        },
        registration_enabled: cfg.modules.register.enabled,
        min_password_len: cfg.modules.register.min_password_len,
        roster_versioning: cfg.modules.roster.versioning,
        step_timeout: Duration::from_millis(cfg.limits.negotiation_timeout_ms),
        unauthenticated_timeout: Duration::from_millis(cfg.limits.unauthenticated_timeout_ms),
        scram_iterations: cfg.auth.scram_iterations,
        stream_management: cfg.modules.stream_management.enabled,
        csi: cfg.modules.csi.enabled,
        server_caps: crate::modules::caps::server_caps(server),
    })
}

/// Channel-binding data of the connection as it is now (none before TLS).
fn channel_binding(server: &ServerRef, conn: &Conn) -> ChannelBinding {
    ChannelBinding {
        tls_exporter: conn.io.tls_exporter(),
        tls_server_end_point: conn.io.is_tls().then(|| server.tls.server_end_point.clone()),
        plus_offered: false,
    }
}

/// Sends the queued `<proceed/>`, drops every byte received so far and upgrades the transport.
async fn starttls(
    server: &ServerRef,
    conn: &mut Conn,
    deadline: Option<std::time::Instant>,
) -> Result<(), Abort> {
    conn.flush().await.map_err(|_| Abort::Closed)?;
    // Bytes pipelined after <starttls/> must not survive into the encrypted stream (RFC 6120
    // §5.4.3.3): the parser is reset before the handshake.
    conn.parser.reset();
    let plain = std::mem::replace(&mut conn.io, Transport::Detached);
    let Transport::Plain(tcp) = plain else { return Err(Abort::Closed) };
    let accept = server.tls.acceptor.accept(tcp);
    let accepted = match deadline {
        Some(d) => tokio::time::timeout_at(Instant::from_std(d), accept).await.ok(),
        None => Some(accept.await),
    };
    match accepted {
        Some(Ok(tls)) => {
            conn.io = Transport::Tls(Box::new(tls));
            conn.header_sent = false;
            Ok(())
        }
        Some(Err(e)) => {
            tracing::debug!(what = "tls_handshake_failed", peer = %conn.peer, error = %e);
            Err(Abort::Closed)
        }
        None => Err(Abort::Closed),
    }
}

/// Creates an account asked for by in-band registration (the machine checked the request).
async fn create_account(
    server: &ServerRef,
    host: &str,
    user: &str,
    password: String,
    ip: IpAddr,
) -> Result<(), RegisterError> {
    match server.storage.users.user_exists(host, user).await {
        Ok(true) => return Err(RegisterError::Conflict),
        Ok(false) => {}
        Err(_) => return Err(RegisterError::Internal),
    }
    let creds = register::derive(server, password).await.ok_or(RegisterError::Internal)?;
    match server.storage.users.create_user(host, user, &creds).await {
        Ok(()) => {
            tracing::info!(what = "user_registered", user = %user, host = %host, %ip);
            Ok(())
        }
        Err(StorageError::AlreadyExists) => Err(RegisterError::Conflict),
        Err(_) => Err(RegisterError::Internal),
    }
}
