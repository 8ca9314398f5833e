//! Arbitrary bytes, in arbitrary chunk sizes, into `StreamParser`.
//!
//! Input layout: `control`, `seed`, then the stream bytes. `control` bit 0 selects tiny limits
//! (to reach every limit path), bit 1 prepends a valid stream header (to reach stanzas fast);
//! `seed` drives the chunk sizes. Checks:
//! - no panic;
//! - feeding in chunks and feeding at once give the same events and the same error;
//! - the buffer never holds more than the limit plus the last chunk;
//! - a poisoned parser repeats its error;
//! - every stanza, re-serialised and re-parsed, is equal to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meerkat_xml::escape::escape_attr;
use meerkat_xml::{Element, Limits, StreamEvent, StreamParser, XmlError};

const HEADER: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

fn drain(p: &mut StreamParser, events: &mut Vec<StreamEvent>) -> Option<XmlError> {
    loop {
        match p.next_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// Writes `stanza` relative to the stream's default namespace `ns` and parses it back in a
/// stream with that default namespace, with limits high enough for the escaping overhead.
fn assert_round_trip(stanza: &Element, ns: &str) {
    let mut out = Vec::new();
    stanza.write_to(&mut out, ns);
    let mut header = b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'".to_vec();
    if !ns.is_empty() {
        header.extend_from_slice(b" xmlns='");
        escape_attr(&mut header, ns);
        header.push(b'\'');
    }
    header.push(b'>');
    let roomy = Limits {
        max_stanza_bytes: 1 << 24,
        max_depth: 1 << 10,
        max_attributes: 1 << 16,
        max_name_bytes: 1 << 16,
        max_header_bytes: 1 << 20,
    };
    let mut p = StreamParser::new(roomy);
    p.feed(&header);
    p.feed(&out);
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    match p.next_event() {
        Ok(Some(StreamEvent::Stanza(back))) => assert_eq!(&back, stanza),
        other => panic!("re-parse of {:?} gave {other:?}", String::from_utf8_lossy(&out)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else { return };
    let Some((&seed, body)) = rest.split_first() else { return };
    let limits = if control & 1 != 0 {
        Limits {
            max_stanza_bytes: 64,
            max_depth: 4,
            max_attributes: 5,
            max_name_bytes: 16,
            max_header_bytes: 160,
        }
    } else {
        Limits::default()
    };
    let mut input = Vec::with_capacity(HEADER.len() + body.len());
    if control & 2 != 0 {
        input.extend_from_slice(HEADER);
    }
    input.extend_from_slice(body);
    let bound = limits.max_stanza_bytes.max(limits.max_header_bytes);

    // In chunks of 1..=32 bytes (sometimes 1..=4).
    let mut p = StreamParser::new(limits);
    let mut events = Vec::new();
    let mut error = None;
    let mut state = u32::from(seed) | 1;
    let mut rest = &input[..];
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let modulus = if control & 4 != 0 { 4 } else { 32 };
        let n = 1 + (state >> 16) as usize % modulus;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        p.feed(chunk);
        assert!(p.buffered_bytes() <= bound + chunk.len());
        if let Some(e) = drain(&mut p, &mut events) {
            error = Some(e);
            break;
        }
        rest = tail;
    }
    if let Some(e) = &error {
        assert_eq!(p.next_event().as_ref(), Err(e));
        assert_eq!(p.buffered_bytes(), 0);
    }

    // At once.
    let mut q = StreamParser::new(limits);
    q.feed(&input);
    let mut events_whole = Vec::new();
    let error_whole = drain(&mut q, &mut events_whole);
    assert_eq!(events, events_whole);
    assert_eq!(error, error_whole);

    let mut default_ns = String::new();
    for event in &events {
        match event {
            StreamEvent::Open(open) => default_ns = open.default_ns.clone().unwrap_or_default(),
            StreamEvent::Stanza(stanza) => assert_round_trip(stanza, &default_ns),
            StreamEvent::Close => {}
        }
    }
});
