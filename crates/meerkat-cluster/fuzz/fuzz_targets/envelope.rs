//! Feeds arbitrary bytes to the envelope decoder, both through the tag check (with the input's
//! tail as the tag) and straight to the parser behind it (which a real attacker only reaches
//! with the secret, but a bug there must still not panic). Whatever parses must re-encode to
//! the same bytes and decode back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meerkat_cluster::envelope::{Envelope, Keys, Limits, TAG_LEN};
use std::sync::OnceLock;

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| Keys::derive(b"fuzzing-cluster-secret"))
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_str: 3071, max_payload: 64 * 1024, max_resources: 64 };
    let _ = Envelope::decode(data, keys(), &limits);
    if let Ok(env) = Envelope::parse(data, &limits) {
        let wire = env.encode(keys(), &limits).expect("a parsed envelope re-encodes");
        assert_eq!(&wire[..wire.len() - TAG_LEN], data);
        assert_eq!(Envelope::decode(&wire, keys(), &limits).expect("round trip"), env);
    }
});
