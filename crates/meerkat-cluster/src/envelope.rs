//! Wire format of node-to-node messages.
//!
//! ```text
//! envelope = version:u8 (=1) kind:u8 sender:str body tag:[u8; 32]
//! str      = len:u16 (big-endian) utf8-bytes          (len <= Limits::max_str)
//! bytes    = len:u32 (big-endian) raw-bytes           (len <= Limits::max_payload)
//! tag      = HMAC-SHA-256(envelope key, every byte before the tag)
//! ```
//!
//! Bodies per kind (integers big-endian; times are milliseconds since the Unix epoch):
//!
//! | kind | name      | body                                                         |
//! |------|-----------|--------------------------------------------------------------|
//! | 1    | Stanza    | to:str xml:bytes                                             |
//! | 2    | Ack       | status:u8 (0 accepted, 1 busy)                               |
//! | 3    | Hello     | account:str count:u16 count × resource                        |
//! | 4    | State     | same as Hello                                                |
//! | 5    | Kick      | full_jid:str bound_at:u64                                    |
//! | 6    | Heartbeat | admin_address:str started_at:u64                             |
//! | 7    | Leave     | (empty)                                                      |
//! | 8    | Resume    | account:str previd:str                                       |
//! | 9    | Session   | state:bytes (empty: not found)                               |
//! | 10   | BoshRequest | sid:str wait_ms:u32 truncated:u8 (0/1) body:bytes          |
//! | 11   | BoshAnswer  | status:u8 (0 answered, 1 unknown sid, 2 busy) body:bytes   |
//!
//! `resource = name:str priority:i8 availability:u8 bound_at:u64`; the sender node is the
//! envelope's `sender` (Heartbeat's node too). The tag is checked before anything else is
//! parsed, in constant time; decoding never panics, never allocates more than the input's
//! size and rejects trailing bytes. There is no replay protection: NATS connections are
//! expected to be authenticated and private to the cluster.

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Current format version.
pub const VERSION: u8 = 1;
/// Length of the HMAC-SHA-256 tag.
pub const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Keys derived from the cluster secret (domain-separated, so the subject key reveals nothing
/// about the envelope key).
#[derive(Clone)]
pub struct Keys {
    mac: HmacSha256,
    subject: [u8; 16],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// Derives the keys from the cluster secret.
    pub fn derive(secret: &[u8]) -> Keys {
        let sub = |label: &[u8]| -> [u8; 32] {
            // HMAC accepts keys of any length: new_from_slice cannot fail.
            let mut m = <HmacSha256 as Mac>::new_from_slice(secret)
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
            m.update(label);
            m.finalize().into_bytes().into()
        };
        let env = sub(b"meerkat-cluster/v1/envelope");
        let subj = sub(b"meerkat-cluster/v1/subject");
        let mut subject = [0u8; 16];
        subject.copy_from_slice(&subj[..16]);
        let mac = <HmacSha256 as Mac>::new_from_slice(&env)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        Keys { mac, subject }
    }

    /// Key for [`crate::Subjects`].
    pub fn subject_key(&self) -> [u8; 16] {
        self.subject
    }
}

/// Bounds applied when decoding (and encoding: an envelope that would not decode is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string field (JIDs, node names, addresses). RFC 7622 bounds a full JID at
    /// 3071 bytes.
    pub max_str: usize,
    /// Longest raw stanza.
    pub max_payload: usize,
    /// Most resources in one Hello/State.
    pub max_resources: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_str: 3071, max_payload: 1 << 20, max_resources: 64 }
    }
}

/// Presence availability of a resource, as RFC 6121 `<show/>` plus unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Availability {
    /// Available, no `<show/>`.
    Available = 0,
    /// `<show>chat</show>`.
    Chat = 1,
    /// `<show>away</show>`.
    Away = 2,
    /// `<show>xa</show>`.
    Xa = 3,
    /// `<show>dnd</show>`.
    Dnd = 4,
    /// Bound but no available presence sent (or unavailable).
    Unavailable = 5,
}

impl Availability {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Available,
            1 => Self::Chat,
            2 => Self::Away,
            3 => Self::Xa,
            4 => Self::Dnd,
            5 => Self::Unavailable,
            _ => return None,
        })
    }
}

/// One bound resource of an account, as other nodes holding the account need to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceState {
    /// Resource part of the full JID.
    pub resource: String,
    /// Presence priority (RFC 6121 §4.7.2.3, -128..=127).
    pub priority: i8,
    /// Current availability.
    pub availability: Availability,
    /// When the resource was bound, ms since the epoch (the newer bind wins a conflict).
    pub bound_at: u64,
}

/// The resources one node holds for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// Bare JID of the account.
    pub account: String,
    /// This node's resources of it (empty: the node no longer holds the account).
    pub resources: Vec<ResourceState>,
}

/// Outcome carried by an [`Body::Ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AckStatus {
    /// The holding node took the stanza over (it delivers it or applies offline rules).
    Accepted = 0,
    /// The holding node's inbound queue was full: the sender must store the stanza offline.
    Busy = 1,
}

/// Outcome carried by a [`Body::BoshAnswer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BoshStatus {
    /// The holding node processed the request: the body is its HTTP answer.
    Answered = 0,
    /// No session with that sid here.
    Unknown = 1,
    /// The node serves too many forwarded requests at once: try again.
    Busy = 2,
}

/// The kind-specific part of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A stanza for a full or bare JID.
    Stanza {
        /// Recipient JID as the sender routed it.
        to: String,
        /// The serialised stanza.
        xml: Bytes,
    },
    /// Reply to a Stanza request.
    Ack(AckStatus),
    /// The sender bound the account's first local resource: other holders answer with State.
    Hello(AccountState),
    /// Presence/priority/bind changes of the sender's resources of the account.
    State(AccountState),
    /// Close the session of `full_jid` if it was bound before `bound_at` (resource conflict).
    Kick {
        /// Full JID bound twice.
        full_jid: String,
        /// Bind time of the newer session.
        bound_at: u64,
    },
    /// Periodic liveness beacon.
    Heartbeat {
        /// The node's admin API address (for join/remove commands).
        admin_address: String,
        /// When the node started, ms since the epoch (a change means a restart).
        started_at: u64,
    },
    /// The node leaves the cluster gracefully.
    Leave,
    /// A client resumes (XEP-0198) on the sender a session this account's holder may have
    /// detached: hand it over.
    Resume {
        /// Bare JID the session belongs to.
        account: String,
        /// The resumption id the client gave.
        previd: String,
    },
    /// Reply to a Resume: the session's state, serialised by the server (empty when the id is
    /// unknown here).
    Session {
        /// Serialised session state.
        state: Bytes,
    },
    /// An HTTP request of a BOSH session the recipient holds (the sid names its node), as it
    /// reached the sender.
    BoshRequest {
        /// The session id.
        sid: String,
        /// How long the sender waits for the answer, less its margin: the recipient answers a
        /// held request within this, whatever the session's `wait`.
        wait_ms: u32,
        /// The body was over the sender's size limit: `body` is its first part only.
        truncated: bool,
        /// The request body, as received.
        body: Bytes,
    },
    /// Reply to a BoshRequest.
    BoshAnswer {
        /// Whether the body is an answer.
        status: BoshStatus,
        /// The HTTP answer's `<body/>` (empty unless answered).
        body: Bytes,
    },
}

impl Body {
    fn kind(&self) -> u8 {
        match self {
            Body::Stanza { .. } => 1,
            Body::Ack(_) => 2,
            Body::Hello(_) => 3,
            Body::State(_) => 4,
            Body::Kick { .. } => 5,
            Body::Heartbeat { .. } => 6,
            Body::Leave => 7,
            Body::Resume { .. } => 8,
            Body::Session { .. } => 9,
            Body::BoshRequest { .. } => 10,
            Body::BoshAnswer { .. } => 11,
        }
    }
}

/// A verified node-to-node message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Name of the node that sent it.
    pub sender: String,
    /// What it says.
    pub body: Body,
}

/// Why an envelope was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the smallest envelope.
    #[error("envelope too short")]
    TooShort,
    /// The HMAC tag does not match (wrong secret or tampered).
    #[error("bad envelope tag")]
    BadTag,
    /// Unknown format version.
    #[error("unknown envelope version {0}")]
    Version(u8),
    /// Unknown kind byte.
    #[error("unknown envelope kind {0}")]
    Kind(u8),
    /// A field runs past the end.
    #[error("truncated envelope")]
    Truncated,
    /// A length or count exceeds its limit.
    #[error("envelope field exceeds its limit")]
    TooLong,
    /// A string field is not UTF-8.
    #[error("envelope string is not UTF-8")]
    Utf8,
    /// An enumerated byte has no meaning.
    #[error("invalid envelope value")]
    Value,
    /// Bytes after the body.
    #[error("trailing bytes in envelope")]
    Trailing,
}

/// Why an envelope could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("envelope field exceeds its limit")]
pub struct EncodeError;

struct Writer<'a> {
    buf: BytesMut,
    limits: &'a Limits,
}

impl Writer<'_> {
    fn str(&mut self, s: &str) -> Result<(), EncodeError> {
        if s.len() > self.limits.max_str {
            return Err(EncodeError);
        }
        self.buf.put_u16(s.len() as u16);
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        if b.len() > self.limits.max_payload {
            return Err(EncodeError);
        }
        self.buf.put_u32(b.len() as u32);
        self.buf.put_slice(b);
        Ok(())
    }

    fn account(&mut self, a: &AccountState) -> Result<(), EncodeError> {
        self.str(&a.account)?;
        if a.resources.len() > self.limits.max_resources {
            return Err(EncodeError);
        }
        self.buf.put_u16(a.resources.len() as u16);
        for r in &a.resources {
            self.str(&r.resource)?;
            self.buf.put_i8(r.priority);
            self.buf.put_u8(r.availability as u8);
            self.buf.put_u64(r.bound_at);
        }
        Ok(())
    }
}

impl Envelope {
    /// Serialises and tags the envelope.
    pub fn encode(&self, keys: &Keys, limits: &Limits) -> Result<Bytes, EncodeError> {
        let hint = match &self.body {
            Body::Stanza { to, xml } => to.len() + xml.len() + 6,
            Body::Session { state } => state.len() + 4,
            Body::BoshRequest { sid, body, .. } => sid.len() + body.len() + 11,
            Body::BoshAnswer { body, .. } => body.len() + 5,
            _ => 64,
        };
        let mut w =
            Writer { buf: BytesMut::with_capacity(4 + self.sender.len() + hint + TAG_LEN), limits };
        w.buf.put_u8(VERSION);
        w.buf.put_u8(self.body.kind());
        w.str(&self.sender)?;
        match &self.body {
            Body::Stanza { to, xml } => {
                w.str(to)?;
                w.bytes(xml)?;
            }
            Body::Ack(s) => w.buf.put_u8(*s as u8),
            Body::Hello(a) | Body::State(a) => w.account(a)?,
            Body::Kick { full_jid, bound_at } => {
                w.str(full_jid)?;
                w.buf.put_u64(*bound_at);
            }
            Body::Heartbeat { admin_address, started_at } => {
                w.str(admin_address)?;
                w.buf.put_u64(*started_at);
            }
            Body::Leave => {}
            Body::Resume { account, previd } => {
                w.str(account)?;
                w.str(previd)?;
            }
            Body::Session { state } => w.bytes(state)?,
            Body::BoshRequest { sid, wait_ms, truncated, body } => {
                w.str(sid)?;
                w.buf.put_u32(*wait_ms);
                w.buf.put_u8(u8::from(*truncated));
                w.bytes(body)?;
            }
            Body::BoshAnswer { status, body } => {
                w.buf.put_u8(*status as u8);
                w.bytes(body)?;
            }
        }
        let mut mac = keys.mac.clone();
        mac.update(&w.buf);
        let tag = mac.finalize().into_bytes();
        w.buf.put_slice(&tag);
        Ok(w.buf.freeze())
    }

    /// Verifies the tag, then parses. `input` is hostile.
    pub fn decode(input: &[u8], keys: &Keys, limits: &Limits) -> Result<Envelope, DecodeError> {
        if input.len() < 4 + TAG_LEN {
            return Err(DecodeError::TooShort);
        }
        let (signed, tag) = input.split_at(input.len() - TAG_LEN);
        let mut mac = keys.mac.clone();
        mac.update(signed);
        mac.verify_slice(tag).map_err(|_| DecodeError::BadTag)?;
        Self::parse(signed, limits)
    }

    /// Parses the signed part without checking a tag (the fuzz target's entry point).
    pub fn parse(signed: &[u8], limits: &Limits) -> Result<Envelope, DecodeError> {
        let mut r = Reader { buf: signed, limits };
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let kind = r.u8()?;
        let sender = r.str()?;
        let body = match kind {
            1 => Body::Stanza { to: r.str()?, xml: r.bytes()? },
            2 => Body::Ack(match r.u8()? {
                0 => AckStatus::Accepted,
                1 => AckStatus::Busy,
                _ => return Err(DecodeError::Value),
            }),
            3 => Body::Hello(r.account()?),
            4 => Body::State(r.account()?),
            5 => Body::Kick { full_jid: r.str()?, bound_at: r.u64()? },
            6 => Body::Heartbeat { admin_address: r.str()?, started_at: r.u64()? },
            7 => Body::Leave,
            8 => Body::Resume { account: r.str()?, previd: r.str()? },
            9 => Body::Session { state: r.bytes()? },
            10 => Body::BoshRequest {
                sid: r.str()?,
                wait_ms: r.u32()?,
                truncated: match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError::Value),
                },
                body: r.bytes()?,
            },
            11 => Body::BoshAnswer {
                status: match r.u8()? {
                    0 => BoshStatus::Answered,
                    1 => BoshStatus::Unknown,
                    2 => BoshStatus::Busy,
                    _ => return Err(DecodeError::Value),
                },
                body: r.bytes()?,
            },
            k => return Err(DecodeError::Kind(k)),
        };
        if !r.buf.is_empty() {
            return Err(DecodeError::Trailing);
        }
        Ok(Envelope { sender, body })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let len = self.u16()? as usize;
        if len > self.limits.max_str {
            return Err(DecodeError::TooLong);
        }
        let b = self.take(len)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| DecodeError::Utf8)
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u32()? as usize;
        if len > self.limits.max_payload {
            return Err(DecodeError::TooLong);
        }
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    fn account(&mut self) -> Result<AccountState, DecodeError> {
        let account = self.str()?;
        let count = self.u16()? as usize;
        if count > self.limits.max_resources {
            return Err(DecodeError::TooLong);
        }
        // Each resource takes at least 12 bytes: never reserve more than the input could hold.
        let mut resources = Vec::with_capacity(count.min(self.buf.len() / 12));
        for _ in 0..count {
            let resource = self.str()?;
            let priority = self.u8()? as i8;
            let availability = Availability::from_u8(self.u8()?).ok_or(DecodeError::Value)?;
            let bound_at = self.u64()?;
            resources.push(ResourceState { resource, priority, availability, bound_at });
        }
        Ok(AccountState { account, resources })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::derive(b"0123456789abcdef-secret")
    }

    fn samples() -> Vec<Envelope> {
        let state = AccountState {
            account: "alice@example.com".into(),
            resources: vec![
                ResourceState {
                    resource: "phone".into(),
                    priority: -5,
                    availability: Availability::Dnd,
                    bound_at: 1_700_000_000_123,
                },
                ResourceState {
                    resource: "ü".into(),
                    priority: 127,
                    availability: Availability::Unavailable,
                    bound_at: 0,
                },
            ],
        };
        let s = |body| Envelope { sender: "node1@host".into(), body };
        vec![
            s(Body::Stanza {
                to: "alice@example.com/phone".into(),
                xml: Bytes::from_static(
                    b"<message to='alice@example.com'><body>hi</body></message>",
                ),
            }),
            s(Body::Stanza { to: String::new(), xml: Bytes::new() }),
            s(Body::Ack(AckStatus::Accepted)),
            s(Body::Ack(AckStatus::Busy)),
            s(Body::Hello(state.clone())),
            s(Body::State(AccountState { resources: vec![], ..state })),
            s(Body::Kick { full_jid: "alice@example.com/phone".into(), bound_at: u64::MAX }),
            s(Body::Heartbeat { admin_address: "127.0.0.1:5280".into(), started_at: 42 }),
            s(Body::Leave),
            s(Body::Resume { account: "alice@example.com".into(), previd: "0af3".into() }),
            s(Body::Session { state: Bytes::from_static(b"<session/>") }),
            s(Body::Session { state: Bytes::new() }),
            s(Body::BoshRequest {
                sid: "0123456789abcdef0123456789abcdef01234567".into(),
                wait_ms: 60_000,
                truncated: false,
                body: Bytes::from_static(b"<body rid='1' sid='x'/>"),
            }),
            s(Body::BoshRequest {
                sid: String::new(),
                wait_ms: u32::MAX,
                truncated: true,
                body: Bytes::new(),
            }),
            s(Body::BoshAnswer {
                status: BoshStatus::Answered,
                body: Bytes::from_static(b"<body/>"),
            }),
            s(Body::BoshAnswer { status: BoshStatus::Unknown, body: Bytes::new() }),
            s(Body::BoshAnswer { status: BoshStatus::Busy, body: Bytes::new() }),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        let (k, l) = (keys(), Limits::default());
        for e in samples() {
            let wire = e.encode(&k, &l).unwrap();
            assert_eq!(Envelope::decode(&wire, &k, &l).unwrap(), e);
        }
    }

    #[test]
    fn wire_format_is_fixed() {
        let (k, l) = (keys(), Limits::default());
        let e = Envelope {
            sender: "n".into(),
            body: Body::Stanza { to: "a@b".into(), xml: Bytes::from_static(b"<x/>") },
        };
        let wire = e.encode(&k, &l).unwrap();
        let signed = &wire[..wire.len() - TAG_LEN];
        assert_eq!(signed, b"\x01\x01\x00\x01n\x00\x03a@b\x00\x00\x00\x04<x/>");
        assert_eq!(wire.len(), signed.len() + TAG_LEN);
    }

    #[test]
    fn bosh_wire_format_is_fixed() {
        let (k, l) = (keys(), Limits::default());
        let signed = |body| {
            let wire = Envelope { sender: "n".into(), body }.encode(&k, &l).unwrap();
            wire[..wire.len() - TAG_LEN].to_vec()
        };
        assert_eq!(
            signed(Body::BoshRequest {
                sid: "s".into(),
                wait_ms: 60_000,
                truncated: true,
                body: Bytes::from_static(b"<b/>"),
            }),
            b"\x01\x0a\x00\x01n\x00\x01s\x00\x00\xea\x60\x01\x00\x00\x00\x04<b/>"
        );
        assert_eq!(
            signed(Body::BoshAnswer { status: BoshStatus::Busy, body: Bytes::new() }),
            b"\x01\x0b\x00\x01n\x02\x00\x00\x00\x00"
        );
        for seed in [
            &include_bytes!("../fuzz/seeds/envelope/bosh_request")[..],
            &include_bytes!("../fuzz/seeds/envelope/bosh_answer")[..],
        ] {
            assert!(Envelope::parse(seed, &l).is_ok());
        }
    }

    #[test]
    fn wrong_secret_and_any_flipped_bit_are_rejected() {
        let (k, l) = (keys(), Limits::default());
        let other = Keys::derive(b"another secret entirely");
        for e in samples() {
            let wire = e.encode(&k, &l).unwrap();
            assert_eq!(Envelope::decode(&wire, &other, &l), Err(DecodeError::BadTag));
            for i in 0..wire.len() {
                let mut bad = wire.to_vec();
                bad[i] ^= 0x01;
                assert_eq!(Envelope::decode(&bad, &k, &l), Err(DecodeError::BadTag), "byte {i}");
            }
        }
    }

    #[test]
    fn truncations_never_panic_and_are_rejected() {
        let (k, l) = (keys(), Limits::default());
        for e in samples() {
            let wire = e.encode(&k, &l).unwrap();
            let signed = &wire[..wire.len() - TAG_LEN];
            for n in 0..wire.len() {
                assert!(Envelope::decode(&wire[..n], &k, &l).is_err());
            }
            for n in 0..signed.len() {
                assert!(Envelope::parse(&signed[..n], &l).is_err(), "{n}");
            }
            let mut extra = signed.to_vec();
            extra.push(0);
            assert_eq!(Envelope::parse(&extra, &l), Err(DecodeError::Trailing));
        }
    }

    #[test]
    fn limits_are_enforced_both_ways() {
        let k = keys();
        let l = Limits { max_str: 8, max_payload: 4, max_resources: 1 };
        let long = Envelope { sender: "123456789".into(), body: Body::Leave };
        assert_eq!(long.encode(&k, &l), Err(EncodeError));
        let wire = long.encode(&k, &Limits::default()).unwrap();
        assert_eq!(Envelope::decode(&wire, &k, &l), Err(DecodeError::TooLong));
        let big = Envelope {
            sender: "n".into(),
            body: Body::Stanza { to: "a".into(), xml: Bytes::from_static(b"12345") },
        };
        assert_eq!(big.encode(&k, &l), Err(EncodeError));
        let wire = big.encode(&k, &Limits::default()).unwrap();
        assert_eq!(Envelope::decode(&wire, &k, &l), Err(DecodeError::TooLong));
        for e in samples().into_iter().filter(|e| matches!(e.body, Body::Hello(_))) {
            let wire = e.encode(&k, &Limits::default()).unwrap();
            assert_eq!(Envelope::decode(&wire, &k, &l), Err(DecodeError::TooLong));
        }
        // A huge declared count with no data behind it fails without a big allocation.
        let mut signed = b"\x01\x03\x00\x01n\x00\x01a\xff\xff".to_vec();
        assert_eq!(Envelope::parse(&signed, &Limits::default()), Err(DecodeError::TooLong));
        signed.truncate(signed.len() - 2);
        signed.extend_from_slice(b"\x00\x40");
        assert_eq!(Envelope::parse(&signed, &Limits::default()), Err(DecodeError::Truncated));
    }

    #[test]
    fn bad_values_are_rejected() {
        let l = Limits::default();
        assert_eq!(Envelope::parse(b"\x02\x01\x00\x00", &l), Err(DecodeError::Version(2)));
        assert_eq!(Envelope::parse(b"\x01\x0c\x00\x00", &l), Err(DecodeError::Kind(12)));
        assert_eq!(
            Envelope::parse(b"\x01\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x02\0\0\0\0", &l),
            Err(DecodeError::Value)
        );
        assert_eq!(Envelope::parse(b"\x01\x0b\x00\x00\x03\0\0\0\0", &l), Err(DecodeError::Value));
        assert_eq!(Envelope::parse(b"\x01\x02\x00\x00\x07", &l), Err(DecodeError::Value));
        assert_eq!(Envelope::parse(b"\x01\x07\x00\x02\xff\xfe", &l), Err(DecodeError::Utf8));
        assert_eq!(
            Envelope::parse(
                b"\x01\x03\x00\x00\x00\x00\x00\x01\x00\x00\x00\x09\0\0\0\0\0\0\0\0",
                &l
            ),
            Err(DecodeError::Value)
        );
        assert_eq!(Envelope::decode(b"short", &keys(), &l), Err(DecodeError::TooShort));
    }

    #[test]
    fn cost_of_encode_and_verify_per_stanza() {
        // Prints the figure for the report; asserts a generous bound so a debug build passes.
        let (k, l) = (keys(), Limits::default());
        let e = Envelope {
            sender: "meerkat@node1".into(),
            body: Body::Stanza {
                to: "bob@example.com/phone".into(),
                xml: Bytes::from(format!(
                    "<message to='bob@example.com/phone' from='alice@example.com/pc' type='chat' id='x1'><body>{}</body></message>",
                    "hello ".repeat(20)
                )),
            },
        };
        let n = 20_000u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            let wire = e.encode(&k, &l).unwrap();
            let back = Envelope::decode(&wire, &k, &l).unwrap();
            std::hint::black_box(back);
        }
        let per = start.elapsed() / n;
        let len = match &e.body {
            Body::Stanza { xml, .. } => xml.len(),
            _ => 0,
        };
        println!("envelope encode+verify+decode of a {len}-byte stanza: {per:?} per stanza");
        assert!(per < std::time::Duration::from_millis(1));
    }
}
