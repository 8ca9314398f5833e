//! `[[listen.http]]`: HTTP listeners for browser clients. Today they serve XMPP over WebSocket
//! (RFC 7395); BOSH (XEP-0206) and HTTP File Upload will be further routes on the same listener.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// `[[listen.http]]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpListener {
    /// Address to bind.
    pub ip_address: IpAddr,
    /// Port to bind.
    pub port: u16,
    /// Serve HTTPS (and so `wss://`) with the `[tls]` certificate instead of plain HTTP.
    pub tls: bool,
    /// Listen backlog.
    pub backlog: u32,
    /// Most simultaneous HTTP connections (WebSocket sessions included) on this listener.
    pub max_connections: usize,
    /// Path of the XMPP-over-WebSocket endpoint (RFC 7395).
    pub websocket_path: String,
    /// Largest WebSocket message, i.e. one XMPP element (RFC 7395 §3.3.3). At most
    /// `limits.max_stanza_bytes`. A larger message closes the connection (close code 1009)
    /// before it is read whole; worst case per connection: this plus one read buffer.
    pub max_message_bytes: usize,
    /// Largest single WebSocket frame; at most `max_message_bytes`.
    pub max_frame_bytes: usize,
}

impl Default for HttpListener {
    fn default() -> Self {
        HttpListener {
            ip_address: IpAddr::from([127, 0, 0, 1]),
            port: 5280,
            tls: false,
            backlog: 1024,
            max_connections: 100_000,
            websocket_path: "/ws-xmpp".into(),
            max_message_bytes: 65536,
            max_frame_bytes: 65536,
        }
    }
}
