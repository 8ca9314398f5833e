//! XMPP client side of the load tool: transport and parser ([`stream`]), negotiation and
//! registration ([`client`]), SCRAM ([`scram`]) with its key cache ([`keycache`]), and the
//! permissive TLS verifier ([`tls`]).

pub mod client;
pub mod keycache;
pub mod scram;
pub mod stream;
pub mod tls;
