//! Cost the cluster adds per stanza sent to another node: subject name, envelope encode
//! (HMAC-SHA-256 tag) and, on the receiving node, verify + decode.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use meerkat_cluster::envelope::{Body, Envelope, Keys, Limits};
use meerkat_cluster::subjects::Subjects;

fn stanza() -> Envelope {
    let xml = format!(
        "<message to='bob@example.com/phone' from='alice@example.com/pc' type='chat' id='m1'><body>{}</body></message>",
        "hello ".repeat(20)
    );
    Envelope {
        sender: "meerkat@node1".into(),
        body: Body::Stanza { to: "bob@example.com/phone".into(), xml: Bytes::from(xml) },
    }
}

fn bench(c: &mut Criterion) {
    let keys = Keys::derive(b"bench-cluster-secret-0123456789");
    let limits = Limits::default();
    let subjects = Subjects::new("bench", keys.subject_key()).unwrap_or_else(|| unreachable!());
    let env = stanza();
    let wire = env.encode(&keys, &limits).unwrap_or_else(|_| unreachable!());
    let mut g = c.benchmark_group("cluster");
    g.throughput(Throughput::Elements(1));
    g.bench_function("subject", |b| {
        b.iter(|| subjects.account(black_box("bob@example.com/phone")))
    });
    g.bench_function("encode", |b| b.iter(|| env.encode(black_box(&keys), &limits)));
    g.bench_function("verify_decode", |b| {
        b.iter(|| Envelope::decode(black_box(&wire), &keys, &limits))
    });
    g.bench_function("subject_encode_verify_decode", |b| {
        b.iter(|| {
            let s = subjects.account(black_box("bob@example.com/phone"));
            let w = env.encode(&keys, &limits).unwrap_or_else(|_| unreachable!());
            (s, Envelope::decode(&w, &keys, &limits))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
