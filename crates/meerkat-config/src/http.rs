//! `[[listen.http]]`: HTTP listeners for browser clients. They serve XMPP over WebSocket
//! (RFC 7395) and BOSH (XEP-0124/XEP-0206); HTTP File Upload will be a further route.

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
    /// Path of the BOSH endpoint (XEP-0124/XEP-0206); empty disables BOSH on this listener.
    pub bosh_path: String,
    /// Longest a BOSH request is held waiting for data (the session's `wait` is the client's
    /// value capped to this), in seconds.
    pub bosh_max_wait_s: u64,
    /// Most BOSH requests held at once waiting for data (`hold`, client's value capped).
    pub bosh_max_hold: u32,
    /// Most simultaneous BOSH requests a client may have outstanding (`requests`); also the
    /// rid window and the number of responses kept for retransmission. At least `bosh_max_hold
    /// + 1`.
    pub bosh_max_requests: u32,
    /// A BOSH session with no request for this long ends (`inactivity`), in seconds.
    pub bosh_max_inactivity_s: u64,
    /// Shortest interval between two empty polls when the session holds no request
    /// (`polling`), in seconds.
    pub bosh_polling_s: u64,
    /// Longest inactivity a client may ask for with `pause` (`maxpause`), in seconds.
    pub bosh_max_pause_s: u64,
    /// Largest BOSH request body. At most `limits.max_stanza_bytes`. A larger body is refused
    /// from its `Content-Length`, or once the limit is read, with `policy-violation`; worst case
    /// per request: this many bytes.
    pub bosh_max_body_bytes: usize,
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
            bosh_path: "/http-bind".into(),
            bosh_max_wait_s: 60,
            bosh_max_hold: 1,
            bosh_max_requests: 2,
            bosh_max_inactivity_s: 30,
            bosh_polling_s: 2,
            bosh_max_pause_s: 120,
            bosh_max_body_bytes: 65536,
        }
    }
}
