//! The local routing path: a client's message parsed, stamped, routed to another session on the
//! same node, and serialised for that session's socket. No sockets: what is measured is the
//! server's own work per message.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meerkat_server::server::ServerRef;
use meerkat_server::session::{Mail, Mailbox, SessionEntry};
use meerkat_xml::{Limits, StreamEvent, StreamParser};
use std::sync::Arc;

const HEADER: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
const MESSAGE: &[u8] = b"<message to='bob@localhost/phone' type='chat' id='m1'><body>t=1700000000000000000 id=42 hello from the load tool</body></message>";

/// A node with bob bound twice (phone, laptop); every delivered stanza is serialised as the
/// session task would write it.
fn node(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> ServerRef {
    let mut config = meerkat_config::Config::default();
    config.general.data_dir = dir.to_path_buf();
    config.limits.session_queue_stanzas = 1 << 16;
    let server = rt.block_on(meerkat_server::build(config)).expect("node");
    for (i, resource) in ["phone", "laptop"].into_iter().enumerate() {
        let mailbox = Mailbox::new(1 << 16);
        let entry = SessionEntry {
            sid: server.sessions.next_sid(),
            resource: resource.into(),
            mailbox: mailbox.clone(),
            presence: Some(Arc::new(meerkat_xml::Element::new("presence", "jabber:client"))),
            priority: i as i8,
            interested: false,
            carbons: false,
            caps: None,
            blocklist_interested: false,
        };
        server.sessions.bind("bob@localhost", entry);
        rt.spawn(async move {
            let mut out = Vec::with_capacity(4096);
            let mut batch = Vec::new();
            while let Mail::Stanzas = mailbox.recv(&mut batch, 64).await {
                for el in batch.drain(..) {
                    out.clear();
                    el.write_to(&mut out, "jabber:client");
                }
            }
        });
    }
    server
}

fn parse_one(bytes: &[u8]) -> meerkat_xml::Element {
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER);
    p.feed(bytes);
    loop {
        match p.next_event() {
            Ok(Some(StreamEvent::Stanza(el))) => return el,
            Ok(Some(_)) => continue,
            other => panic!("bench input does not parse: {other:?}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = node(&rt, dir.path());
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    let msg = parse_one(MESSAGE);
    g.bench_function("route_to_full_jid", |b| {
        b.to_async(&rt).iter(|| {
            let mut m = msg.clone();
            m.set_attr("from", "alice@localhost/home");
            meerkat_server::router::route(&server, m)
        })
    });
    let mut bare = msg.clone();
    bare.set_attr("to", "bob@localhost");
    g.bench_function("route_to_bare_jid_two_resources", |b| {
        b.to_async(&rt).iter(|| {
            let mut m = bare.clone();
            m.set_attr("from", "alice@localhost/home");
            meerkat_server::router::route(&server, m)
        })
    });
    g.bench_function("parse_stamp_route_full_jid", |b| {
        b.to_async(&rt).iter(|| {
            let mut m = parse_one(MESSAGE);
            m.set_attr("from", "alice@localhost/home");
            meerkat_server::router::route(&server, m)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
