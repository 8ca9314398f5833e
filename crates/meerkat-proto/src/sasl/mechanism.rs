//! SASL mechanism state machines.
//!
//! [`ServerMechanism`] runs one exchange. Its states, and the call that leaves each:
//!
//! ```text
//! Start --start(empty)--> AwaitFirst --respond(msg)--+
//!   |                                                |
//!   +--start(msg)------------------------------------+--> NeedCredentials (PLAIN or SCRAM)
//! NeedCredentials --provide_credentials--> Success/Failure (PLAIN)
//!                                      --> AwaitFinal + Challenge(server-first) (SCRAM)
//! AwaitFinal --respond(client-final)--> Success(v=...)/Failure
//! ```
//!
//! Any other call, or any call after a `Success` or `Failure`, gives
//! `Failure(MalformedRequest)`; nothing here panics on client data.

use super::credentials::DEFAULT_ITERATIONS;
use super::{plain, scram, ScramHash, StoredCredentials, MAX_MESSAGE_BYTES};

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

    /// The SCRAM hash of this mechanism; `None` for PLAIN.
    pub fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::Plain => None,
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => Some(ScramHash::Sha1),
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => Some(ScramHash::Sha256),
        }
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

impl ChannelBinding {
    /// True when at least one channel binding type has data, so -PLUS can work.
    pub fn has_data(&self) -> bool {
        self.tls_exporter.is_some() || self.tls_server_end_point.is_some()
    }
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
    /// The credentials could not be read (storage unavailable or overloaded):
    /// `temporary-auth-failure` (RFC 6120 §6.5.10), the client may try again.
    TemporaryAuthFailure,
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
            SaslFailure::TemporaryAuthFailure => "temporary-auth-failure",
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

/// Where an exchange stands; see the module doc for the transitions.
#[derive(Debug)]
enum State {
    /// Nothing received yet.
    Start,
    /// `start` had no initial response; an empty challenge went out and the first client
    /// message comes as a `<response>`.
    AwaitFirst,
    /// PLAIN message parsed, waiting for the stored credentials.
    PlainNeedCredentials(plain::ClientMessage),
    /// SCRAM client-first parsed, waiting for the stored credentials.
    ScramNeedCredentials(Box<scram::ClientFirst>),
    /// SCRAM server-first sent, waiting for the client-final message.
    ScramAwaitFinal(Box<scram::AwaitFinal>),
    /// Succeeded or failed; every further call is an error.
    Done,
}

/// One SASL exchange on the server side.
#[derive(Debug)]
pub struct ServerMechanism {
    mechanism: Mechanism,
    binding: ChannelBinding,
    state: State,
    /// The authzid the client asked for, once parsed and checked against the username.
    authzid: Option<String>,
    /// Iteration count advertised for unknown users; must equal the one real users have, or
    /// the count itself tells the two apart.
    fake_iterations: u32,
    /// Server nonce part fixed by [`ServerMechanism::with_server_nonce`] (test vectors);
    /// `None` means a fresh random one.
    fixed_server_nonce: Option<String>,
}

impl ServerMechanism {
    /// A new exchange for `mechanism` on a connection with this channel binding data.
    pub fn new(mechanism: Mechanism, binding: ChannelBinding) -> Self {
        ServerMechanism {
            mechanism,
            binding,
            state: State::Start,
            authzid: None,
            fake_iterations: DEFAULT_ITERATIONS,
            fixed_server_nonce: None,
        }
    }

    /// Like [`ServerMechanism::new`] but with a fixed SCRAM server nonce part, so that test
    /// vectors (RFC 5802 §5, RFC 7677 §3) can be reproduced byte for byte. Never use it on a
    /// live connection: a repeated nonce lets a recorded exchange be replayed. `None` when the
    /// nonce is empty or not printable ASCII without commas (RFC 5802 §7 `printable`).
    pub fn with_server_nonce(
        mechanism: Mechanism,
        binding: ChannelBinding,
        server_nonce: &str,
    ) -> Option<Self> {
        if !scram::is_valid_nonce(server_nonce) {
            return None;
        }
        let mut m = ServerMechanism::new(mechanism, binding);
        m.fixed_server_nonce = Some(server_nonce.to_owned());
        Some(m)
    }

    /// Sets the iteration count shown to clients that name an unknown user (default
    /// [`DEFAULT_ITERATIONS`]). Pass the count the server uses in
    /// [`StoredCredentials::from_password`], so the advertised count does not reveal whether
    /// an account exists. For PLAIN it is also the cost of the fake check on unknown users.
    pub fn with_fake_iterations(mut self, iterations: u32) -> Self {
        self.fake_iterations = iterations;
        self
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The authorization identity the client asked for (PLAIN authzid, SCRAM `a=`), if any.
    ///
    /// This crate does not know the served domain, so it only checks that the authzid is a bare
    /// JID `localpart@domain` whose localpart equals the authenticated username (both compared
    /// after nodeprep); anything else already failed with `invalid-authzid`. **After
    /// `Success`, the caller must check that the domain of this JID is the stream's domain**
    /// and fail with `invalid-authzid` if not. `None` when the client sent no authzid (it then
    /// acts as `username@stream-domain`).
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// Handles the initial response (decoded; empty when the client sent `=` or nothing).
    ///
    /// An empty initial response gives an empty `Challenge`; the client then sends its first
    /// message as a `<response>`. A -PLUS mechanism on a connection with no channel binding
    /// data at all fails with `InvalidMechanism`, since it should not have been offered.
    pub fn start(&mut self, initial_response: &[u8]) -> SaslStep {
        if !matches!(self.state, State::Start) {
            return self.fail(SaslFailure::MalformedRequest);
        }
        if self.mechanism.is_plus() && !self.binding.has_data() {
            return self.fail(SaslFailure::InvalidMechanism);
        }
        if initial_response.is_empty() {
            // Neither PLAIN nor SCRAM has an empty first message, so "nothing" and "=" both
            // mean: ask for the first message with an empty challenge (RFC 6120 §6.4.2).
            self.state = State::AwaitFirst;
            return SaslStep::Challenge(Vec::new());
        }
        self.first_message(initial_response)
    }

    /// Continues after [`SaslStep::NeedCredentials`]; `None` when the user does not exist (the
    /// exchange then continues with fake data and fails at the end, so user existence is not
    /// revealed).
    pub fn provide_credentials(&mut self, credentials: Option<&StoredCredentials>) -> SaslStep {
        match std::mem::replace(&mut self.state, State::Done) {
            State::PlainNeedCredentials(msg) => {
                if plain::verify(&msg, credentials, self.fake_iterations) {
                    SaslStep::Success { username: msg.username, additional_data: Vec::new() }
                } else {
                    self.fail(SaslFailure::NotAuthorized)
                }
            }
            State::ScramNeedCredentials(first) => {
                let Some(hash) = self.mechanism.scram_hash() else {
                    // Only SCRAM mechanisms reach this state.
                    return self.fail(SaslFailure::MalformedRequest);
                };
                let server_nonce = match &self.fixed_server_nonce {
                    Some(nonce) => nonce.clone(),
                    None => scram::random_nonce(),
                };
                let creds = credentials.map(|c| c.for_hash(hash));
                let (next, server_first) =
                    scram::server_first(*first, hash, creds, self.fake_iterations, server_nonce);
                self.state = State::ScramAwaitFinal(Box::new(next));
                SaslStep::Challenge(server_first)
            }
            _ => self.fail(SaslFailure::MalformedRequest),
        }
    }

    /// Handles a `<response>` (decoded).
    pub fn respond(&mut self, data: &[u8]) -> SaslStep {
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitFirst => self.first_message(data),
            State::ScramAwaitFinal(st) => match scram::client_final(*st, data) {
                Ok((username, additional_data)) => SaslStep::Success { username, additional_data },
                Err(failure) => self.fail(failure),
            },
            _ => self.fail(SaslFailure::MalformedRequest),
        }
    }

    /// Parses the client's first message, checks its authzid and asks for credentials.
    fn first_message(&mut self, data: &[u8]) -> SaslStep {
        if data.len() > MAX_MESSAGE_BYTES {
            return self.fail(SaslFailure::MalformedRequest);
        }
        let parsed = if self.mechanism.scram_hash().is_some() {
            scram::client_first(data, self.mechanism.is_plus(), &self.binding).map(|first| {
                let username = first.username.clone();
                let authzid = first.authzid.clone();
                (State::ScramNeedCredentials(Box::new(first)), username, authzid)
            })
        } else {
            plain::parse(data).map(|msg| {
                let username = msg.username.clone();
                let authzid = msg.authzid.clone();
                (State::PlainNeedCredentials(msg), username, authzid)
            })
        };
        let (next, username, authzid) = match parsed {
            Ok(parsed) => parsed,
            Err(failure) => return self.fail(failure),
        };
        if let Some(authzid) = &authzid {
            if !authzid_matches(authzid, &username) {
                return self.fail(SaslFailure::InvalidAuthzid);
            }
        }
        self.authzid = authzid;
        self.state = next;
        SaslStep::NeedCredentials { username }
    }

    /// Ends the exchange with `failure`.
    fn fail(&mut self, failure: SaslFailure) -> SaslStep {
        self.state = State::Done;
        SaslStep::Failure(failure)
    }
}

/// True when `authzid` is a bare JID whose localpart is `username` (both nodeprepped, so case
/// differences that the account lookup also ignores do not matter). A domain-only JID or a
/// full JID with a resource names some other entity, so both are refused.
fn authzid_matches(authzid: &str, username: &str) -> bool {
    let Ok(jid) = jid::Jid::new(authzid) else {
        return false;
    };
    if jid.resource().is_some() {
        return false;
    }
    let (Some(node), Ok(user)) = (jid.node(), jid::NodePart::new(username)) else {
        return false;
    };
    node.as_str() == user.as_str()
}
