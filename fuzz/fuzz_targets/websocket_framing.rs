//! Arbitrary WebSocket messages through the RFC 7395 framing
//! (`meerkat_stream::websocket::parse_message`).
//!
//! Input layout: `control`, then messages separated by the byte 0xFF (never valid in UTF-8, so a
//! separator cannot hide inside text). `control` bit 0 selects tiny limits. Checks:
//! - no panic;
//! - after every accepted message nothing stays buffered (one complete element per message);
//! - after an error the parser stays poisoned;
//! - every element accepted, written back as one message, parses back equal to itself (except
//!   a top-level element in no namespace, see below).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meerkat_stream::websocket::{parse_message, prime, write_element};
use meerkat_xml::{Limits, StreamEvent, StreamParser};

fn parser(limits: Limits) -> StreamParser {
    let mut p = StreamParser::new(limits);
    prime(&mut p);
    p
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else { return };
    let limits = if control & 1 == 1 {
        Limits {
            max_stanza_bytes: 64,
            max_depth: 3,
            max_attributes: 4,
            max_name_bytes: 16,
            max_header_bytes: 4096,
        }
    } else {
        Limits::default()
    };
    let mut p = parser(limits);
    for message in rest.split(|&b| b == 0xFF) {
        match parse_message(&mut p, message) {
            Ok(event) => {
                assert_eq!(p.buffered_bytes(), 0, "a partial element survived its message");
                // A top-level element in no namespace (`xmlns=''`) is written without a
                // declaration, as standalone XML wants, and so reads back as jabber:client here;
                // the node never writes one.
                if let Some(StreamEvent::Stanza(el)) =
                    event.filter(|e| !matches!(e, StreamEvent::Stanza(el) if el.ns.is_empty()))
                {
                    let mut out = Vec::new();
                    write_element(&mut out, &el);
                    let mut roomy = parser(Limits {
                        max_stanza_bytes: 1 << 24,
                        max_depth: 1 << 10,
                        max_attributes: 1 << 16,
                        max_name_bytes: 1 << 16,
                        max_header_bytes: 1 << 20,
                    });
                    match parse_message(&mut roomy, &out) {
                        Ok(Some(StreamEvent::Stanza(back))) => assert_eq!(back, el),
                        other => panic!("written element did not parse back: {other:?}"),
                    }
                }
            }
            Err(e) => {
                assert_eq!(parse_message(&mut p, b"<presence/>"), Err(e));
                return;
            }
        }
    }
});
