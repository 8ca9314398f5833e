//! The negotiation driven with a client's bytes and a fake clock: a [`Harness`] plays the driver
//! (parser, writer, storage, throttle, TLS) without any I/O, and the tests compare the exact
//! XML the server would write.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use base64::engine::general_purpose::STANDARD as B64;
use meerkat_proto::sasl::{ScramCredentials, ScramHash};
use meerkat_xml::{Limits, Node, StreamParser};
use std::collections::HashMap;

const HOST: &str = "example.com";
const STEP: Duration = Duration::from_secs(10);
const OVERALL: Duration = Duration::from_secs(60);

/// A client stream header for `to`.
fn open(to: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>"
    )
}

/// Our stream header as the driver writes it, with the stream id fixed to `ID`.
fn hdr(from: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' id='ID' from='{from}' version='1.0' \
         xml:lang='en'>"
    )
}

/// Serialises a top-level element the way the driver does (`stream:` prefix for the stream
/// namespace, `jabber:client` as the default namespace).
fn wire_element(out: &mut String, el: &Element) {
    let mut bytes = Vec::new();
    if el.ns == ns::STREAM {
        bytes.extend_from_slice(format!("<stream:{}>", el.name).as_bytes());
        for child in &el.children {
            if let Node::Element(c) = child {
                c.write_to(&mut bytes, ns::CLIENT);
            }
        }
        bytes.extend_from_slice(format!("</stream:{}>", el.name).as_bytes());
    } else {
        el.write_to(&mut bytes, ns::CLIENT);
    }
    out.push_str(&String::from_utf8(bytes).unwrap());
}

const PRE_AUTH_PLAIN_TCP: &str = "<stream:features>\
    <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\
    <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
    <mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>\
    <mechanism>PLAIN</mechanism></mechanisms>\
    <register xmlns='http://jabber.org/features/iq-register'/></stream:features>";

const POST_AUTH: &str = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
    <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>\
    <ver xmlns='urn:xmpp:features:rosterver'/>\
    <sub xmlns='urn:xmpp:features:pre-approval'/></stream:features>";

fn config(tls_mode: TlsMode) -> Config {
    Config {
        hosts: vec![HOST.into(), "other.org".into()],
        mechanisms: vec![
            Mechanism::ScramSha256Plus,
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::Plain,
        ],
        tls_mode,
        registration_enabled: true,
        min_password_len: 4,
        server_caps: None,
        roster_versioning: true,
        step_timeout: STEP,
        unauthenticated_timeout: OVERALL,
        scram_iterations: 4096,
        stream_management: false,
        csi: false,
    }
}

fn tls_binding() -> ChannelBinding {
    ChannelBinding {
        tls_exporter: Some(vec![7; 32]),
        tls_server_end_point: Some(vec![9; 32]),
        plus_offered: false,
    }
}

/// Credentials of RFC 7677's example user (`user`/`pencil`, its salt), so SCRAM exchanges
/// can be checked against the RFC byte for byte.
fn rfc_creds() -> StoredCredentials {
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    StoredCredentials {
        sha1: ScramCredentials::derive(ScramHash::Sha1, "pencil", &salt, 4096),
        sha256: ScramCredentials::derive(ScramHash::Sha256, "pencil", &salt, 4096),
    }
}

/// The driver, played without I/O: it feeds the client's bytes through a real parser, writes
/// what the machine sends into `wire`, answers questions from a fake store, and records every
/// action that is not a write in `log`.
struct Harness {
    m: Negotiation,
    parser: StreamParser,
    start: Instant,
    now: Instant,
    wire: String,
    log: Vec<Action>,
    /// Accounts by localpart.
    users: HashMap<String, StoredCredentials>,
    /// Answer to `CheckLoginThrottle`.
    throttle_allows: bool,
    /// Answer every question at once; when false, questions wait in `log` for the test.
    auto: bool,
    /// True between a question and its answer: a real driver does not read then.
    asked: bool,
    closed: bool,
}

impl Harness {
    fn new(tls_mode: TlsMode, peer: Peer) -> Self {
        Self::with_config(config(tls_mode), peer)
    }

    fn with_config(cfg: Config, peer: Peer) -> Self {
        let start = Instant::now();
        let mut m = Negotiation::new(Arc::new(cfg), peer, start);
        m.fixed_nonce = Some("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        let mut users = HashMap::new();
        users.insert("user".to_owned(), rfc_creds());
        Harness {
            m,
            parser: StreamParser::new(Limits::default()),
            start,
            now: start,
            wire: String::new(),
            log: Vec::new(),
            users,
            throttle_allows: true,
            auto: true,
            asked: false,
            closed: false,
        }
    }

    /// A plain-TCP connection on a STARTTLS listener from an address that may register.
    fn plain() -> Self {
        Self::new(TlsMode::Starttls, Peer { tls: None, may_register: true })
    }

    /// The client sends `xml`.
    fn client(&mut self, xml: &str) {
        self.parser.feed(xml.as_bytes());
        self.pump();
    }

    /// Reads parser events into the machine while it waits for the peer.
    fn pump(&mut self) {
        loop {
            self.drain();
            if self.asked || self.closed || self.m.is_done() {
                return;
            }
            match self.parser.next_event() {
                Ok(Some(ev)) => self.m.handle_event(ev, self.now),
                Ok(None) => return,
                Err(e) => self.m.xml_error(&e),
            }
        }
    }

    /// Performs the machine's actions.
    fn drain(&mut self) {
        while let Some(action) = self.m.poll_action() {
            match action {
                Action::SendHeader { from } => self.wire.push_str(&hdr(&from)),
                Action::Send(el) => wire_element(&mut self.wire, &el),
                Action::Close(err) => {
                    if let Some(e) = &err {
                        wire_element(&mut self.wire, &e.to_element());
                    }
                    self.wire.push_str("</stream:stream>");
                    self.closed = true;
                    self.log.push(Action::Close(err));
                }
                Action::StartTls => {
                    self.parser.reset();
                    self.log.push(Action::StartTls);
                    self.answer(|h| h.m.tls_established(tls_binding(), h.now));
                }
                Action::RestartStream => {
                    self.parser.reset();
                    self.log.push(Action::RestartStream);
                }
                Action::CheckLoginThrottle => {
                    self.log.push(Action::CheckLoginThrottle);
                    let allowed = self.throttle_allows;
                    self.answer(|h| h.m.login_throttle(allowed, h.now));
                }
                Action::LookupCredentials { host, user } => {
                    assert_eq!(host, HOST);
                    let creds = self.users.get(&user).cloned();
                    self.log.push(Action::LookupCredentials { host, user });
                    self.answer(|h| h.m.credentials(creds, h.now));
                }
                Action::CheckPassword => {
                    self.log.push(Action::CheckPassword);
                    self.answer(|h| h.m.check_password());
                }
                Action::Register { host, user, password } => {
                    let result = if self.users.contains_key(&user) {
                        Err(RegisterError::Conflict)
                    } else {
                        self.users.insert(
                            user.clone(),
                            StoredCredentials::from_password(&password, 4096),
                        );
                        Ok(())
                    };
                    self.log.push(Action::Register { host, user, password });
                    self.answer(|h| h.m.register_result(result, h.now));
                }
                other => self.log.push(other),
            }
        }
    }

    fn answer(&mut self, f: impl FnOnce(&mut Self)) {
        if self.auto {
            f(self);
        } else {
            self.asked = true;
        }
    }

    /// Everything written since the last call.
    fn take(&mut self) -> String {
        std::mem::take(&mut self.wire)
    }

    /// Moves the fake clock.
    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// The driver's timer fired: it calls `timeout` with the current time.
    fn timer(&mut self) {
        self.m.timeout(self.now);
        self.pump();
    }

    fn logged(&self, pred: impl Fn(&Action) -> bool) -> bool {
        self.log.iter().any(pred)
    }

    /// Opens the stream and checks the default pre-auth features.
    fn opened(mut self) -> Self {
        self.client(&open(HOST));
        assert_eq!(self.take(), format!("{}{PRE_AUTH_PLAIN_TCP}", hdr(HOST)));
        self
    }

    /// Logs in as RFC 7677's `user` with PLAIN and restarts the stream.
    fn logged_in(mut self) -> Self {
        self = self.opened();
        self.client(&auth("PLAIN", b"\0user\0pencil"));
        assert_eq!(self.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        self.client(&open(HOST));
        assert_eq!(self.take(), format!("{}{POST_AUTH}", hdr(HOST)));
        self
    }
}

fn auth(mechanism: &str, initial: &[u8]) -> String {
    format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{}</auth>",
        B64.encode(initial)
    )
}

fn response(data: &[u8]) -> String {
    format!("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>", B64.encode(data))
}

fn sasl_failure_xml(condition: &str) -> String {
    format!("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/></failure>")
}

fn stream_error(condition: &str) -> String {
    format!(
        "<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>\
         </stream:stream>"
    )
}

const BIND_IQ: &str = "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
    <resource>balcony</resource></bind></iq>";

// ---------------------------------------------------------------------------------------------
// Logins.

#[test]
fn plain_login_restart_and_bind() {
    let mut h = Harness::plain().logged_in();
    assert!(
        h.logged(|a| *a == Action::LookupCredentials { host: HOST.into(), user: "user".into() })
    );
    assert!(h.logged(|a| *a == Action::CheckPassword));
    assert!(h.logged(|a| *a
        == Action::LoggedIn {
            user: "user".into(),
            host: HOST.into(),
            mechanism: Mechanism::Plain
        }));
    assert!(h.logged(|a| *a == Action::RestartStream));
    h.client(BIND_IQ);
    assert_eq!(h.take(), "");
    let Some(Action::Bind { user, host, iq }) = h.log.last().cloned() else {
        panic!("no bind: {:?}", h.log)
    };
    assert_eq!((user.as_str(), host.as_str()), ("user", HOST));
    assert_eq!(iq.attr("id"), Some("b1"));
    assert!(h.m.is_done());
    assert_eq!(h.m.deadline(), None);
}

#[test]
fn scram_sha256_login_matches_rfc7677() {
    let mut h = Harness::plain().opened();
    h.client(&auth("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    let server_first = B64.encode(
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    assert_eq!(
        h.take(),
        format!("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{server_first}</challenge>")
    );
    h.client(&response(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
          p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    ));
    let server_final = B64.encode("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    assert_eq!(
        h.take(),
        format!("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{server_final}</success>")
    );
    // SCRAM's fake data for unknown users is cheap: no blocking step.
    assert!(!h.logged(|a| *a == Action::CheckPassword));
    h.client(&open(HOST));
    assert_eq!(h.take(), format!("{}{POST_AUTH}", hdr(HOST)));
}

#[test]
fn empty_initial_response_gets_an_empty_challenge() {
    let mut h = Harness::plain().opened();
    h.client("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>=</auth>");
    assert_eq!(h.take(), "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    h.client(&response(b"\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

#[test]
fn pipelined_restart_after_success_is_discarded_like_the_parser_reset_says() {
    // The driver resets its parser on RestartStream: a header sent in the same packet as the
    // response is lost, exactly as before the machine existed; the client re-sends after
    // reading <success/>.
    let mut h = Harness::plain().opened();
    h.client(&format!("{}{}", auth("PLAIN", b"\0user\0pencil"), open(HOST)));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    h.client(&open(HOST));
    assert_eq!(h.take(), format!("{}{POST_AUTH}", hdr(HOST)));
}

#[test]
fn wrong_password_counts_towards_the_throttle_and_may_retry() {
    let mut h = Harness::plain().opened();
    h.client(&auth("PLAIN", b"\0user\0wrong"));
    assert_eq!(h.take(), sasl_failure_xml("not-authorized"));
    assert!(h.logged(|a| *a
        == Action::LoginFailed {
            mechanism: Mechanism::Plain,
            condition: "not-authorized",
            password_checked: true
        }));
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

#[test]
fn unknown_and_invalid_usernames_fail_like_wrong_passwords() {
    let mut h = Harness::plain().opened();
    h.client(&auth("PLAIN", b"\0nobody\0pencil"));
    assert_eq!(h.take(), sasl_failure_xml("not-authorized"));
    // A name no account can have is not looked up, but still costs the PBKDF2 of a real check.
    h.log.clear();
    h.client(&auth("PLAIN", b"\0a@b\0pencil"));
    assert_eq!(h.take(), sasl_failure_xml("not-authorized"));
    assert!(!h.logged(|a| matches!(a, Action::LookupCredentials { .. })));
    assert!(h.logged(|a| *a == Action::CheckPassword));
    assert!(h.logged(|a| matches!(a, Action::LoginFailed { password_checked: true, .. })));
}

#[test]
fn protocol_failures_do_not_count_towards_the_throttle() {
    let mut h = Harness::plain().opened();
    // A malformed SCRAM client-first fails before credentials are consulted.
    h.client(&auth("SCRAM-SHA-256", b"x,,n=user,r=abc"));
    assert_eq!(h.take(), sasl_failure_xml("malformed-request"));
    assert!(h.logged(|a| matches!(a, Action::LoginFailed { password_checked: false, .. })));
}

#[test]
fn bad_scram_proof_fails_after_the_challenge() {
    let mut h = Harness::plain().opened();
    h.client(&auth("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    h.take();
    h.client(&response(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
          p=AAAAAapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    ));
    assert_eq!(h.take(), sasl_failure_xml("not-authorized"));
    assert!(h.logged(|a| matches!(a, Action::LoginFailed { password_checked: true, .. })));
}

#[test]
fn unknown_or_unoffered_mechanism_is_invalid() {
    let mut h = Harness::plain().opened();
    h.client(&auth("DIGEST-MD5", b"x"));
    assert_eq!(h.take(), sasl_failure_xml("invalid-mechanism"));
    // -PLUS is configured but needs TLS, so it is not offered on plain TCP.
    h.client(&auth("SCRAM-SHA-256-PLUS", b"p=tls-exporter,,n=user,r=abc"));
    assert_eq!(h.take(), sasl_failure_xml("invalid-mechanism"));
    assert!(!h.logged(|a| matches!(a, Action::LoginFailed { .. })));
}

#[test]
fn bad_base64_is_incorrect_encoding() {
    let mut h = Harness::plain().opened();
    h.client("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!</auth>");
    assert_eq!(h.take(), sasl_failure_xml("incorrect-encoding"));
    h.client(&auth("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    h.take();
    // Bad base64 in a response is a malformed message of the running exchange.
    h.client("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>!!!</response>");
    assert_eq!(h.take(), sasl_failure_xml("malformed-request"));
}

#[test]
fn abort_ends_the_exchange_and_allows_another() {
    let mut h = Harness::plain().opened();
    h.client(&auth("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    h.take();
    h.client("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    assert_eq!(h.take(), sasl_failure_xml("aborted"));
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

#[test]
fn anything_but_a_response_during_an_exchange_is_not_authorized() {
    let mut h = Harness::plain().opened();
    h.client(&auth("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    h.take();
    h.client("<message to='x@example.com'/>");
    assert_eq!(h.take(), stream_error("not-authorized"));
}

#[test]
fn authzid_must_name_the_user_on_this_host() {
    let mut h = Harness::plain().opened();
    h.client(&auth("PLAIN", b"user@other.org\0user\0pencil"));
    assert_eq!(h.take(), sasl_failure_xml("invalid-authzid"));
    h.client(&auth("PLAIN", b"user@example.com\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

#[test]
fn throttled_address_gets_a_failure_then_policy_violation() {
    let mut h = Harness::plain().opened();
    h.throttle_allows = false;
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(
        h.take(),
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>\
         <text>Too many failed logins; try later</text></failure>"
            .to_owned()
            + &stream_error("policy-violation")
    );
    assert!(!h.logged(|a| matches!(a, Action::LookupCredentials { .. })));
}

// ---------------------------------------------------------------------------------------------
// Stream headers and elements out of place.

#[test]
fn unknown_host_gets_our_header_from_the_default_host_then_the_error() {
    let mut h = Harness::plain();
    h.client(&open("nowhere.net"));
    assert_eq!(h.take(), hdr(HOST) + &stream_error("host-unknown"));
    assert!(h.m.is_done());
}

#[test]
fn second_host_is_served_and_named_in_the_header() {
    let mut h = Harness::plain();
    h.client(&open("OTHER.org"));
    assert_eq!(h.take(), format!("{}{PRE_AUTH_PLAIN_TCP}", hdr("other.org")));
}

#[test]
fn header_without_to_uses_the_default_host() {
    let mut h = Harness::plain();
    h.client(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
         version='1.0'>",
    );
    assert_eq!(h.take(), format!("{}{PRE_AUTH_PLAIN_TCP}", hdr(HOST)));
}

#[test]
fn wrong_default_namespace_is_invalid_namespace() {
    let mut h = Harness::plain();
    h.client(
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
         to='example.com' version='1.0'>",
    );
    assert_eq!(h.take(), hdr(HOST) + &stream_error("invalid-namespace"));
}

#[test]
fn missing_or_old_version_is_unsupported() {
    for version in ["", " version='0.9'"] {
        let mut h = Harness::plain();
        h.client(&format!(
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
             to='example.com'{version}>"
        ));
        assert_eq!(h.take(), hdr(HOST) + &stream_error("unsupported-version"));
    }
}

#[test]
fn something_other_than_a_header_first_is_not_well_formed() {
    let mut h = Harness::plain();
    h.m.handle_event(StreamEvent::Close, h.now);
    h.pump();
    assert_eq!(h.take(), hdr(HOST) + &stream_error("not-well-formed"));
}

#[test]
fn second_header_on_an_open_stream_is_not_well_formed() {
    let mut h = Harness::plain().opened();
    let mut p = StreamParser::new(Limits::default());
    p.feed(open(HOST).as_bytes());
    let header = p.next_event().unwrap().unwrap();
    assert!(matches!(header, StreamEvent::Open(_)));
    h.m.handle_event(header, h.now);
    h.pump();
    assert_eq!(h.take(), stream_error("not-well-formed"));
}

#[test]
fn stanza_before_authentication_is_not_authorized() {
    let mut h = Harness::plain().opened();
    h.client("<message to='juliet@example.com'><body>hi</body></message>");
    assert_eq!(h.take(), stream_error("not-authorized"));
}

#[test]
fn anything_but_bind_after_authentication_is_not_authorized() {
    let mut h = Harness::plain().logged_in();
    h.client("<presence/>");
    assert_eq!(
        h.take(),
        "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Bind a resource first</text>\
         </stream:error></stream:stream>"
    );
    assert!(!h.logged(|a| matches!(a, Action::Bind { .. })));
}

#[test]
fn restarted_stream_must_keep_the_host() {
    let mut h = Harness::plain().opened();
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    h.take();
    h.client(&open("other.org"));
    assert_eq!(h.take(), hdr("other.org") + &stream_error("host-unknown"));
}

#[test]
fn client_close_closes_without_error() {
    let mut h = Harness::plain().opened();
    h.client("</stream:stream>");
    assert_eq!(h.take(), "</stream:stream>");
    assert_eq!(h.log.last(), Some(&Action::Close(None)));
}

#[test]
fn xml_errors_map_to_stream_errors() {
    for (input, condition) in [
        ("<message a='1' a='2'/>", "not-well-formed"),
        ("<!-- hi -->", "restricted-xml"),
        ("hello", "bad-format"),
    ] {
        let mut h = Harness::plain().opened();
        h.client(input);
        assert_eq!(h.take(), stream_error(condition), "{input}");
    }
    // Before any header, the error still comes after one of ours.
    let mut h = Harness::plain();
    h.client("<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>");
    assert_eq!(h.take(), hdr(HOST) + &stream_error("invalid-namespace"));
}

#[test]
fn limit_exceeded_is_policy_violation_with_text() {
    let mut h = Harness::plain().opened();
    h.parser = StreamParser::new(Limits { max_stanza_bytes: 64, ..Limits::default() });
    h.parser.feed(open(HOST).as_bytes());
    h.parser.next_event().unwrap();
    h.client(&format!("<message><body>{}</body></message>", "x".repeat(100)));
    let out = h.take();
    assert!(out.starts_with("<stream:error><policy-violation "), "{out}");
    assert!(out.contains("limit exceeded</text>"), "{out}");
}

#[test]
fn input_while_a_question_is_open_is_an_internal_error() {
    let mut h = Harness::plain().opened();
    h.auto = false;
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.log.last(), Some(&Action::CheckLoginThrottle));
    // A driver bug: it reads while the throttle question is open.
    h.m.handle_event(StreamEvent::Close, h.now);
    h.asked = false;
    h.pump();
    assert!(h.take().starts_with("<stream:error><internal-server-error "));
}

#[test]
fn storage_failure_is_a_temporary_auth_failure_and_the_client_may_retry() {
    let mut h = Harness::plain().opened();
    h.auto = false;
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.log.last(), Some(&Action::CheckLoginThrottle));
    h.asked = false;
    h.m.login_throttle(true, h.now);
    h.drain();
    assert!(matches!(h.log.last(), Some(Action::LookupCredentials { .. })));
    h.asked = false;
    h.m.credentials_unavailable(h.now);
    h.drain();
    assert_eq!(h.take(), sasl_failure_xml("temporary-auth-failure"));
    assert!(h.logged(|a| *a
        == Action::LoginFailed {
            mechanism: Mechanism::Plain,
            condition: "temporary-auth-failure",
            password_checked: false
        }));
    h.auto = true;
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

#[test]
fn answers_nobody_asked_for_are_ignored() {
    let mut h = Harness::plain().opened();
    h.m.credentials(None, h.now);
    h.m.check_password();
    h.m.login_throttle(false, h.now);
    h.m.register_result(Ok(()), h.now);
    h.m.tls_established(tls_binding(), h.now);
    h.pump();
    assert_eq!(h.take(), "");
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

// ---------------------------------------------------------------------------------------------
// TLS.

#[test]
fn starttls_proceeds_discards_pipelined_bytes_and_offers_plus_after() {
    let mut h = Harness::plain().opened();
    // The <auth/> pipelined after <starttls/> must not reach the encrypted stream.
    h.client(&format!(
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>{}",
        auth("PLAIN", b"\0user\0pencil")
    ));
    assert_eq!(h.take(), "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert!(h.logged(|a| *a == Action::StartTls));
    assert!(!h.logged(|a| *a == Action::CheckLoginThrottle));
    h.client(&open(HOST));
    assert_eq!(
        h.take(),
        hdr(HOST)
            + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
               <mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism>\
               <mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
               <register xmlns='http://jabber.org/features/iq-register'/>\
               <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>\
               <channel-binding type='tls-server-end-point'/>\
               <channel-binding type='tls-exporter'/></sasl-channel-binding></stream:features>"
    );
    // A second STARTTLS is not offered, so it is a policy violation.
    h.client("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert_eq!(h.take(), stream_error("policy-violation"));
}

#[test]
fn plus_mechanism_binds_to_the_tls_channel() {
    let mut h = Harness::new(TlsMode::Tls, Peer { tls: Some(tls_binding()), may_register: false });
    h.client(&open(HOST));
    let features = h.take();
    assert!(!features.contains("starttls"), "{features}");
    assert!(!features.contains("iq-register"), "{features}");
    assert!(features.contains("<mechanism>SCRAM-SHA-256-PLUS</mechanism>"), "{features}");
    // A client that wants tls-unique, which the server does not support, fails before any
    // credentials are consulted (no throttle count), and may fall back.
    h.client(&auth("SCRAM-SHA-256-PLUS", b"p=tls-unique,,n=user,r=abc"));
    assert!(h.take().starts_with("<failure"));
    assert!(h.logged(|a| matches!(a, Action::LoginFailed { password_checked: false, .. })));
    h.log.clear();
    h.client(&auth("SCRAM-SHA-256-PLUS", b"p=tls-exporter,,n=user,r=abc"));
    assert!(h.take().starts_with("<challenge"));
    assert!(h.logged(|a| matches!(a, Action::LookupCredentials { .. })));
}

#[test]
fn starttls_required_hides_sasl_and_refuses_auth_and_registration() {
    let mut h = Harness::new(TlsMode::StarttlsRequired, Peer { tls: None, may_register: true });
    h.client(&open(HOST));
    assert_eq!(
        h.take(),
        hdr(HOST)
            + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>\
               </starttls></stream:features>"
    );
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.take(), sasl_failure_xml("encryption-required"));
    h.client("<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>");
    assert_eq!(
        h.take(),
        "<iq id='r1' type='error'><error type='cancel'>\
         <not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    );
    h.client("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert_eq!(h.take(), "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    h.client(&open(HOST));
    let features = h.take();
    assert!(features.contains("<mechanism>PLAIN</mechanism>"), "{features}");
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

#[test]
fn starttls_on_a_listener_without_tls_is_a_policy_violation() {
    let mut h = Harness::new(TlsMode::None, Peer { tls: None, may_register: true });
    h.client(&open(HOST));
    assert!(!h.take().contains("starttls"));
    h.client("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert_eq!(h.take(), stream_error("policy-violation"));
}

#[test]
fn error_before_the_header_of_the_tls_stream_gets_a_fresh_header() {
    let mut h = Harness::plain().opened();
    h.client("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    h.take();
    h.advance(STEP);
    h.timer();
    assert_eq!(h.take(), hdr(HOST) + &stream_error("connection-timeout"));
}

#[test]
fn timeout_during_the_handshake_closes_without_error() {
    let mut h = Harness::plain().opened();
    h.auto = false;
    h.client("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    h.take();
    h.advance(STEP);
    h.timer();
    assert_eq!(h.log.last(), Some(&Action::Close(None)));
}

// ---------------------------------------------------------------------------------------------
// Registration (XEP-0077).

#[test]
fn registration_form_then_account_then_login() {
    let mut h = Harness::plain().opened();
    h.client("<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>");
    assert_eq!(
        h.take(),
        "<iq type='result' id='r1'><query xmlns='jabber:iq:register'><instructions>Choose a \
         username and password to register with this server</instructions><username/>\
         <password/></query></iq>"
    );
    h.client(
        "<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>Romeo</username>\
         <password>s3cret</password></query></iq>",
    );
    assert_eq!(h.take(), "<iq type='result' id='r2'/>");
    assert!(h.logged(|a| *a
        == Action::Register {
            host: HOST.into(),
            user: "romeo".into(),
            password: "s3cret".into()
        }));
    h.client(&auth("PLAIN", b"\0romeo\0s3cret"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

fn register_set(user: &str, password: &str) -> String {
    format!("<iq type='set' id='r'><query xmlns='jabber:iq:register'>{user}{password}</query></iq>")
}

fn iq_error(condition: &str, kind: &str) -> String {
    format!(
        "<iq id='r' type='error'><error type='{kind}'>\
         <{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
}

#[test]
fn registration_errors() {
    let mut h = Harness::plain().opened();
    let u = |s: &str| format!("<username>{s}</username>");
    let p = |s: &str| format!("<password>{s}</password>");
    for (req, reply) in [
        (register_set(&u("user"), &p("pencil")), iq_error("conflict", "cancel")),
        (register_set(&u("a@b"), &p("pencil")), iq_error("jid-malformed", "modify")),
        (register_set(&u(""), &p("pencil")), iq_error("jid-malformed", "modify")),
        (register_set(&u("newbie"), ""), iq_error("not-acceptable", "modify")),
        (register_set(&u("newbie"), &p("abc")), iq_error("not-acceptable", "modify")),
        (register_set(&u("newbie"), &p(&"x".repeat(1025))), iq_error("not-acceptable", "modify")),
        (register_set("<remove/>", ""), iq_error("not-authorized", "auth")),
        (
            "<iq type='result' id='r'><query xmlns='jabber:iq:register'/></iq>".to_owned(),
            iq_error("bad-request", "modify"),
        ),
    ] {
        h.client(&req);
        assert_eq!(h.take(), reply, "{req}");
    }
    assert!(!h.m.is_done());
}

#[test]
fn registration_from_a_disallowed_address_is_refused_and_not_offered() {
    let mut h = Harness::new(TlsMode::Starttls, Peer { tls: None, may_register: false });
    h.client(&open(HOST));
    assert!(!h.take().contains("iq-register"));
    h.client("<iq type='get' id='r'><query xmlns='jabber:iq:register'/></iq>");
    assert_eq!(h.take(), iq_error("not-allowed", "cancel"));
    assert!(!h.logged(|a| *a == Action::RegisterRefused));
    h.client(&register_set("<username>x</username>", "<password>long enough</password>"));
    assert_eq!(h.take(), iq_error("not-allowed", "cancel"));
    assert!(h.logged(|a| *a == Action::RegisterRefused));
    assert!(!h.logged(|a| matches!(a, Action::Register { .. })));
}

#[test]
fn registration_disabled_is_service_unavailable() {
    let mut cfg = config(TlsMode::Starttls);
    cfg.registration_enabled = false;
    let mut h = Harness::with_config(cfg, Peer { tls: None, may_register: true });
    h.client(&open(HOST));
    assert!(!h.take().contains("iq-register"));
    h.client("<iq type='get' id='r'><query xmlns='jabber:iq:register'/></iq>");
    assert_eq!(h.take(), iq_error("service-unavailable", "cancel"));
}

#[test]
fn storage_failure_while_registering_is_internal_server_error() {
    let mut h = Harness::plain().opened();
    h.auto = false;
    h.client(&register_set("<username>x</username>", "<password>long enough</password>"));
    assert!(matches!(h.log.last(), Some(Action::Register { .. })));
    h.asked = false;
    h.m.register_result(Err(RegisterError::Internal), h.now);
    h.pump();
    assert_eq!(h.take(), iq_error("internal-server-error", "cancel"));
}

// ---------------------------------------------------------------------------------------------
// Deadlines.

#[test]
fn silent_peer_times_out_after_one_step() {
    let mut h = Harness::plain();
    assert_eq!(h.m.deadline(), Some(h.start + STEP));
    h.advance(STEP - Duration::from_millis(1));
    // An early timer (clock skew between timer and clock) changes nothing.
    h.timer();
    assert_eq!(h.take(), "");
    h.advance(Duration::from_millis(1));
    h.timer();
    assert_eq!(h.take(), hdr(HOST) + &stream_error("connection-timeout"));
    assert!(h.m.is_done());
}

#[test]
fn each_input_restarts_the_step_deadline_within_the_overall_one() {
    let mut h = Harness::plain().opened();
    // A registration form every 9 s keeps the step deadline moving...
    for _ in 0..6 {
        h.advance(Duration::from_secs(9));
        h.client("<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>");
        h.take();
        assert_eq!(h.m.deadline(), Some((h.now + STEP).min(h.start + OVERALL)));
    }
    // ...but not past the overall one.
    assert_eq!(h.m.deadline(), Some(h.start + OVERALL));
    h.advance(Duration::from_secs(6));
    h.timer();
    assert_eq!(h.take(), stream_error("connection-timeout"));
}

#[test]
fn timeout_waiting_for_the_sasl_response() {
    let mut h = Harness::plain().opened();
    h.advance(Duration::from_secs(3));
    h.client(&auth("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    h.take();
    assert_eq!(h.m.deadline(), Some(h.now + STEP));
    h.advance(STEP);
    h.timer();
    assert_eq!(h.take(), stream_error("connection-timeout"));
}

#[test]
fn timeout_waiting_for_the_restarted_header_reuses_the_header_sent() {
    // After SASL success the old header still stands (as it always did): the error follows it.
    let mut h = Harness::plain().opened();
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    h.take();
    h.advance(STEP);
    h.timer();
    assert_eq!(h.take(), stream_error("connection-timeout"));
}

#[test]
fn huge_timeouts_do_not_overflow() {
    let mut cfg = config(TlsMode::Starttls);
    cfg.step_timeout = Duration::MAX;
    cfg.unauthenticated_timeout = Duration::MAX;
    let h = Harness::with_config(cfg, Peer::default());
    assert_eq!(h.m.deadline(), None);
}

// ---------------------------------------------------------------------------------------------
// Size.

#[test]
fn machine_stays_small() {
    // Lives (boxed) for the whole negotiation of every connection; keep growth visible.
    let size = std::mem::size_of::<Negotiation>();
    assert!(size <= 256, "Negotiation is {size} bytes");
    assert!(std::mem::size_of::<State>() <= 16);
}

// ---------------------------------------------------------------------------------------------
// Stream Management (XEP-0198) and CSI (XEP-0352) in negotiation.

fn sm_harness() -> Harness {
    let cfg = Config { stream_management: true, csi: true, ..config(TlsMode::Starttls) };
    let mut h = Harness::with_config(cfg, Peer { tls: None, may_register: true }).opened();
    h.client(&auth("PLAIN", b"\0user\0pencil"));
    assert_eq!(h.take(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    h.client(&open(HOST));
    let features = POST_AUTH.replace(
        "</stream:features>",
        "<sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/></stream:features>",
    );
    assert_eq!(h.take(), format!("{}{features}", hdr(HOST)));
    h
}

#[test]
fn sm_and_csi_are_offered_after_authentication_only_when_enabled() {
    // `logged_in` checks the features without them; `sm_harness` with them.
    let _ = Harness::plain().logged_in();
    let _ = sm_harness();
}

#[test]
fn enable_before_bind_fails_with_unexpected_request_and_bind_still_works() {
    let mut h = sm_harness();
    h.client("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    assert_eq!(
        h.take(),
        "<failed xmlns='urn:xmpp:sm:3'>\
         <unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    );
    h.client(BIND_IQ);
    assert!(matches!(h.log.last(), Some(Action::Bind { .. })));
}

#[test]
fn resume_asks_the_driver_and_a_failure_leaves_the_stream_open_for_bind() {
    let mut h = sm_harness();
    h.auto = false;
    h.client("<resume xmlns='urn:xmpp:sm:3' previd='some-id' h='3'/>");
    assert_eq!(
        h.log.last(),
        Some(&Action::Resume {
            user: "user".into(),
            host: HOST.into(),
            previd: "some-id".into(),
            h: 3
        })
    );
    h.m.resume_failed(h.now);
    h.asked = false;
    h.pump();
    assert_eq!(
        h.take(),
        "<failed xmlns='urn:xmpp:sm:3'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    );
    h.client(BIND_IQ);
    assert!(matches!(h.log.last(), Some(Action::Bind { .. })));
}

#[test]
fn resume_with_a_bad_h_is_bad_request() {
    let mut h = sm_harness();
    h.client("<resume xmlns='urn:xmpp:sm:3' previd='x' h='many'/>");
    assert_eq!(
        h.take(),
        "<failed xmlns='urn:xmpp:sm:3'>\
         <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    );
}

#[test]
fn sm_elements_are_not_authorized_when_sm_is_disabled() {
    let mut h = Harness::plain().logged_in();
    h.client("<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>");
    assert!(h.take().contains("<not-authorized"));
}
