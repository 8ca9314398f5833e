//! The part of the NATS client protocol the subscription connection speaks: parsing what the
//! server sends (INFO, MSG, PING, PONG, +OK, -ERR) out of a bounded buffer, and writing
//! CONNECT, SUB, UNSUB, PING and PONG.
//!
//! Everything read is hostile: no byte sequence panics, every length is checked before it is
//! trusted, and the caller's buffer never has to hold more than [`LINE_MAX`] plus the payload
//! limit plus one read.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Longest control line accepted (INFO with a large cluster's `connect_urls` included).
pub const LINE_MAX: usize = 64 * 1024;

/// Payload limit assumed until the server's INFO says otherwise (the NATS default).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// Largest `max_payload` an INFO may announce (the NATS server's own ceiling): a hostile or
/// broken server cannot make us buffer more.
pub const MAX_PAYLOAD_CEILING: usize = 64 * 1024 * 1024;

/// The fields of the server's INFO this client uses.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Info {
    /// Largest message payload the server accepts and sends.
    #[serde(default)]
    pub max_payload: Option<u64>,
    /// The server only talks TLS.
    #[serde(default)]
    pub tls_required: bool,
    /// Server id, for the logs.
    #[serde(default)]
    pub server_id: String,
    /// Server version, for the logs.
    #[serde(default)]
    pub version: String,
}

impl Info {
    /// The payload limit to enforce: the announced one, capped at [`MAX_PAYLOAD_CEILING`].
    pub fn payload_limit(&self) -> usize {
        match self.max_payload {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(MAX_PAYLOAD_CEILING),
            None => DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// One operation from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerOp {
    /// Server information (first thing sent; may come again on topology changes).
    Info(Info),
    /// A message on subscription `sid`.
    Msg {
        /// Subscription id we gave in SUB.
        sid: u64,
        /// Where an answer goes, if the publisher asked for one.
        reply: Option<String>,
        /// The payload.
        payload: Bytes,
    },
    /// Keep-alive from the server: answer PONG.
    Ping,
    /// Answer to one of our PINGs (in order).
    Pong,
    /// Acknowledgement (only in verbose mode, which we do not ask for).
    Ok,
    /// Error text from the server.
    Err(String),
}

/// Why the connection must be closed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// A control line longer than [`LINE_MAX`].
    #[error("control line longer than {LINE_MAX} bytes")]
    LineTooLong,
    /// A MSG announcing more than the payload limit.
    #[error("message payload of {0} bytes exceeds the limit")]
    PayloadTooLarge(usize),
    /// Anything else that is not the protocol.
    #[error("protocol violation: {0}")]
    Malformed(&'static str),
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Digits only: no sign, no spaces, no overflow.
fn parse_number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn args(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| *b == b' ' || *b == b'\t').filter(|a| !a.is_empty())
}

/// Takes the next complete operation off the front of `buf`; `Ok(None)` when more bytes are
/// needed (nothing is consumed then). `max_payload` bounds MSG payloads.
pub fn parse(buf: &mut BytesMut, max_payload: usize) -> Result<Option<ServerOp>, ProtoError> {
    let Some(eol) = find_crlf(buf) else {
        // One byte of slack: a line of exactly LINE_MAX may be waiting for its '\n'.
        if buf.len() > LINE_MAX + 1 {
            return Err(ProtoError::LineTooLong);
        }
        return Ok(None);
    };
    if eol > LINE_MAX {
        return Err(ProtoError::LineTooLong);
    }
    let line = buf.get(..eol).ok_or(ProtoError::Malformed("line bounds"))?;
    let (op, rest) = match line.iter().position(|b| *b == b' ' || *b == b'\t') {
        Some(i) => (line.get(..i).unwrap_or_default(), line.get(i + 1..).unwrap_or_default()),
        None => (line, &[][..]),
    };
    let op = op.to_ascii_uppercase();
    match op.as_slice() {
        b"MSG" => parse_msg(buf, eol, max_payload),
        b"PING" | b"PONG" | b"+OK" => {
            let out = match op.as_slice() {
                b"PING" => ServerOp::Ping,
                b"PONG" => ServerOp::Pong,
                _ => ServerOp::Ok,
            };
            buf.advance(eol + 2);
            Ok(Some(out))
        }
        b"-ERR" => {
            let text = String::from_utf8_lossy(rest);
            let text = text.trim().trim_matches('\'').to_owned();
            buf.advance(eol + 2);
            Ok(Some(ServerOp::Err(text)))
        }
        b"INFO" => {
            let info: Info =
                serde_json::from_slice(rest).map_err(|_| ProtoError::Malformed("INFO json"))?;
            buf.advance(eol + 2);
            Ok(Some(ServerOp::Info(info)))
        }
        _ => Err(ProtoError::Malformed("unknown operation")),
    }
}

/// `MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n`
fn parse_msg(
    buf: &mut BytesMut,
    eol: usize,
    max_payload: usize,
) -> Result<Option<ServerOp>, ProtoError> {
    let line = buf.get(4..eol).ok_or(ProtoError::Malformed("MSG line"))?;
    let mut fields = [&[][..]; 4];
    let mut n = 0;
    for a in args(line) {
        let slot = fields.get_mut(n).ok_or(ProtoError::Malformed("MSG arguments"))?;
        *slot = a;
        n += 1;
    }
    let (sid, reply, size) = match (n, fields) {
        (3, [_, sid, size, _]) => (sid, None, size),
        (4, [_, sid, reply, size]) => (sid, Some(reply), size),
        _ => return Err(ProtoError::Malformed("MSG arguments")),
    };
    let sid = parse_number(sid).ok_or(ProtoError::Malformed("MSG sid"))?;
    let size = parse_number(size).ok_or(ProtoError::Malformed("MSG size"))?;
    let size = usize::try_from(size).map_err(|_| ProtoError::PayloadTooLarge(usize::MAX))?;
    if size > max_payload {
        return Err(ProtoError::PayloadTooLarge(size));
    }
    let reply = match reply {
        Some(r) => {
            Some(std::str::from_utf8(r).map_err(|_| ProtoError::Malformed("MSG reply"))?.to_owned())
        }
        None => None,
    };
    // Header line, payload and its CRLF.
    let total = size.checked_add(eol + 4).ok_or(ProtoError::PayloadTooLarge(size))?;
    if buf.len() < total {
        return Ok(None);
    }
    if buf.get(total - 2..total) != Some(&b"\r\n"[..]) {
        return Err(ProtoError::Malformed("MSG payload not followed by CRLF"));
    }
    // Copied out rather than split off: a queued stanza must not keep the whole read buffer
    // alive behind it.
    let payload = Bytes::copy_from_slice(buf.get(eol + 2..total - 2).unwrap_or_default());
    buf.advance(total);
    Ok(Some(ServerOp::Msg { sid, reply, payload }))
}

/// The CONNECT options this client sends.
#[derive(Debug, Serialize)]
pub struct Connect<'a> {
    /// +OK after every command: no.
    pub verbose: bool,
    /// Strict subject checking: no.
    pub pedantic: bool,
    /// Whether TLS is required (never: TLS URLs use the async-nats path).
    pub tls_required: bool,
    /// Client name shown by the server's monitoring.
    pub name: &'a str,
    /// Implementation language.
    pub lang: &'a str,
    /// Client version.
    pub version: &'a str,
    /// 1: the server may send INFO updates.
    pub protocol: u8,
    /// Receive our own publications (we publish nothing here; same as the main client).
    pub echo: bool,
    /// Message headers: account envelopes carry none.
    pub headers: bool,
    /// User name from the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    /// Password from the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<&'a str>,
    /// Token from the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<&'a str>,
}

/// Appends `CONNECT {json}\r\n`.
pub fn write_connect(out: &mut BytesMut, c: &Connect<'_>) {
    out.put_slice(b"CONNECT ");
    // Serialising plain strings and booleans cannot fail; an empty object is still valid.
    let json = serde_json::to_vec(c).unwrap_or_else(|_| b"{}".to_vec());
    out.put_slice(&json);
    out.put_slice(b"\r\n");
}

/// Appends `SUB <subject> <sid>\r\n`. Subjects come from [`crate::Subjects`] (no spaces).
pub fn write_sub(out: &mut BytesMut, subject: &str, sid: u64) {
    out.put_slice(b"SUB ");
    out.put_slice(subject.as_bytes());
    out.put_u8(b' ');
    out.put_slice(sid.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

/// Appends `UNSUB <sid>\r\n`.
pub fn write_unsub(out: &mut BytesMut, sid: u64) {
    out.put_slice(b"UNSUB ");
    out.put_slice(sid.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

/// Appends `PING\r\n`.
pub fn write_ping(out: &mut BytesMut) {
    out.put_slice(b"PING\r\n");
}

/// Appends `PONG\r\n`.
pub fn write_pong(out: &mut BytesMut) {
    out.put_slice(b"PONG\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Result<Vec<ServerOp>, ProtoError> {
        let mut buf = BytesMut::from(input);
        let mut ops = Vec::new();
        while let Some(op) = parse(&mut buf, max)? {
            ops.push(op);
        }
        Ok(ops)
    }

    const STREAM: &[u8] = b"INFO {\"server_id\":\"X\",\"version\":\"2.10.0\",\"max_payload\":1048576,\"headers\":true,\"connect_urls\":[\"a\"]}\r\n\
+OK\r\nPING\r\nMSG mk.c.u.00 7 5\r\nhello\r\npong\r\nMSG mk.c.u.01  12  _INBOX.abc.def  0\r\n\r\n-ERR 'Unknown Protocol Operation'\r\nmsg a 1 3\r\n\r\n\r\r\n";

    fn expected() -> Vec<ServerOp> {
        vec![
            ServerOp::Info(Info {
                max_payload: Some(1_048_576),
                tls_required: false,
                server_id: "X".into(),
                version: "2.10.0".into(),
            }),
            ServerOp::Ok,
            ServerOp::Ping,
            ServerOp::Msg { sid: 7, reply: None, payload: Bytes::from_static(b"hello") },
            ServerOp::Pong,
            ServerOp::Msg { sid: 12, reply: Some("_INBOX.abc.def".into()), payload: Bytes::new() },
            ServerOp::Err("Unknown Protocol Operation".into()),
            // The payload may itself contain CRLF: only the announced size counts.
            ServerOp::Msg { sid: 1, reply: None, payload: Bytes::from_static(b"\r\n\r") },
        ]
    }

    #[test]
    fn parses_a_stream_of_every_operation() {
        assert_eq!(all(STREAM, DEFAULT_MAX_PAYLOAD).unwrap(), expected());
    }

    #[test]
    fn a_stream_split_at_every_byte_parses_the_same() {
        for cut in 0..=STREAM.len() {
            let mut buf = BytesMut::new();
            let mut ops = Vec::new();
            for part in [&STREAM[..cut], &STREAM[cut..]] {
                buf.extend_from_slice(part);
                while let Some(op) = parse(&mut buf, DEFAULT_MAX_PAYLOAD).unwrap() {
                    ops.push(op);
                }
            }
            assert_eq!(ops, expected(), "cut at {cut}");
            assert!(buf.is_empty());
        }
        // And fed one byte at a time.
        let mut buf = BytesMut::new();
        let mut ops = Vec::new();
        for b in STREAM {
            buf.put_u8(*b);
            while let Some(op) = parse(&mut buf, DEFAULT_MAX_PAYLOAD).unwrap() {
                ops.push(op);
            }
        }
        assert_eq!(ops, expected());
    }

    #[test]
    fn oversized_payloads_and_lines_close_the_connection() {
        assert_eq!(all(b"MSG s 1 101\r\n", 100), Err(ProtoError::PayloadTooLarge(101)));
        assert_eq!(all(b"MSG s 1 100\r\n", 100).unwrap(), vec![]);
        assert!(matches!(
            all(b"MSG s 1 99999999999999999999\r\n", 100),
            Err(ProtoError::Malformed(_))
        ));
        assert!(matches!(
            all(b"MSG s 1 18446744073709551615\r\n", usize::MAX),
            Err(ProtoError::PayloadTooLarge(_)) | Ok(_)
        ));
        let long = vec![b'A'; LINE_MAX + 2];
        assert_eq!(all(&long, 100), Err(ProtoError::LineTooLong));
        let mut long_line = b"MSG ".to_vec();
        long_line.extend(vec![b'a'; LINE_MAX]);
        long_line.extend_from_slice(b" 1 1\r\nx\r\n");
        assert_eq!(all(&long_line, 100), Err(ProtoError::LineTooLong));
        // Just under the limit and incomplete: wait for more.
        assert_eq!(all(&vec![b'A'; LINE_MAX], 100).unwrap(), vec![]);
    }

    #[test]
    fn garbage_and_bad_numbers_are_errors_never_panics() {
        for bad in [
            &b"HELLO\r\n"[..],
            b"\r\n",
            b"MSG\r\n",
            b"MSG s\r\n",
            b"MSG s 1\r\n",
            b"MSG s -1 3\r\nabc\r\n",
            b"MSG s 1 -3\r\nabc\r\n",
            b"MSG s +1 3\r\nabc\r\n",
            b"MSG s 1 +3\r\nabc\r\n",
            b"MSG s 1 0x3\r\nabc\r\n",
            b"MSG s 18446744073709551616 3\r\nabc\r\n",
            b"MSG s 1 r 3 extra\r\nabc\r\n",
            b"MSG s 1 3\r\nabcXY",
            b"MSG s 1 \xff\xfe 3\r\nabc\r\n",
            b"INFO {not json}\r\n",
            b"INFO\r\n",
            b"INFO {\"max_payload\":-5}\r\n",
            b"HMSG s 1 3 3\r\nabc\r\n",
            b"\x00\x01\x02\r\n",
        ] {
            assert!(all(bad, 1000).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Every prefix of every sample, and random-looking bytes: errors or waiting, no panic.
        let mut x: u32 = 0x1234_5678;
        let mut junk = Vec::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let alphabet = b"MSG PING\r\n 0123456789-+\tINFO{}\"x";
            junk.push(alphabet[x as usize % alphabet.len()]);
        }
        for end in (0..junk.len()).step_by(97) {
            let _ = all(&junk[..end], 64);
        }
    }

    #[test]
    fn info_payload_limit_is_capped() {
        let mut buf = BytesMut::from(&b"INFO {\"max_payload\":99999999999999}\r\n"[..]);
        let Some(ServerOp::Info(info)) = parse(&mut buf, 0).unwrap() else { panic!() };
        assert_eq!(info.payload_limit(), MAX_PAYLOAD_CEILING);
        assert_eq!(Info::default().payload_limit(), DEFAULT_MAX_PAYLOAD);
        let mut buf = BytesMut::from(&b"INFO {\"tls_required\":true}\r\n"[..]);
        let Some(ServerOp::Info(info)) = parse(&mut buf, 0).unwrap() else { panic!() };
        assert!(info.tls_required);
    }

    #[test]
    fn writes_commands() {
        let mut out = BytesMut::new();
        write_sub(&mut out, "mk.c.u.0f", 42);
        write_unsub(&mut out, 42);
        write_ping(&mut out);
        write_pong(&mut out);
        assert_eq!(&out[..], b"SUB mk.c.u.0f 42\r\nUNSUB 42\r\nPING\r\nPONG\r\n");
        let mut out = BytesMut::new();
        write_connect(
            &mut out,
            &Connect {
                verbose: false,
                pedantic: false,
                tls_required: false,
                name: "meerkat \"n\"",
                lang: "rust",
                version: "0.1.0",
                protocol: 1,
                echo: true,
                headers: false,
                user: Some("u"),
                pass: Some("p"),
                auth_token: None,
            },
        );
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.starts_with("CONNECT {") && s.ends_with("}\r\n"), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s[8..s.len() - 2]).unwrap();
        assert_eq!(v["name"], "meerkat \"n\"");
        assert_eq!(v["protocol"], 1);
        assert_eq!(v["user"], "u");
        assert!(v.get("auth_token").is_none());
    }
}
