//! Client-to-server stream negotiation (RFC 6120 §4-§7, XEP-0077, XEP-0440) as a sans-I/O state
//! machine, from the first stream header to the resource-binding request.
//!
//! [`Negotiation`] never touches a socket, storage or the clock. The driver feeds it parser
//! events ([`Negotiation::handle_event`]), parser errors ([`Negotiation::xml_error`]) and
//! timer expiries ([`Negotiation::timeout`]), drains [`Negotiation::poll_action`] after every
//! call, performs each [`Action`] in order, and answers the actions that ask a question.
//!
//! ```text
//! client                 Negotiation                         driver
//!   |  <stream:stream>  ->  handle_event(Open)
//!   |                       SendHeader, Send(features)   ->  write
//!   |  <starttls/>      ->  handle_event(Stanza)
//!   |                       Send(<proceed/>), StartTls   ->  write, reset parser, handshake
//!   |                       <-  tls_established(binding, now)
//!   |  <stream:stream>  ->  (header and features again, now with -PLUS mechanisms)
//!   |  <auth/>          ->  handle_event(Stanza)
//!   |                       CheckLoginThrottle           ->  per-IP failure limiter
//!   |                       <-  login_throttle(allowed, now)
//!   |                       LookupCredentials{host,user} ->  storage
//!   |                       <-  credentials(Option<StoredCredentials>, now)
//!   |                       (PLAIN) CheckPassword        ->  check_password() on a blocking
//!   |                                                        thread (PBKDF2)
//!   |                       (SCRAM) Send(<challenge/>)   ->  write; <response/> comes back
//!   |                       Send(<success/>), LoggedIn, RestartStream -> reset parser
//!   |  <stream:stream>  ->  SendHeader, Send(bind features)
//!   |  <iq><bind/></iq> ->  Bind{user,host,iq}           ->  the session binds and runs
//! ```
//!
//! After authentication, with Stream Management offered, `<resume/>` instead of the bind
//! request leads to [`Action::Resume`] (XEP-0198 §5): the driver takes the detached session
//! over, or calls [`Negotiation::resume_failed`] and the client may bind; `<enable/>` before
//! bind gets `<failed><unexpected-request/></failed>` (XEP-0198 §3).
//!
//! Before authentication a `jabber:iq:register` IQ may instead lead to
//! [`Action::Register`], answered by [`Negotiation::register_result`]. Any failure ends with
//! [`Action::Close`] carrying a stream error, after our stream header when none was sent yet
//! (RFC 6120 §4.9.1.1). [`Action::Close`] and [`Action::Bind`] are the last actions.
//!
//! # Deadlines
//! Two deadlines bound every wait for the peer: one per step (`Config::step_timeout`, counted
//! from the last input the machine got) and one for the whole negotiation
//! (`Config::unauthenticated_timeout`, counted from [`Negotiation::new`]).
//! [`Negotiation::deadline`] gives the earlier; the driver bounds its reads and the TLS handshake
//! by it and calls [`Negotiation::timeout`] when it passes, which closes the stream with
//! `connection-timeout`. Work the driver does on the machine's behalf (storage, PBKDF2) is not
//! timed here.
//!
//! # Answers and ordering
//! The driver must not read from the peer while a question is open (after `StartTls`,
//! `CheckLoginThrottle`, `LookupCredentials`, `CheckPassword` or `Register`): the next input is
//! the answer. An event that arrives anyway closes the stream with `internal-server-error`;
//! an answer nobody asked for is ignored.

mod register;
#[cfg(test)]
mod tests;

pub use register::{RegisterError, MAX_PASSWORD_BYTES};

use crate::features;
use base64::Engine;
use meerkat_proto::error::{StreamError, StreamErrorCondition as C};
use meerkat_proto::ns;
use meerkat_proto::sasl::{
    ChannelBinding, Mechanism, SaslFailure, SaslStep, ServerMechanism, StoredCredentials,
};
use meerkat_xml::{Element, StreamEvent, StreamOpen, XmlError};
use register::{Decision, Policy};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a listener uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS offered.
    None,
    /// STARTTLS offered, not required.
    Starttls,
    /// STARTTLS required before authentication or registration.
    StarttlsRequired,
    /// TLS from the first byte (XEP-0368); the stream starts encrypted.
    Tls,
}

/// What negotiation offers and enforces; the same for every connection of a listener, so a
/// driver may share one behind the [`Arc`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Hosts served; the first is the default for a header without `to`.
    pub hosts: Vec<String>,
    /// SASL mechanisms offered, in order; -PLUS ones only on TLS.
    pub mechanisms: Vec<Mechanism>,
    /// How the listener uses TLS.
    pub tls_mode: TlsMode,
    /// In-band registration is enabled (`[modules.register] enabled`).
    pub registration_enabled: bool,
    /// Shortest password registration accepts.
    pub min_password_len: usize,
    /// Offer roster versioning (XEP-0237) after authentication.
    pub roster_versioning: bool,
    /// Longest wait for the peer's next step.
    pub step_timeout: Duration,
    /// Longest time from connection to bind request.
    pub unauthenticated_timeout: Duration,
    /// PBKDF2 iterations of stored credentials: unknown users get fake SCRAM parameters with
    /// the same count, so the count does not reveal which accounts exist.
    pub scram_iterations: u32,
    /// Offer Stream Management (XEP-0198) after authentication and accept `<resume/>` there.
    pub stream_management: bool,
    /// Offer Client State Indication (XEP-0352) after authentication.
    pub csi: bool,
    /// The server's entity capabilities `<c/>` (XEP-0115 §6.3), added to every features list.
    pub server_caps: Option<meerkat_xml::Element>,
}

/// What is known about the peer when the connection starts.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// `Some` when the stream is already encrypted (direct TLS), with the channel-binding data
    /// of the connection (`plus_offered` is ignored: the machine sets it).
    pub tls: Option<ChannelBinding>,
    /// The peer's address is one that may register accounts.
    pub may_register: bool,
}

/// What the driver must do next. Perform actions in the order they come.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write our stream header (RFC 6120 §4.7) with `from` and a fresh random stream id.
    SendHeader {
        /// The host we answer as.
        from: String,
    },
    /// Write this top-level element (stream-namespace ones with the `stream:` prefix).
    Send(Element),
    /// Flush what was written (the `<proceed/>`), discard every byte received so far (RFC 6120
    /// §5.4.3.3: nothing pipelined after `<starttls/>` may survive), run the TLS handshake
    /// within [`Negotiation::deadline`] and call [`Negotiation::tls_established`]. A failed
    /// handshake ends the connection without a stream error.
    StartTls,
    /// SASL succeeded: discard the received bytes and expect a new stream header (RFC 6120
    /// §6.4.6).
    RestartStream,
    /// The peer asks to authenticate: answer [`Negotiation::login_throttle`] with whether its
    /// address may try now.
    CheckLoginThrottle,
    /// Look up the stored credentials of `user` on `host` and answer
    /// [`Negotiation::credentials`]. A storage failure ends the connection.
    LookupCredentials {
        /// Host of the stream.
        host: String,
        /// Normalised localpart.
        user: String,
    },
    /// Call [`Negotiation::check_password`] on a thread allowed to block: PLAIN derives keys
    /// from the offered password (PBKDF2), which must not stall other connections.
    CheckPassword,
    /// Create the account (deriving its keys off the async threads) and answer
    /// [`Negotiation::register_result`].
    Register {
        /// Host of the stream.
        host: String,
        /// Normalised localpart.
        user: String,
        /// Password as sent.
        password: String,
    },
    /// For logs and metrics: the peer authenticated.
    LoggedIn {
        /// Normalised localpart.
        user: String,
        /// Host.
        host: String,
        /// Mechanism used.
        mechanism: Mechanism,
    },
    /// For logs and metrics, and the per-address failure limiter: a SASL exchange failed.
    LoginFailed {
        /// Mechanism tried.
        mechanism: Mechanism,
        /// The `<failure/>` condition sent.
        condition: &'static str,
        /// True when the stored credentials were consulted, so this was a password guess
        /// that counts towards the limiter. Protocol failures before that (an unsupported
        /// channel-binding type, a downgrade flag) must not lock out a client that falls back
        /// to another mechanism.
        password_checked: bool,
    },
    /// For logs: an address not allowed to register tried to create an account.
    RegisterRefused,
    /// Write the stream error if any, then `</stream:stream>`, and close the connection.
    Close(Option<StreamError>),
    /// Negotiation is over: the session binds a resource and answers this IQ.
    Bind {
        /// Normalised localpart.
        user: String,
        /// Host.
        host: String,
        /// The `<iq type='set'>` with `<bind/>`.
        iq: Element,
    },
    /// Instead of binding, the client asks to resume a Stream Management session
    /// (XEP-0198 §5). On success the driver takes the session over and negotiation is over;
    /// otherwise it calls [`Negotiation::resume_failed`] and the client may bind.
    Resume {
        /// Normalised localpart.
        user: String,
        /// Host.
        host: String,
        /// The resumption id the client gives.
        previd: String,
        /// The client's count of stanzas it handled from us.
        h: u32,
    },
}

/// Where negotiation stands.
#[derive(Debug)]
enum State {
    /// Waiting for the peer's stream header.
    AwaitHeader,
    /// Stream open, features sent: waiting for a top-level element.
    Open,
    /// `StartTls` asked: waiting for [`Negotiation::tls_established`].
    Tls,
    /// `CheckLoginThrottle` asked for this `<auth/>`.
    Throttle(Box<Element>),
    /// A SASL exchange is running.
    Sasl(Box<Sasl>),
    /// `Register` asked for this request.
    Register(Box<Element>),
    /// `Resume` asked: waiting for [`Negotiation::resume_failed`] (or the driver took over).
    Resume,
    /// `Close` or `Bind` was emitted.
    Done,
}

/// One SASL exchange.
#[derive(Debug)]
struct Sasl {
    mechanism: ServerMechanism,
    /// The stored credentials were consulted (see [`Action::LoginFailed`]).
    password_checked: bool,
    wait: SaslWait,
}

/// What a SASL exchange waits for.
#[derive(Debug)]
enum SaslWait {
    /// The answer to `LookupCredentials`.
    Credentials,
    /// `check_password` with these credentials.
    Password(Option<StoredCredentials>),
    /// The peer's `<response/>` or `<abort/>`.
    Response,
}

/// The c2s negotiation of one connection. Small (a few hundred bytes plus the current state's
/// box) and dropped once the session is bound.
#[derive(Debug)]
pub struct Negotiation {
    cfg: Arc<Config>,
    /// Channel binding data once the stream is encrypted.
    tls: Option<ChannelBinding>,
    may_register: bool,
    state: State,
    /// Host of the current stream (the default host until a header named one).
    host: String,
    /// The authenticated localpart, after SASL success.
    user: Option<String>,
    /// Our header went out on the current stream, so a stream error needs none first.
    header_sent: bool,
    /// Deadline of the whole negotiation; `None` when too far away to represent.
    overall_deadline: Option<Instant>,
    /// The last input the machine got: the step deadline counts from here.
    last_input: Instant,
    out: VecDeque<Action>,
    /// SCRAM server nonce for RFC test vectors.
    #[cfg(test)]
    fixed_nonce: Option<&'static str>,
}

impl Negotiation {
    /// A negotiation for a connection accepted at `now`.
    pub fn new(cfg: Arc<Config>, peer: Peer, now: Instant) -> Self {
        let host = cfg.hosts.first().cloned().unwrap_or_default();
        let overall_deadline = now.checked_add(cfg.unauthenticated_timeout);
        Negotiation {
            cfg,
            tls: peer.tls,
            may_register: peer.may_register,
            state: State::AwaitHeader,
            host,
            user: None,
            header_sent: false,
            overall_deadline,
            last_input: now,
            out: VecDeque::new(),
            #[cfg(test)]
            fixed_nonce: None,
        }
    }

    /// The next thing to do, `None` when the machine waits for input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// True once [`Action::Close`] or [`Action::Bind`] was emitted: no more input is taken.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// When the current wait for the peer must end; `None` when done or too far away.
    pub fn deadline(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        let step = self.last_input.checked_add(self.cfg.step_timeout);
        match (step, self.overall_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The timer set to [`Negotiation::deadline`] fired. Ends the stream with
    /// `connection-timeout` if the deadline has really passed at `now`.
    pub fn timeout(&mut self, now: Instant) {
        if self.deadline().is_some_and(|d| now >= d) {
            if matches!(self.state, State::Tls) {
                // Mid-handshake, the stream cannot carry an error.
                self.close(None);
            } else {
                self.fail(StreamError::new(C::ConnectionTimeout));
            }
        }
    }

    /// The parser failed: ends the stream with the matching stream error.
    pub fn xml_error(&mut self, e: &XmlError) {
        if !self.is_done() {
            self.fail(crate::xml_stream_error(e));
        }
    }

    /// Handles one parser event received at `now`.
    pub fn handle_event(&mut self, ev: StreamEvent, now: Instant) {
        self.last_input = now;
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => {}
            State::AwaitHeader => match ev {
                StreamEvent::Open(open) => self.stream_header(&open),
                _ => self.fail(StreamError::new(C::NotWellFormed)),
            },
            State::Open => match ev {
                StreamEvent::Stanza(el) => self.element(el),
                StreamEvent::Close => self.close(None),
                StreamEvent::Open(_) => self.fail(StreamError::new(C::NotWellFormed)),
            },
            State::Sasl(sasl) if matches!(sasl.wait, SaslWait::Response) => match ev {
                StreamEvent::Stanza(el) if el.is("abort", ns::SASL) => {
                    self.send(sasl_failure(SaslFailure::Aborted.condition(), None));
                    self.state = State::Open;
                }
                StreamEvent::Stanza(el) if el.is("response", ns::SASL) => {
                    let mut sasl = sasl;
                    let step = match decode_b64(&el) {
                        Some(data) => sasl.mechanism.respond(&data),
                        None => SaslStep::Failure(SaslFailure::MalformedRequest),
                    };
                    self.sasl_step(sasl, step);
                }
                _ => self.fail(StreamError::new(C::NotAuthorized)),
            },
            // A question to the driver is open: it should not have read.
            _ => self.fail(StreamError::with_text(
                C::InternalServerError,
                "Input while negotiation waited for the server",
            )),
        }
    }

    /// Answer to [`Action::StartTls`]: the handshake succeeded; `binding` is the new
    /// connection's channel-binding data. The peer restarts the stream next.
    pub fn tls_established(&mut self, binding: ChannelBinding, now: Instant) {
        if matches!(self.state, State::Tls) {
            self.last_input = now;
            self.tls = Some(binding);
            // A new stream: our next header is its first.
            self.header_sent = false;
            self.state = State::AwaitHeader;
        }
    }

    /// Answer to [`Action::CheckLoginThrottle`].
    pub fn login_throttle(&mut self, allowed: bool, now: Instant) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Throttle(auth) => {
                self.last_input = now;
                if allowed {
                    self.start_sasl(&auth);
                } else {
                    let text = Some("Too many failed logins; try later");
                    self.send(sasl_failure("not-authorized", text));
                    self.fail(StreamError::new(C::PolicyViolation));
                }
            }
            other => self.state = other,
        }
    }

    /// Answer to [`Action::LookupCredentials`]: `None` when the user does not exist (the
    /// exchange then goes on with fake data and fails at the end, so existence is not revealed).
    pub fn credentials(&mut self, creds: Option<StoredCredentials>, now: Instant) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Sasl(sasl) if matches!(sasl.wait, SaslWait::Credentials) => {
                self.last_input = now;
                self.supply_credentials(sasl, creds);
            }
            other => self.state = other,
        }
    }

    /// Answer to [`Action::LookupCredentials`] when storage could not answer: the exchange
    /// ends with `temporary-auth-failure` and the stream stays open for another attempt. Not
    /// counted against the peer's failed logins: no password was checked.
    pub fn credentials_unavailable(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Sasl(mut sasl) if matches!(sasl.wait, SaslWait::Credentials) => {
                self.last_input = now;
                sasl.password_checked = false;
                self.sasl_step(sasl, SaslStep::Failure(SaslFailure::TemporaryAuthFailure));
            }
            other => self.state = other,
        }
    }

    /// Answer to [`Action::CheckPassword`]; may take milliseconds of CPU (PBKDF2), so call it
    /// where blocking is allowed.
    pub fn check_password(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Sasl(mut sasl) if matches!(sasl.wait, SaslWait::Password(_)) => {
                let SaslWait::Password(creds) =
                    std::mem::replace(&mut sasl.wait, SaslWait::Credentials)
                else {
                    return;
                };
                let step = sasl.mechanism.provide_credentials(creds.as_ref());
                self.sasl_step(sasl, step);
            }
            other => self.state = other,
        }
    }

    /// Answer to [`Action::Resume`] when the session cannot be resumed (unknown, expired,
    /// another user's): `<failed><item-not-found/></failed>`, and the stream stays open for a
    /// normal bind (XEP-0198 §5).
    pub fn resume_failed(&mut self, now: Instant) {
        if matches!(self.state, State::Resume) {
            self.last_input = now;
            self.send(crate::sm::failed("item-not-found", None));
            self.state = State::Open;
        }
    }

    /// Answer to [`Action::Register`].
    pub fn register_result(&mut self, result: Result<(), RegisterError>, now: Instant) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Register(req) => {
                self.last_input = now;
                self.send(register::answer(&req, result));
                self.state = State::Open;
            }
            other => self.state = other,
        }
    }

    fn send(&mut self, el: Element) {
        self.out.push_back(Action::Send(el));
    }

    fn default_host(&self) -> &str {
        self.cfg.hosts.first().map(String::as_str).unwrap_or_default()
    }

    fn serves(&self, host: &str) -> bool {
        self.cfg.hosts.iter().any(|h| h == host)
    }

    /// Ends the stream with `err`, after a header if this stream has none yet.
    fn fail(&mut self, err: StreamError) {
        if !self.header_sent {
            let from = self.default_host().to_owned();
            self.out.push_back(Action::SendHeader { from });
            self.header_sent = true;
        }
        self.close(Some(err));
    }

    fn close(&mut self, err: Option<StreamError>) {
        self.out.push_back(Action::Close(err));
        self.state = State::Done;
    }

    /// The peer's stream header: our header first (errors need one), then the checks of
    /// RFC 6120 §4.9.3 in the order clients expect, then the features of this stage.
    fn stream_header(&mut self, open: &StreamOpen) {
        let host = match open.element.attr("to") {
            Some(to) => meerkat_proto::jid::DomainPart::new(to)
                .map(|d| d.as_str().to_owned())
                .unwrap_or_else(|_| to.to_owned()),
            None => self.default_host().to_owned(),
        };
        let from = if self.serves(&host) { host.clone() } else { self.default_host().to_owned() };
        self.out.push_back(Action::SendHeader { from });
        self.header_sent = true;
        if open.default_ns.as_deref() != Some(ns::CLIENT) {
            return self.fail(StreamError::new(C::InvalidNamespace));
        }
        if !self.serves(&host) {
            return self.fail(StreamError::new(C::HostUnknown));
        }
        if open.element.attr("version") != Some("1.0") {
            return self.fail(StreamError::new(C::UnsupportedVersion));
        }
        // After SASL the restarted stream must stay on the host the user authenticated to.
        if self.user.is_some() && self.host != host {
            return self.fail(StreamError::new(C::HostUnknown));
        }
        self.host = host;
        let feats = if self.user.is_some() {
            features::with_sm_csi(
                features::post_auth(self.cfg.roster_versioning),
                self.cfg.stream_management,
                self.cfg.csi,
            )
        } else {
            let names: Vec<&str> = self.offered_mechanisms().map(Mechanism::name).collect();
            features::pre_auth_with_cb(
                self.tls.is_some(),
                &names,
                self.starttls_offered(),
                self.tls_required(),
                self.cfg.registration_enabled && self.may_register,
            )
        };
        let mut feats = feats;
        if let Some(c) = &self.cfg.server_caps {
            feats.children.push(meerkat_xml::Node::Element(c.clone()));
        }
        self.send(feats);
        self.state = State::Open;
    }

    fn starttls_offered(&self) -> bool {
        self.tls.is_none()
            && matches!(self.cfg.tls_mode, TlsMode::Starttls | TlsMode::StarttlsRequired)
    }

    fn tls_required(&self) -> bool {
        self.tls.is_none() && self.cfg.tls_mode == TlsMode::StarttlsRequired
    }

    /// Mechanisms this stream offers: -PLUS ones need channel-binding data, so TLS.
    fn offered_mechanisms(&self) -> impl Iterator<Item = Mechanism> + '_ {
        let is_tls = self.tls.is_some();
        self.cfg.mechanisms.iter().copied().filter(move |m| !m.is_plus() || is_tls)
    }

    /// A top-level element on an open stream.
    fn element(&mut self, el: Element) {
        if let Some(user) = &self.user {
            if el.name == "iq"
                && el.ns == ns::CLIENT
                && el.attr("type") == Some("set")
                && el.has_child("bind", ns::BIND)
            {
                let (user, host) = (user.clone(), self.host.clone());
                self.out.push_back(Action::Bind { user, host, iq: el });
                self.state = State::Done;
                return;
            }
            if self.cfg.stream_management && el.ns == crate::sm::NS {
                return self.sm_before_bind(&el);
            }
            return self.fail(StreamError::with_text(C::NotAuthorized, "Bind a resource first"));
        }
        if el.is("starttls", ns::TLS) {
            if !self.starttls_offered() {
                return self.fail(StreamError::new(C::PolicyViolation));
            }
            self.send(Element::new("proceed", ns::TLS));
            self.out.push_back(Action::StartTls);
            self.state = State::Tls;
        } else if el.is("auth", ns::SASL) {
            if self.tls_required() {
                self.send(sasl_failure("encryption-required", None));
                self.state = State::Open;
                return;
            }
            self.out.push_back(Action::CheckLoginThrottle);
            self.state = State::Throttle(Box::new(el));
        } else if el.name == "iq"
            && el.ns == ns::CLIENT
            && el.children().any(|c| c.is("query", ns::REGISTER))
        {
            self.register(el);
        } else {
            self.fail(StreamError::new(C::NotAuthorized));
        }
    }

    /// A Stream Management nonza after authentication and before bind: `<resume/>` asks the
    /// driver; `<enable/>` (and anything else) is refused with `unexpected-request`, since SM
    /// needs a bound resource (XEP-0198 §3).
    fn sm_before_bind(&mut self, el: &Element) {
        match crate::sm::parse(el) {
            Ok(Some(crate::sm::Nonza::Resume { previd, h })) => {
                let (user, host) = (self.user.clone().unwrap_or_default(), self.host.clone());
                self.out.push_back(Action::Resume { user, host, previd, h });
                self.state = State::Resume;
            }
            Ok(_) => {
                self.send(crate::sm::failed("unexpected-request", None));
                self.state = State::Open;
            }
            Err(_) => {
                self.send(crate::sm::failed("bad-request", None));
                self.state = State::Open;
            }
        }
    }

    /// A `jabber:iq:register` request before authentication.
    fn register(&mut self, req: Element) {
        let policy = Policy {
            enabled: self.cfg.registration_enabled,
            allowed: !self.tls_required() && self.may_register,
            min_password_len: self.cfg.min_password_len,
        };
        match register::decide(&req, policy) {
            Decision::Reply(reply) => {
                self.send(reply);
                self.state = State::Open;
            }
            Decision::Refused(reply) => {
                self.out.push_back(Action::RegisterRefused);
                self.send(reply);
                self.state = State::Open;
            }
            Decision::Create { user, password } => {
                let host = self.host.clone();
                self.out.push_back(Action::Register { host, user, password });
                self.state = State::Register(Box::new(req));
            }
        }
    }

    /// `<auth/>` on a stream whose address may try: picks the mechanism and starts it.
    fn start_sasl(&mut self, auth: &Element) {
        let offered = auth
            .attr("mechanism")
            .and_then(Mechanism::from_name)
            .filter(|m| self.offered_mechanisms().any(|o| o == *m));
        let Some(mechanism) = offered else {
            self.send(sasl_failure(SaslFailure::InvalidMechanism.condition(), None));
            self.state = State::Open;
            return;
        };
        let Some(initial) = decode_b64(auth) else {
            self.send(sasl_failure("incorrect-encoding", None));
            self.state = State::Open;
            return;
        };
        let binding = ChannelBinding {
            plus_offered: self.offered_mechanisms().any(Mechanism::is_plus),
            ..self.tls.clone().unwrap_or_default()
        };
        let mut m = self.new_mechanism(mechanism, binding);
        let step = m.start(&initial);
        let sasl =
            Box::new(Sasl { mechanism: m, password_checked: false, wait: SaslWait::Response });
        self.sasl_step(sasl, step);
    }

    fn new_mechanism(&self, mechanism: Mechanism, binding: ChannelBinding) -> ServerMechanism {
        #[cfg(test)]
        if let Some(nonce) = self.fixed_nonce {
            if let Some(m) = ServerMechanism::with_server_nonce(mechanism, binding.clone(), nonce) {
                return m.with_fake_iterations(self.cfg.scram_iterations);
            }
        }
        ServerMechanism::new(mechanism, binding).with_fake_iterations(self.cfg.scram_iterations)
    }

    /// Stored credentials are known (or known to be absent): PLAIN checks the password on a
    /// blocking thread, SCRAM goes on at once (its fake data for unknown users is cheap).
    fn supply_credentials(&mut self, mut sasl: Box<Sasl>, creds: Option<StoredCredentials>) {
        if sasl.mechanism.mechanism() == Mechanism::Plain {
            sasl.wait = SaslWait::Password(creds);
            self.out.push_back(Action::CheckPassword);
            self.state = State::Sasl(sasl);
            return;
        }
        let step = sasl.mechanism.provide_credentials(creds.as_ref());
        self.sasl_step(sasl, step);
    }

    /// Acts on what the SASL mechanism said.
    fn sasl_step(&mut self, mut sasl: Box<Sasl>, step: SaslStep) {
        let mechanism = sasl.mechanism.mechanism();
        let step = match step {
            SaslStep::NeedCredentials { username } => {
                sasl.password_checked = true;
                match register::normalize_node(&username) {
                    Some(user) => {
                        let host = self.host.clone();
                        self.out.push_back(Action::LookupCredentials { host, user });
                        sasl.wait = SaslWait::Credentials;
                        self.state = State::Sasl(sasl);
                    }
                    // No account can have this name: go on as for an unknown user.
                    None => self.supply_credentials(sasl, None),
                }
                return;
            }
            SaslStep::Challenge(data) => {
                self.send(b64_element("challenge", &data));
                sasl.wait = SaslWait::Response;
                self.state = State::Sasl(sasl);
                return;
            }
            SaslStep::Success { username, additional_data } => {
                match self.check_success(&sasl.mechanism, &username) {
                    Ok(user) => {
                        self.send(b64_element("success", &additional_data));
                        let host = self.host.clone();
                        self.out.push_back(Action::LoggedIn {
                            user: user.clone(),
                            host,
                            mechanism,
                        });
                        self.out.push_back(Action::RestartStream);
                        self.user = Some(user);
                        self.state = State::AwaitHeader;
                        return;
                    }
                    Err(failure) => failure,
                }
            }
            SaslStep::Failure(failure) => failure,
        };
        self.out.push_back(Action::LoginFailed {
            mechanism,
            condition: step.condition(),
            password_checked: sasl.password_checked,
        });
        self.send(sasl_failure(step.condition(), None));
        self.state = State::Open;
    }

    /// The checks after the mechanism succeeded: a valid localpart, and an authzid (whose
    /// localpart the mechanism checked) on this stream's domain.
    fn check_success(&self, m: &ServerMechanism, username: &str) -> Result<String, SaslFailure> {
        let user = register::normalize_node(username).ok_or(SaslFailure::NotAuthorized)?;
        if let Some(authzid) = m.authzid() {
            let domain = meerkat_proto::jid::Jid::new(authzid).ok();
            if domain.as_ref().map(|j| j.domain().as_str()) != Some(self.host.as_str()) {
                return Err(SaslFailure::InvalidAuthzid);
            }
        }
        Ok(user)
    }
}

/// `<failure><condition/><text/></failure>` (RFC 6120 §6.5).
fn sasl_failure(condition: &str, text: Option<&str>) -> Element {
    let mut f = Element::new("failure", ns::SASL).with_child(Element::new(condition, ns::SASL));
    if let Some(t) = text {
        f = f.with_child(Element::new("text", ns::SASL).with_text(t));
    }
    f
}

/// The base64 payload of a SASL element; empty for no text or `=` (RFC 6120 §6.4.2), `None`
/// when it is not base64.
fn decode_b64(el: &Element) -> Option<Vec<u8>> {
    let text = el.text();
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A SASL element carrying `data` in base64 (no text when empty).
fn b64_element(name: &str, data: &[u8]) -> Element {
    let el = Element::new(name, ns::SASL);
    if data.is_empty() {
        el
    } else {
        el.with_text(base64::engine::general_purpose::STANDARD.encode(data))
    }
}
