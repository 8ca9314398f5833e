//! Stream features (RFC 6120 §4.3.2). They moved to the sans-I/O negotiation crate, which decides
//! what each stage offers; re-exported here so other c2s transports (WebSocket, BOSH) find them
//! where they used to be.

pub use meerkat_stream::features::{post_auth, pre_auth, pre_auth_with_cb};
