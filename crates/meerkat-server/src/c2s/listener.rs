//! Accept loop of a c2s listener: connection cap, EMFILE back-off, one task per connection.

use super::conn::Conn;
use super::transport::Transport;
use super::{negotiate, session};
use crate::server::ServerRef;
use meerkat_config::{C2sListener, TlsMode};
use meerkat_xml::{Limits, StreamParser};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Binds a listener socket with the configured backlog.
pub fn bind(cfg: &C2sListener) -> std::io::Result<TcpListener> {
    let addr = std::net::SocketAddr::new(cfg.ip_address, cfg.port);
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(cfg.backlog)
}

/// Accepts connections until shutdown.
pub async fn serve(server: ServerRef, listener: TcpListener, cfg: C2sListener) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let negotiation = negotiate::config(&server, cfg.tls_mode);
    let mut last_emfile_log: Option<std::time::Instant> = None;
    loop {
        // Waiting for a slot before accepting leaves excess clients in the kernel backlog
        // instead of accepting sockets we cannot serve.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = server.shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = server.shutdown.cancelled() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                crate::metrics::get().accept_errors.increment(1);
                // Out of descriptors (EMFILE/ENFILE) or kernel memory: existing sessions keep
                // running; we pause accepting, and log at most once a second.
                let now = std::time::Instant::now();
                if last_emfile_log.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
                    last_emfile_log = Some(now);
                    if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                        tracing::error!(what = "accept_emfile", error = %e, sessions = server.sessions.len(),
                            "out of file descriptors: not accepting for 100 ms; raise the open-file limit");
                    } else {
                        tracing::warn!(what = "accept_failed", error = %e);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        crate::metrics::get().connections.increment(1);
        let _ = tcp.set_nodelay(true);
        let server2 = server.clone();
        let mode = cfg.tls_mode;
        let negotiation = negotiation.clone();
        server.tasks.spawn(async move {
            let _permit = permit;
            handle(server2, tcp, peer, mode, negotiation).await;
        });
    }
}

fn parser_limits(server: &ServerRef) -> Limits {
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
    // Boxed: negotiation's state (SASL, TLS handshake) is large and short-lived; inline, it would
    // stay part of every idle session's task for the session's whole life.
    let auth = match Box::pin(negotiate::negotiate(&server, &mut conn, negotiation)).await {
        // Boxed so the session's task does not keep the bind request's room for its lifetime.
        Ok(auth) => Box::new(auth),
        Err(negotiate::Abort::Closed) => return,
    };
    session::run(server, &mut conn, auth).await;
}
