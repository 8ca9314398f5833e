//! Drives `ServerMechanism` for every mechanism with arbitrary client messages.
//!
//! Input layout: `control`, then length-prefixed messages (one length byte each; the last one
//! takes the rest). `control` picks the mechanism (low 3 bits, modulo 5), the channel binding
//! data available (bits 3..=5) and whether the user exists (bit 6). The exchange runs `start`,
//! answers `NeedCredentials` with fixed credentials (or `None`), and answers each `Challenge`
//! with the next message, until `Success`, `Failure` or the messages run out. It must never
//! panic, and must not succeed for an unknown user.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meerkat_proto::sasl::{
    ChannelBinding, Mechanism, SaslStep, ServerMechanism, StoredCredentials,
};

const MECHANISMS: [Mechanism; 5] = [
    Mechanism::Plain,
    Mechanism::ScramSha1,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha256Plus,
];

/// Few iterations: PLAIN derives keys on every attempt, and the fuzzer wants many per second.
const ITERATIONS: u32 = 16;

fn credentials() -> &'static StoredCredentials {
    static CREDS: OnceLock<StoredCredentials> = OnceLock::new();
    CREDS.get_or_init(|| StoredCredentials::from_password("pencil", ITERATIONS))
}

/// Splits `data` into length-prefixed messages.
fn messages(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len).min(rest.len());
        let (msg, tail) = rest.split_at(len);
        out.push(msg);
        data = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else { return };
    let mechanism = MECHANISMS[usize::from(control & 7) % MECHANISMS.len()];
    let binding = ChannelBinding {
        tls_exporter: (control & 0x08 != 0).then(|| b"exporter-keying-material-32bytes".to_vec()),
        tls_server_end_point: (control & 0x10 != 0).then(|| vec![0xAB; 32]),
        plus_offered: control & 0x20 != 0,
    };
    let user_exists = control & 0x40 == 0;
    let Some(m) = ServerMechanism::with_server_nonce(mechanism, binding, "fuzzServerNonce") else {
        panic!("fixed nonce rejected");
    };
    let mut m = m.with_fake_iterations(ITERATIONS);

    let mut msgs = messages(rest).into_iter();
    let mut step = m.start(msgs.next().unwrap_or_default());
    for _ in 0..8 {
        step = match step {
            SaslStep::NeedCredentials { .. } => {
                m.provide_credentials(user_exists.then(credentials))
            }
            SaslStep::Challenge(_) => match msgs.next() {
                Some(msg) => m.respond(msg),
                None => break,
            },
            SaslStep::Success { .. } => {
                assert!(user_exists, "success for an unknown user");
                break;
            }
            SaslStep::Failure(_) => break,
        };
    }
    // Whatever state it ended in, more input must not panic either.
    let _ = m.respond(b"n,,n=user,r=abc");
    let _ = m.provide_credentials(Some(credentials()));
    let _ = m.start(b"");
});
