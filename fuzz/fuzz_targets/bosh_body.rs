//! Arbitrary BOSH request bodies (XEP-0124/XEP-0206) through `meerkat_stream::bosh`.
//!
//! Input layout: `control`, then the body bytes. `control` bit 0 selects tiny limits. Checks:
//! - `parse_body` and `sniff_sid` never panic;
//! - an accepted body has a rid within 2^53 - 1, and every payload element, written back the
//!   way responses write them inside a `<body/>`, parses back equal to itself;
//! - `sniff_sid` only returns ASCII letters and digits;
//! - the rid window classifies every rid without overflow, whatever the session's first rid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meerkat_stream::bosh::{
    parse_body, sniff_sid, write_body, write_element, RidCheck, RidWindow, MAX_RID,
};
use meerkat_xml::Limits;

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
    if let Some(sid) = sniff_sid(rest) {
        assert!(!sid.is_empty() && sid.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    let Ok(body) = parse_body(rest, limits) else { return };
    assert!(body.rid <= MAX_RID);
    let mut payload = Vec::new();
    for el in &body.payload {
        write_element(&mut payload, el);
    }
    // Written as a request would carry it, the payload parses back to the same elements
    // (stream-namespace elements aside: responses write them with the body's prefix only).
    if body.payload.iter().all(|e| e.ns != "http://etherx.jabber.org/streams" && !e.ns.is_empty())
    {
        let mut out = Vec::new();
        write_body(&mut out, &[("rid", body.rid.to_string())], &payload);
        let roomy = Limits {
            max_stanza_bytes: 1 << 24,
            max_depth: 1 << 10,
            max_attributes: 1 << 16,
            max_name_bytes: 1 << 16,
            max_header_bytes: 1 << 20,
        };
        let back = parse_body(&out, roomy).expect("written body parses back");
        assert_eq!(back.payload, body.payload);
    }
    let w = RidWindow::new(body.rid, u32::from(control >> 1));
    for rid in [0, 1, body.rid, body.rid.wrapping_add(1), body.rid.wrapping_sub(1), u64::MAX] {
        let _: RidCheck = w.check(rid);
    }
});
