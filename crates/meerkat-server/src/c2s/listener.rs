//! Accept loop of a c2s listener: one task per connection (cap and EMFILE back-off in
//! [`crate::accept`]), direct TLS, then negotiation and session.

use super::conn::Conn;
use super::transport::Transport;
use super::{negotiate, session};
use crate::accept::Acceptor;
use crate::server::ServerRef;
use meerkat_config::{C2sListener, TlsMode};
use meerkat_xml::{Limits, StreamParser};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Binds a listener socket with the configured backlog.
pub fn bind(cfg: &C2sListener) -> std::io::Result<TcpListener> {
    crate::accept::bind(std::net::SocketAddr::new(cfg.ip_address, cfg.port), cfg.backlog)
}

/// Accepts connections until shutdown.
pub async fn serve(server: ServerRef, listener: TcpListener, cfg: C2sListener) {
    let mut acceptor = Acceptor::new(listener, cfg.max_connections);
    let negotiation = negotiate::config(&server, cfg.tls_mode);
    while let Some((tcp, peer, permit)) = acceptor.next(&server).await {
        crate::metrics::get().connections.increment(1);
        let server2 = server.clone();
        let mode = cfg.tls_mode;
        let negotiation = negotiation.clone();
        server.tasks.spawn(async move {
            let _permit = permit;
            handle(server2, tcp, peer, mode, negotiation).await;
        });
    }
}

/// The XML parser limits of client streams (TCP and WebSocket alike).
pub fn parser_limits(server: &ServerRef) -> Limits {
    let l = &server.config.limits;
    Limits {
        max_stanza_bytes: l.max_stanza_bytes,
        max_depth: l.max_xml_depth,
        max_attributes: l.max_xml_attributes,
        max_name_bytes: l.max_xml_name_bytes,
        ..Limits::default()
    }
}

async fn handle(
    server: ServerRef,
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    mode: TlsMode,
    negotiation: Arc<meerkat_stream::c2s::Config>,
) {
    let transport = if mode == TlsMode::Tls {
        let deadline = Duration::from_millis(server.config.limits.negotiation_timeout_ms);
        // Boxed: the handshake future is large and over once the session runs.
        match Box::pin(tokio::time::timeout(deadline, server.tls.acceptor.accept(tcp))).await {
            Ok(Ok(tls)) => Transport::Tls(Box::new(tls)),
            _ => return,
        }
    } else {
        Transport::Plain(tcp)
    };
    let mut conn = Conn::new(transport, StreamParser::new(parser_limits(&server)), peer);
    run_conn(server, &mut conn, negotiation).await;
}

/// Runs negotiation and then the session on an accepted connection (any transport).
pub async fn run_conn(
    server: ServerRef,
    conn: &mut Conn,
    negotiation: Arc<meerkat_stream::c2s::Config>,
) {
    // Boxed: negotiation's state (SASL, TLS handshake) is large and short-lived; inline, it would
    // stay part of every idle session's task for the session's whole life.
    let auth = match Box::pin(negotiate::negotiate(&server, conn, negotiation)).await {
        // Boxed so the session's task does not keep the bind request's room for its lifetime.
        Ok(auth) => Box::new(auth),
        Err(negotiate::Abort::Closed) => return,
    };
    session::run(server, conn, auth).await;
}
