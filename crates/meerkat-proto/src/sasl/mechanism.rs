//! SASL mechanism state machines.

use super::StoredCredentials;

/// A mechanism the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// RFC 5802.
    ScramSha1,
    /// RFC 5802 with channel binding.
    ScramSha1Plus,
    /// RFC 7677.
    ScramSha256,
    /// RFC 7677 with channel binding.
    ScramSha256Plus,
}

impl Mechanism {
    /// IANA name, as in `<mechanism>`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// Parses an IANA name (case-sensitive, as SASL names are upper case).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Mechanism::Plain,
            Mechanism::ScramSha1,
            Mechanism::ScramSha1Plus,
            Mechanism::ScramSha256,
            Mechanism::ScramSha256Plus,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }

    /// True for the -PLUS variants, which need channel binding data.
    pub fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus)
    }
}

/// Channel binding data the transport can give (RFC 5929, RFC 9266).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelBinding {
    /// `tls-exporter` keying material (TLS 1.3), if the connection is TLS 1.3.
    pub tls_exporter: Option<Vec<u8>>,
    /// `tls-server-end-point`: hash of the server certificate, if on TLS.
    pub tls_server_end_point: Option<Vec<u8>>,
    /// True when the server offers -PLUS mechanisms on this connection (needed to detect a
    /// downgrade when a client says "y").
    pub plus_offered: bool,
}

/// SASL failure conditions (RFC 6120 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslFailure {
    /// Bad base64 or malformed mechanism message: `incorrect-encoding` / `malformed-request`.
    MalformedRequest,
    /// Wrong password, unknown user, channel binding mismatch: `not-authorized`.
    NotAuthorized,
    /// The authzid names someone else: `invalid-authzid`.
    InvalidAuthzid,
    /// Mechanism not offered here: `invalid-mechanism`.
    InvalidMechanism,
    /// Client aborted: `aborted`.
    Aborted,
}

impl SaslFailure {
    /// Element name of the condition inside `<failure/>`.
    pub fn condition(self) -> &'static str {
        match self {
            SaslFailure::MalformedRequest => "malformed-request",
            SaslFailure::NotAuthorized => "not-authorized",
            SaslFailure::InvalidAuthzid => "invalid-authzid",
            SaslFailure::InvalidMechanism => "invalid-mechanism",
            SaslFailure::Aborted => "aborted",
        }
    }
}

/// What the server does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Look up the stored credentials of `username` (the localpart, normalised by the caller)
    /// and call [`ServerMechanism::provide_credentials`].
    NeedCredentials {
        /// The authentication identity as sent (SASLprep applied).
        username: String,
    },
    /// Send `<challenge>` with these bytes (base64 by the caller).
    Challenge(Vec<u8>),
    /// Authenticated: send `<success>` with these bytes (empty for PLAIN).
    Success {
        /// Authenticated username.
        username: String,
        /// Additional data for `<success>` (SCRAM server-final message).
        additional_data: Vec<u8>,
    },
    /// Send `<failure>` with this condition.
    Failure(SaslFailure),
}

/// One SASL exchange on the server side.
#[derive(Debug)]
pub struct ServerMechanism {
    mechanism: Mechanism,
    binding: ChannelBinding,
}

impl ServerMechanism {
    /// A new exchange for `mechanism` on a connection with this channel binding data.
    pub fn new(mechanism: Mechanism, binding: ChannelBinding) -> Self {
        ServerMechanism { mechanism, binding }
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Handles the initial response (decoded; empty when the client sent `=` or nothing).
    pub fn start(&mut self, initial_response: &[u8]) -> SaslStep {
        let _ = (initial_response, &self.binding);
        todo!("meerkat-proto helper")
    }

    /// Continues after [`SaslStep::NeedCredentials`]; `None` when the user does not exist (the
    /// exchange then continues with fake data and fails at the end, so user existence is not
    /// revealed).
    pub fn provide_credentials(&mut self, credentials: Option<&StoredCredentials>) -> SaslStep {
        let _ = credentials;
        todo!("meerkat-proto helper")
    }

    /// Handles a `<response>` (decoded).
    pub fn respond(&mut self, data: &[u8]) -> SaslStep {
        let _ = data;
        todo!("meerkat-proto helper")
    }
}
