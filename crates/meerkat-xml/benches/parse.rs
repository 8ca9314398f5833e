//! Stanza parse and serialise, the per-stanza cost of every connection.
//!
//! Parsing is measured in a running stream (header fed once), feeding one stanza per iteration
//! and taking its event, which is what a connection task does per read.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meerkat_xml::{Element, Limits, StreamEvent, StreamParser};

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// A typical one-to-one chat message, about 300 bytes.
fn chat_message() -> Vec<u8> {
    let s = "<message from='juliet@capulet.example/balcony' to='romeo@montague.example' \
             type='chat' id='ktx72v49' xml:lang='en'><body>Art thou not Romeo, and a Montague? \
             &amp; wherefore?</body><active xmlns='http://jabber.org/protocol/chatstates'/>\
             <request xmlns='urn:xmpp:receipts'/><origin-id xmlns='urn:xmpp:sid:0' id='a1b2c3'/>\
             </message>";
    s.as_bytes().to_vec()
}

/// A roster push-like IQ of about 5 KB: many children with attributes and text.
fn large_stanza() -> Vec<u8> {
    let mut s = String::from(
        "<iq type='result' id='roster_1' to='juliet@example.com/balcony'>\
        <query xmlns='jabber:iq:roster' ver='ver42'>",
    );
    let mut i = 0;
    while s.len() < 5000 {
        s.push_str(&format!(
            "<item jid='contact{i}@example.org' name='Contact &amp; Friend {i}' \
             subscription='both'><group>Friends</group></item>"
        ));
        i += 1;
    }
    s.push_str("</query></iq>");
    s.into_bytes()
}

fn parse_one(parser: &mut StreamParser, stanza: &[u8], chunk: usize) -> Element {
    let mut result = None;
    for piece in stanza.chunks(chunk) {
        parser.feed(piece);
        if let Some(StreamEvent::Stanza(e)) = parser.next_event().expect("valid stanza") {
            result = Some(e);
        }
    }
    result.expect("complete stanza")
}

fn bench(c: &mut Criterion) {
    let cases = [("chat_300B", chat_message()), ("roster_5KB", large_stanza())];

    let mut group = c.benchmark_group("parse");
    for (name, stanza) in &cases {
        group.throughput(Throughput::Bytes(stanza.len() as u64));
        for (label, chunk) in [("whole", usize::MAX), ("chunks_64B", 64)] {
            group.bench_with_input(BenchmarkId::new(*name, label), stanza, |b, stanza| {
                let mut parser = StreamParser::new(Limits::default());
                parser.feed(HEADER);
                assert!(matches!(parser.next_event(), Ok(Some(StreamEvent::Open(_)))));
                b.iter(|| black_box(parse_one(&mut parser, black_box(stanza), chunk)));
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("serialise");
    for (name, stanza) in &cases {
        let mut parser = StreamParser::new(Limits::default());
        parser.feed(HEADER);
        let _ = parser.next_event();
        let element = parse_one(&mut parser, stanza, usize::MAX);
        let mut out = Vec::with_capacity(stanza.len() * 2);
        group.throughput(Throughput::Bytes(stanza.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                black_box(&element).write_to(&mut out, "jabber:client");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
