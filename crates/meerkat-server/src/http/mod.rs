//! HTTP listeners for browser clients (`[[listen.http]]`): XMPP over WebSocket (RFC 7395) at
//! `websocket_path` and BOSH (XEP-0124/XEP-0206) at `bosh_path`. HTTP File Upload is meant to
//! be a further route of the same [`router`], sharing the accept loop, TLS and connection cap.
//!
//! # Layout
//! - this file: binding, the accept loop, TLS, and serving one HTTP/1.1 connection with hyper
//!   (upgrades enabled) through the axum router. Each request carries a [`ConnInfo`] extension
//!   with what the handlers need to know about the connection under it.
//! - [`upload`]: HTTP File Upload (XEP-0363) PUT/GET routes, when the upload service is on.
//! - [`websocket`]: the WebSocket endpoint; the upgraded socket then runs the ordinary c2s
//!   negotiation and session (see [`crate::c2s::websocket`] for the framing).
//! - [`bosh`]: the BOSH endpoint; each session runs the ordinary c2s negotiation and session
//!   over its requests (see [`crate::c2s::bosh`] for the transport).
//!
//! Every HTTP connection holds a slot of the listener's `max_connections` for its whole life,
//! an upgraded WebSocket included. The TLS handshake and each request's headers must arrive
//! within `limits.negotiation_timeout_ms`.

pub mod bosh;
pub mod upload;
pub mod websocket;

use crate::accept::Acceptor;
use crate::server::ServerRef;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use meerkat_config::HttpListener;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

/// Most bytes hyper buffers for one request's head (request line and headers); its default
/// (about 400 KiB) would let each slow client hold that much. hyper's floor is 8 KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What a handler knows about the connection a request came on.
#[derive(Clone)]
pub struct ConnInfo {
    /// Remote address.
    pub peer: SocketAddr,
    /// True when the connection is HTTPS.
    pub tls: bool,
    /// `tls-exporter` channel-binding data (RFC 9266), TLS 1.3 only.
    pub tls_exporter: Option<Vec<u8>>,
    /// The connection's slot; an upgraded WebSocket keeps it after the HTTP connection ends.
    pub slot: Arc<OwnedSemaphorePermit>,
}

/// Binds a listener socket with the configured backlog.
pub fn bind(cfg: &HttpListener) -> std::io::Result<TcpListener> {
    crate::accept::bind(SocketAddr::new(cfg.ip_address, cfg.port), cfg.backlog)
}

/// The routes of one HTTP listener.
pub fn router(server: &ServerRef, cfg: &HttpListener) -> axum::Router {
    let router = axum::Router::new()
        .route(&cfg.websocket_path, websocket::route(server, cfg))
        .merge(upload::routes(server));
    if cfg.bosh_path.is_empty() {
        return router;
    }
    router.route(&cfg.bosh_path, bosh::route(server, cfg))
}

/// Accepts connections until shutdown.
pub async fn serve(server: ServerRef, listener: TcpListener, cfg: HttpListener) {
    let mut acceptor = Acceptor::new(listener, cfg.max_connections);
    let router = router(&server, &cfg);
    while let Some((tcp, peer, permit)) = acceptor.next(&server).await {
        crate::metrics::get().http_connections.increment(1);
        let server2 = server.clone();
        let router = router.clone();
        let tls = cfg.tls;
        server.tasks.spawn(async move {
            handle(server2, tcp, peer, Arc::new(permit), tls, router).await;
        });
    }
}

async fn handle(
    server: ServerRef,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Arc<OwnedSemaphorePermit>,
    tls: bool,
    router: axum::Router,
) {
    let deadline = Duration::from_millis(server.config.limits.negotiation_timeout_ms);
    if !tls {
        let info = ConnInfo { peer, tls: false, tls_exporter: None, slot };
        return serve_http(&server, tcp, info, router, deadline).await;
    }
    // Boxed: the handshake future is large and over once the connection is served.
    let stream = match Box::pin(tokio::time::timeout(
        deadline,
        server.tls.http_acceptor.accept(tcp),
    ))
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(what = "tls_handshake_failed", %peer, error = %e);
            return;
        }
        Err(_) => return,
    };
    let tls_exporter = crate::c2s::transport::exporter(stream.get_ref().1);
    let info = ConnInfo { peer, tls: true, tls_exporter, slot };
    serve_http(&server, stream, info, router, deadline).await;
}

/// Serves HTTP/1.1 on one connection until it closes, is upgraded, or the node stops.
async fn serve_http<S>(
    server: &ServerRef,
    stream: S,
    info: ConnInfo,
    router: axum::Router,
    header_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router.layer(axum::Extension(info)));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = server.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}
