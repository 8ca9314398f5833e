//! The XMPP-over-WebSocket endpoint (RFC 7395 §3.1-§3.2): the HTTP upgrade with the `xmpp`
//! subprotocol, then the ordinary c2s negotiation and session on the upgraded socket.
//!
//! An upgrade request that does not offer the `xmpp` subprotocol is refused with
//! `400 Bad Request` (RFC 7395 §3.2 requires it; a client without it could not speak the
//! framing). Frame and message limits are handed to the WebSocket layer, which refuses larger
//! input from the frame header, before reading the payload.

use super::ConnInfo;
use crate::c2s::conn::Conn;
use crate::c2s::transport::Transport;
use crate::c2s::websocket::WsIo;
use crate::c2s::{listener, negotiate};
use crate::server::ServerRef;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meerkat_config::{HttpListener, TlsMode};
use meerkat_xml::StreamParser;
use std::sync::Arc;

/// The WebSocket subprotocol of RFC 7395 §3.2.
pub const SUBPROTOCOL: &str = "xmpp";

/// Bytes the WebSocket layer reserves for reading. Its default (128 KiB) would be held by every
/// idle connection; a message larger than this is still read, into a buffer grown for it (and
/// kept at that size by tungstenite afterwards, at most `max_message_bytes`).
const READ_BUFFER_BYTES: usize = 4096;

/// What the endpoint needs, built once per listener.
struct Endpoint {
    server: ServerRef,
    /// Negotiation settings for plain (`ws://`) connections.
    plain: Arc<meerkat_stream::c2s::Config>,
    /// Negotiation settings for TLS (`wss://`) connections.
    tls: Arc<meerkat_stream::c2s::Config>,
    max_message_bytes: usize,
    max_frame_bytes: usize,
}

/// The route serving the endpoint.
pub fn route(server: &ServerRef, cfg: &HttpListener) -> axum::routing::MethodRouter {
    let endpoint = Arc::new(Endpoint {
        server: server.clone(),
        // STARTTLS does not exist on a WebSocket: the HTTP connection is TLS or it is not.
        plain: negotiate::config(server, TlsMode::None),
        tls: negotiate::config(server, TlsMode::Tls),
        max_message_bytes: cfg.max_message_bytes,
        max_frame_bytes: cfg.max_frame_bytes,
    });
    axum::routing::get(upgrade).with_state(endpoint)
}

/// Serves `GET <websocket_path>`: upgrades to an XMPP WebSocket.
async fn upgrade(
    State(endpoint): State<Arc<Endpoint>>,
    Extension(info): Extension<ConnInfo>,
    ws: WebSocketUpgrade,
) -> Response {
    let ws = ws.protocols([SUBPROTOCOL]);
    if ws.selected_protocol().is_none() {
        tracing::debug!(what = "websocket_without_xmpp_subprotocol", peer = %info.peer);
        return (StatusCode::BAD_REQUEST, "the `xmpp` WebSocket subprotocol is required\n")
            .into_response();
    }
    let ws = ws
        .max_message_size(endpoint.max_message_bytes)
        .max_frame_size(endpoint.max_frame_bytes)
        .read_buffer_size(READ_BUFFER_BYTES)
        // Messages are flushed as the connection writes them: no second buffer.
        .write_buffer_size(0);
    // axum runs the upgraded socket in a task of its own: the token makes shutdown wait for it
    // as for every other connection.
    let token = endpoint.server.tasks.token();
    ws.on_failed_upgrade(|e| tracing::debug!(what = "websocket_upgrade_failed", error = %e))
        .on_upgrade(move |socket| async move {
            let _token = token;
            let ConnInfo { peer, tls, tls_exporter, slot } = info;
            let _slot = slot;
            let m = crate::metrics::get();
            m.websocket_connections.increment(1);
            m.websocket_open.increment(1.0);
            let server = endpoint.server.clone();
            let negotiation = if tls { endpoint.tls.clone() } else { endpoint.plain.clone() };
            let io = Transport::WebSocket(Box::new(WsIo::new(socket, tls, tls_exporter)));
            let parser = StreamParser::new(listener::parser_limits(&server));
            let mut conn = Conn::new(io, parser, peer);
            listener::run_conn(server, &mut conn, negotiation).await;
            m.websocket_open.decrement(1.0);
        })
}
