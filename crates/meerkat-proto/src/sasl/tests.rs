//! Tests for the SASL mechanisms: RFC test vectors, full exchanges driven by a small SCRAM
//! client written here (independently of the server code), and every failure path.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::*;

// ---------------------------------------------------------------------------------------------
// A minimal SCRAM client, to drive exchanges end to end.

fn c_hmac(hash: ScramHash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => {
            let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        ScramHash::Sha256 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn c_hash(hash: ScramHash, data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => Sha1::digest(data).to_vec(),
        ScramHash::Sha256 => Sha256::digest(data).to_vec(),
    }
}

fn c_hi(hash: ScramHash, password: &str, salt: &[u8], i: u32) -> Vec<u8> {
    let mut out = vec![0; hash.output_len()];
    match hash {
        ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), salt, i, &mut out),
        ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, i, &mut out),
    }
    out
}

/// Client side of one SCRAM exchange.
struct ScramClient {
    hash: ScramHash,
    password: String,
    gs2_header: String,
    cbind_data: Vec<u8>,
    bare: String,
    client_nonce: String,
    expected_server_final: Option<Vec<u8>>,
}

/// Knobs for building a deliberately wrong client-final message.
#[derive(Default)]
struct Tweak {
    nonce: Option<String>,
    cbind_input: Option<Vec<u8>>,
}

impl ScramClient {
    /// `username` is sent as is (already `=2C`/`=3D` escaped by the test if needed).
    fn new(hash: ScramHash, username: &str, password: &str, gs2_header: &str) -> Self {
        let client_nonce = "rOprNGfwEbeRWgbNEkqO".to_owned();
        ScramClient {
            hash,
            password: password.to_owned(),
            gs2_header: gs2_header.to_owned(),
            cbind_data: Vec::new(),
            bare: format!("n={username},r={client_nonce}"),
            client_nonce,
            expected_server_final: None,
        }
    }

    fn with_cbind_data(mut self, data: &[u8]) -> Self {
        self.cbind_data = data.to_vec();
        self
    }

    fn first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.bare).into_bytes()
    }

    fn final_message(&mut self, server_first: &[u8]) -> Vec<u8> {
        self.final_tweaked(server_first, Tweak::default())
    }

    fn final_tweaked(&mut self, server_first: &[u8], tweak: Tweak) -> Vec<u8> {
        let server_first = std::str::from_utf8(server_first).unwrap();
        let mut parts = server_first.split(',');
        let nonce = parts.next().unwrap().strip_prefix("r=").unwrap();
        let salt = BASE64.decode(parts.next().unwrap().strip_prefix("s=").unwrap()).unwrap();
        let i: u32 = parts.next().unwrap().strip_prefix("i=").unwrap().parse().unwrap();
        assert!(nonce.starts_with(&self.client_nonce), "server must extend our nonce");

        let mut cbind_input = self.gs2_header.clone().into_bytes();
        cbind_input.extend_from_slice(&self.cbind_data);
        let cbind_input = tweak.cbind_input.unwrap_or(cbind_input);
        let nonce = tweak.nonce.unwrap_or_else(|| nonce.to_owned());
        let without_proof = format!("c={},r={nonce}", BASE64.encode(cbind_input));
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);

        let salted = c_hi(self.hash, &self.password, &salt, i);
        let client_key = c_hmac(self.hash, &salted, b"Client Key");
        let stored_key = c_hash(self.hash, &client_key);
        let client_signature = c_hmac(self.hash, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let server_key = c_hmac(self.hash, &salted, b"Server Key");
        let server_signature = c_hmac(self.hash, &server_key, auth_message.as_bytes());
        self.expected_server_final =
            Some(format!("v={}", BASE64.encode(server_signature)).into_bytes());
        format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes()
    }
}

/// Runs a whole exchange and returns the last step.
fn run(
    mechanism: &mut ServerMechanism,
    client: &mut ScramClient,
    credentials: Option<&StoredCredentials>,
) -> SaslStep {
    match mechanism.start(&client.first()) {
        SaslStep::NeedCredentials { .. } => {}
        other => return other,
    }
    let server_first = match mechanism.provide_credentials(credentials) {
        SaslStep::Challenge(bytes) => bytes,
        other => return other,
    };
    let client_final = client.final_message(&server_first);
    mechanism.respond(&client_final)
}

fn user_creds() -> StoredCredentials {
    StoredCredentials::from_password("pencil", 4096)
}

fn success_for(client: &ScramClient, username: &str) -> SaslStep {
    SaslStep::Success {
        username: username.to_owned(),
        additional_data: client.expected_server_final.clone().unwrap(),
    }
}

fn exporter_binding() -> ChannelBinding {
    ChannelBinding {
        tls_exporter: Some(b"exporter-keying-material-32-byte".to_vec()),
        tls_server_end_point: Some(vec![0xAB; 32]),
        plus_offered: true,
    }
}

// ---------------------------------------------------------------------------------------------
// RFC test vectors.

#[test]
fn rfc5802_scram_sha1_example() {
    let salt = BASE64.decode("QSXCR+Q6sek8bf92").unwrap();
    let creds = StoredCredentials {
        sha1: ScramCredentials::derive(ScramHash::Sha1, "pencil", &salt, 4096),
        sha256: ScramCredentials::derive(ScramHash::Sha256, "pencil", &salt, 4096),
    };
    let mut m = ServerMechanism::with_server_nonce(
        Mechanism::ScramSha1,
        ChannelBinding::default(),
        "3rfcNHYJY1ZVvWVs7j",
    )
    .unwrap();
    assert_eq!(
        m.start(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"),
        SaslStep::NeedCredentials { username: "user".into() }
    );
    assert_eq!(
        m.provide_credentials(Some(&creds)),
        SaslStep::Challenge(
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096".to_vec()
        )
    );
    assert_eq!(
        m.respond(
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        ),
        SaslStep::Success {
            username: "user".into(),
            additional_data: b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".to_vec()
        }
    );
    assert_eq!(m.authzid(), None);
}

#[test]
fn rfc7677_scram_sha256_example() {
    let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let creds = StoredCredentials {
        sha1: ScramCredentials::derive(ScramHash::Sha1, "pencil", &salt, 4096),
        sha256: ScramCredentials::derive(ScramHash::Sha256, "pencil", &salt, 4096),
    };
    let mut m = ServerMechanism::with_server_nonce(
        Mechanism::ScramSha256,
        ChannelBinding::default(),
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    )
    .unwrap();
    assert_eq!(
        m.start(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
        SaslStep::NeedCredentials { username: "user".into() }
    );
    assert_eq!(
        m.provide_credentials(Some(&creds)),
        SaslStep::Challenge(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,\
              i=4096"
                .to_vec()
        )
    );
    assert_eq!(
        m.respond(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        ),
        SaslStep::Success {
            username: "user".into(),
            additional_data: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
        }
    );
}

#[test]
fn fixed_nonce_must_be_printable_without_commas() {
    let b = ChannelBinding::default;
    assert!(ServerMechanism::with_server_nonce(Mechanism::ScramSha1, b(), "").is_none());
    assert!(ServerMechanism::with_server_nonce(Mechanism::ScramSha1, b(), "a,b").is_none());
    assert!(ServerMechanism::with_server_nonce(Mechanism::ScramSha1, b(), "a b").is_none());
    assert!(ServerMechanism::with_server_nonce(Mechanism::ScramSha1, b(), "ab~").is_some());
}

// ---------------------------------------------------------------------------------------------
// Credentials.

#[test]
fn from_password_makes_fresh_salts_and_both_hashes() {
    let a = StoredCredentials::from_password("pencil", 4096);
    let b = StoredCredentials::from_password("pencil", 4096);
    assert_eq!(a.sha1.salt.len(), SALT_BYTES);
    assert_eq!(a.sha256.salt.len(), SALT_BYTES);
    assert_ne!(a.sha1.salt, a.sha256.salt);
    assert_ne!(a.sha256.salt, b.sha256.salt);
    assert_eq!(a.sha1.stored_key.len(), 20);
    assert_eq!(a.sha256.server_key.len(), 32);
    assert_eq!(a.sha256.iterations, 4096);
    // The keys are those `derive` gives for the same salt.
    assert_eq!(a.sha1, ScramCredentials::derive(ScramHash::Sha1, "pencil", &a.sha1.salt, 4096));
}

#[test]
fn derive_applies_saslprep() {
    // U+00AD SOFT HYPHEN is mapped to nothing by SASLprep; U+2168 ROMAN NUMERAL NINE to "IX".
    let salt = b"salt";
    let plain = ScramCredentials::derive(ScramHash::Sha256, "IX", salt, 16);
    assert_eq!(plain, ScramCredentials::derive(ScramHash::Sha256, "I\u{AD}X", salt, 16));
    assert_eq!(plain, ScramCredentials::derive(ScramHash::Sha256, "\u{2168}", salt, 16));
}

// ---------------------------------------------------------------------------------------------
// PLAIN.

fn plain(msg: &[u8], creds: Option<&StoredCredentials>) -> (SaslStep, ServerMechanism) {
    let mut m = ServerMechanism::new(Mechanism::Plain, ChannelBinding::default());
    match m.start(msg) {
        SaslStep::NeedCredentials { .. } => {}
        other => return (other, m),
    }
    (m.provide_credentials(creds), m)
}

#[test]
fn plain_good_password() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::Plain, ChannelBinding::default());
    assert_eq!(m.start(b"\0user\0pencil"), SaslStep::NeedCredentials { username: "user".into() });
    assert_eq!(
        m.provide_credentials(Some(&creds)),
        SaslStep::Success { username: "user".into(), additional_data: vec![] }
    );
    assert_eq!(m.authzid(), None);
}

#[test]
fn plain_bad_password_and_unknown_user() {
    let creds = user_creds();
    let (step, _) = plain(b"\0user\0pencil2", Some(&creds));
    assert_eq!(step, SaslStep::Failure(SaslFailure::NotAuthorized));
    let (step, _) = plain(b"\0user\0pencil", None);
    assert_eq!(step, SaslStep::Failure(SaslFailure::NotAuthorized));
}

#[test]
fn plain_password_is_saslprepped() {
    let creds = StoredCredentials::from_password("I\u{AD}X", 64);
    let (step, _) = plain("\0user\0\u{2168}".as_bytes(), Some(&creds));
    assert!(matches!(step, SaslStep::Success { .. }), "{step:?}");
}

#[test]
fn plain_after_empty_initial_response() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::Plain, ChannelBinding::default());
    assert_eq!(m.start(b""), SaslStep::Challenge(vec![]));
    assert_eq!(m.respond(b"\0user\0pencil"), SaslStep::NeedCredentials { username: "user".into() });
    assert!(matches!(m.provide_credentials(Some(&creds)), SaslStep::Success { .. }));
}

#[test]
fn plain_authzid() {
    let creds = user_creds();
    let (step, m) = plain(b"user@example.org\0user\0pencil", Some(&creds));
    assert!(matches!(step, SaslStep::Success { .. }));
    assert_eq!(m.authzid(), Some("user@example.org"));
    // Localparts compare after nodeprep, as account lookups do.
    let (step, _) = plain(b"User@example.org\0user\0pencil", Some(&creds));
    assert!(matches!(step, SaslStep::Success { .. }));
    for bad in [
        &b"other@example.org\0user\0pencil"[..],
        b"example.org\0user\0pencil",
        b"user@example.org/res\0user\0pencil",
        b"user\0user\0pencil",
        b"@@\0user\0pencil",
    ] {
        let (step, _) = plain(bad, Some(&creds));
        assert_eq!(step, SaslStep::Failure(SaslFailure::InvalidAuthzid), "{bad:?}");
    }
}

#[test]
fn plain_malformed() {
    let long = [&b"\0user\0"[..], &[b'x'; MAX_MESSAGE_BYTES]].concat();
    for bad in [
        &b"userpencil"[..],
        b"\0user",
        b"\0user\0pencil\0",
        b"\0\0pencil",
        b"\0user\0",
        b"\0us\xffer\0pencil",
        b"\0\xC2\xAD\0pencil",
        b"\0user\x07\0pencil",
        &long,
    ] {
        let (step, _) = plain(bad, Some(&user_creds()));
        assert_eq!(step, SaslStep::Failure(SaslFailure::MalformedRequest), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// SCRAM full exchanges.

#[test]
fn scram_sha1_and_sha256_full_exchanges() {
    let creds = user_creds();
    for (mech, hash) in
        [(Mechanism::ScramSha1, ScramHash::Sha1), (Mechanism::ScramSha256, ScramHash::Sha256)]
    {
        let mut m = ServerMechanism::new(mech, ChannelBinding::default());
        let mut c = ScramClient::new(hash, "user", "pencil", "n,,");
        let step = run(&mut m, &mut c, Some(&creds));
        assert_eq!(step, success_for(&c, "user"));
    }
}

#[test]
fn scram_random_server_nonce_is_long_and_fresh() {
    let creds = user_creds();
    let nonce = |_| {
        let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
        m.start(b"n,,n=user,r=abc");
        let SaslStep::Challenge(first) = m.provide_credentials(Some(&creds)) else { panic!() };
        let first = String::from_utf8(first).unwrap();
        first.split(',').next().unwrap().strip_prefix("r=abc").unwrap().to_owned()
    };
    let (a, b) = (nonce(0), nonce(1));
    assert!(a.len() >= 32, "{a}");
    assert_ne!(a, b);
}

#[test]
fn scram_after_empty_initial_response() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "n,,");
    assert_eq!(m.start(b""), SaslStep::Challenge(vec![]));
    assert_eq!(m.respond(&c.first()), SaslStep::NeedCredentials { username: "user".into() });
    let SaslStep::Challenge(first) = m.provide_credentials(Some(&creds)) else { panic!() };
    let fin = c.final_message(&first);
    assert_eq!(m.respond(&fin), success_for(&c, "user"));
}

#[test]
fn scram_username_escapes_and_saslprep() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    assert_eq!(
        m.start(b"n,,n=a=2Cb=3Dc,r=abc"),
        SaslStep::NeedCredentials { username: "a,b=c".into() }
    );
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    assert_eq!(
        m.start("n,,n=I\u{AD}X,r=abc".as_bytes()),
        SaslStep::NeedCredentials { username: "IX".into() }
    );
    // A full exchange with an escaped name still verifies (the bare message is used verbatim).
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha256, "a=2Cb", "pencil", "n,,");
    assert_eq!(run(&mut m, &mut c, Some(&creds)), success_for(&c, "a,b"));
}

#[test]
fn scram_ignores_unknown_optional_extensions() {
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    assert_eq!(
        m.start(b"n,,n=user,r=abc,x=whatever"),
        SaslStep::NeedCredentials { username: "user".into() }
    );
}

#[test]
fn scram_wrong_password() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::ScramSha1, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha1, "user", "pencil!", "n,,");
    assert_eq!(run(&mut m, &mut c, Some(&creds)), SaslStep::Failure(SaslFailure::NotAuthorized));
}

#[test]
fn scram_unknown_user_fails_at_the_end_with_stable_salt() {
    let first_of = |user: &str, mech: Mechanism| {
        let mut m = ServerMechanism::new(mech, ChannelBinding::default());
        assert!(matches!(
            m.start(format!("n,,n={user},r=abc").as_bytes()),
            SaslStep::NeedCredentials { .. }
        ));
        let SaslStep::Challenge(first) = m.provide_credentials(None) else { panic!() };
        String::from_utf8(first).unwrap()
    };
    let salt_of = |s: &str| s.split(',').nth(1).unwrap().to_owned();
    let a = first_of("ghost", Mechanism::ScramSha256);
    let b = first_of("ghost", Mechanism::ScramSha256);
    assert_eq!(salt_of(&a), salt_of(&b), "probing twice must see the same salt");
    assert_ne!(salt_of(&a), salt_of(&first_of("ghost2", Mechanism::ScramSha256)));
    assert_ne!(salt_of(&a), salt_of(&first_of("ghost", Mechanism::ScramSha1)));
    assert!(a.ends_with(",i=4096"));
    let salt = BASE64.decode(salt_of(&a).strip_prefix("s=").unwrap()).unwrap();
    assert_eq!(salt.len(), SALT_BYTES);

    // The advertised count follows the server's policy.
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default())
        .with_fake_iterations(10_000);
    m.start(b"n,,n=ghost,r=abc");
    let SaslStep::Challenge(first) = m.provide_credentials(None) else { panic!() };
    assert!(first.ends_with(b",i=10000"));

    // The whole exchange runs and fails with not-authorized.
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha256, "ghost", "pencil", "n,,");
    assert_eq!(run(&mut m, &mut c, None), SaslStep::Failure(SaslFailure::NotAuthorized));
}

#[test]
fn scram_corrupt_stored_credentials_fail_like_unknown_user() {
    let mut creds = user_creds();
    creds.sha256.stored_key.truncate(5);
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "n,,");
    assert_eq!(run(&mut m, &mut c, Some(&creds)), SaslStep::Failure(SaslFailure::NotAuthorized));
}

#[test]
fn scram_nonce_mismatch() {
    let creds = user_creds();
    for nonce in ["rOprNGfwEbeRWgbNEkqO", "rOprNGfwEbeRWgbNEkqOxyz", "other"] {
        let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "n,,");
        m.start(&c.first());
        let SaslStep::Challenge(first) = m.provide_credentials(Some(&creds)) else { panic!() };
        let fin = c.final_tweaked(&first, Tweak { nonce: Some(nonce.into()), ..Tweak::default() });
        assert_eq!(m.respond(&fin), SaslStep::Failure(SaslFailure::NotAuthorized), "{nonce}");
    }
}

#[test]
fn scram_cbind_input_mismatch() {
    let creds = user_creds();
    for input in [&b"y,,"[..], b"n,a=user@x,", b"", b"n,,extra"] {
        let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "n,,");
        m.start(&c.first());
        let SaslStep::Challenge(first) = m.provide_credentials(Some(&creds)) else { panic!() };
        let tweak = Tweak { cbind_input: Some(input.to_vec()), ..Tweak::default() };
        let fin = c.final_tweaked(&first, tweak);
        assert_eq!(m.respond(&fin), SaslStep::Failure(SaslFailure::NotAuthorized), "{input:?}");
    }
}

#[test]
fn scram_malformed_client_first() {
    let long = format!("n,,n=user,r={}", "x".repeat(MAX_MESSAGE_BYTES));
    let cases: &[&[u8]] = &[
        b"n",
        b"n,",
        b"n,n=user,r=abc",
        b"x,,n=user,r=abc",
        b"nn,,n=user,r=abc",
        b"p,,n=user,r=abc",
        b"p=,,n=user,r=abc",
        b"p=tls_exporter,,n=user,r=abc",
        b"n,b=user,n=user,r=abc",
        b"n,a=,n=user,r=abc",
        b"n,,",
        b"n,,r=abc,n=user",
        b"n,,m=ext,n=user,r=abc",
        b"n,,n=user",
        b"n,,n=,r=abc",
        b"n,,n=us=2Xer,r=abc",
        b"n,,n=us=er,r=abc",
        b"n,,n=user=2,r=abc",
        b"n,,n=user,r=",
        b"n,,n=user,r=a b",
        b"n,,n=user,r=a\x7fb",
        b"n,,n=user,r=ab,c",
        b"n,,n=user,r=abc,",
        b"n,,n=user,r=abc,x",
        b"n,,n=user,r=abc,x=",
        b"n,,n=user,r=abc,n=other",
        b"n,,n=user,r=abc,1=x",
        b"n,,n=us\0er,r=abc",
        b"n,,n=us\xffer,r=abc",
        b"n,,n=\xC2\xAD,r=abc",
        b"n,,n=us\x07er,r=abc",
        long.as_bytes(),
    ];
    for &msg in cases {
        let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
        assert_eq!(
            m.start(msg),
            SaslStep::Failure(SaslFailure::MalformedRequest),
            "{:?}",
            String::from_utf8_lossy(msg)
        );
    }
}

#[test]
fn scram_malformed_client_final() {
    let creds = user_creds();
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "n,,");
    let good = {
        let mut m =
            ServerMechanism::with_server_nonce(Mechanism::ScramSha256, Default::default(), "S")
                .unwrap();
        m.start(&c.first());
        let SaslStep::Challenge(first) = m.provide_credentials(Some(&creds)) else { panic!() };
        String::from_utf8(c.final_message(&first)).unwrap()
    };
    let (without_proof, proof) = good.rsplit_once(',').unwrap();
    let nonce = "rOprNGfwEbeRWgbNEkqOS";
    let cases = [
        String::new(),
        without_proof.to_owned(),
        format!("{proof},{without_proof}"),
        format!("r={nonce},c=biws,{proof}"),
        format!("c=biws,{proof}"),
        format!("c=biws,r={nonce},p=***"),
        format!("c=biws,r={nonce},p=dGVzdA"),
        format!("c=bi ws,r={nonce},{proof}"),
        format!("c=biws,r={nonce},m=x,{proof}"),
        format!("c=biws,r={nonce},r={nonce},{proof}"),
        format!("c=biws,r={nonce},{proof},x=y"),
        format!("{without_proof},{proof}\0"),
        format!("{without_proof},{proof}{}", "A".repeat(MAX_MESSAGE_BYTES)),
    ];
    for msg in cases {
        let mut m =
            ServerMechanism::with_server_nonce(Mechanism::ScramSha256, Default::default(), "S")
                .unwrap();
        m.start(&c.first());
        m.provide_credentials(Some(&creds));
        assert_eq!(m.respond(msg.as_bytes()), SaslStep::Failure(SaslFailure::MalformedRequest));
    }
    // The unmodified message passes, so the cases above fail for their own reason.
    let mut m = ServerMechanism::with_server_nonce(Mechanism::ScramSha256, Default::default(), "S")
        .unwrap();
    m.start(&c.first());
    m.provide_credentials(Some(&creds));
    assert!(matches!(m.respond(good.as_bytes()), SaslStep::Success { .. }));
}

#[test]
fn scram_proof_of_wrong_length() {
    let creds = user_creds();
    let mut m = ServerMechanism::with_server_nonce(Mechanism::ScramSha256, Default::default(), "S")
        .unwrap();
    m.start(b"n,,n=user,r=abc");
    m.provide_credentials(Some(&creds));
    let fin = format!("c=biws,r=abcS,p={}", BASE64.encode([0u8; 20]));
    assert_eq!(m.respond(fin.as_bytes()), SaslStep::Failure(SaslFailure::NotAuthorized));
}

// ---------------------------------------------------------------------------------------------
// GS2 header: channel binding and authzid.

#[test]
fn scram_y_flag_is_a_downgrade_when_plus_is_offered() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, exporter_binding());
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "y,,");
    assert_eq!(run(&mut m, &mut c, Some(&creds)), SaslStep::Failure(SaslFailure::NotAuthorized));

    // Without -PLUS on offer, "y" is an honest client and succeeds.
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "y,,");
    assert_eq!(run(&mut m, &mut c, Some(&creds)), success_for(&c, "user"));
}

#[test]
fn scram_plus_tls_exporter_success() {
    let creds = user_creds();
    let binding = exporter_binding();
    let data = binding.tls_exporter.clone().unwrap();
    for (mech, hash) in [
        (Mechanism::ScramSha256Plus, ScramHash::Sha256),
        (Mechanism::ScramSha1Plus, ScramHash::Sha1),
    ] {
        let mut m = ServerMechanism::new(mech, binding.clone());
        let mut c =
            ScramClient::new(hash, "user", "pencil", "p=tls-exporter,,").with_cbind_data(&data);
        assert_eq!(run(&mut m, &mut c, Some(&creds)), success_for(&c, "user"));
    }
}

#[test]
fn scram_plus_tls_server_end_point_success() {
    let creds = user_creds();
    let binding = ChannelBinding {
        tls_exporter: None,
        tls_server_end_point: Some(vec![7; 48]),
        plus_offered: true,
    };
    let mut m = ServerMechanism::new(Mechanism::ScramSha256Plus, binding);
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "p=tls-server-end-point,,")
        .with_cbind_data(&[7; 48]);
    assert_eq!(run(&mut m, &mut c, Some(&creds)), success_for(&c, "user"));
}

#[test]
fn scram_plus_cbind_data_mismatch() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::ScramSha256Plus, exporter_binding());
    // A man in the middle terminates TLS and sees other keying material.
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "p=tls-exporter,,")
        .with_cbind_data(b"exporter-keying-material-of-mitm");
    assert_eq!(run(&mut m, &mut c, Some(&creds)), SaslStep::Failure(SaslFailure::NotAuthorized));
}

#[test]
fn scram_plus_flag_rules() {
    let creds = user_creds();
    let only_end_point = ChannelBinding {
        tls_exporter: None,
        tls_server_end_point: Some(vec![1; 32]),
        plus_offered: true,
    };
    let cases = [
        // -PLUS without binding: the client must bind.
        (Mechanism::ScramSha256Plus, exporter_binding(), "n,,", SaslFailure::MalformedRequest),
        (Mechanism::ScramSha256Plus, exporter_binding(), "y,,", SaslFailure::MalformedRequest),
        // Binding with a non-PLUS mechanism.
        (
            Mechanism::ScramSha256,
            exporter_binding(),
            "p=tls-exporter,,",
            SaslFailure::MalformedRequest,
        ),
        // A type whose data this connection does not have.
        (
            Mechanism::ScramSha256Plus,
            only_end_point,
            "p=tls-exporter,,",
            SaslFailure::NotAuthorized,
        ),
        // A type this server does not implement.
        (
            Mechanism::ScramSha256Plus,
            exporter_binding(),
            "p=tls-unique,,",
            SaslFailure::NotAuthorized,
        ),
        // -PLUS on a connection with no binding data at all: it was never offered.
        (
            Mechanism::ScramSha256Plus,
            ChannelBinding::default(),
            "p=tls-exporter,,",
            SaslFailure::InvalidMechanism,
        ),
    ];
    for (mech, binding, gs2, failure) in cases {
        let mut m = ServerMechanism::new(mech, binding);
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", gs2);
        assert_eq!(run(&mut m, &mut c, Some(&creds)), SaslStep::Failure(failure), "{mech:?} {gs2}");
    }
}

#[test]
fn scram_authzid() {
    let creds = user_creds();
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "n,a=user@example.org,");
    assert_eq!(run(&mut m, &mut c, Some(&creds)), success_for(&c, "user"));
    assert_eq!(m.authzid(), Some("user@example.org"));

    for gs2 in [
        "n,a=other@example.org,",
        "n,a=example.org,",
        "n,a=user@example.org/phone,",
        "n,a=user,",
        "n,a=us=2Cer@example.org,",
    ] {
        let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", gs2);
        assert_eq!(
            run(&mut m, &mut c, Some(&creds)),
            SaslStep::Failure(SaslFailure::InvalidAuthzid),
            "{gs2}"
        );
        assert_eq!(m.authzid(), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Call order and robustness.

#[test]
fn out_of_order_calls_fail_without_panicking() {
    let creds = user_creds();
    for mech in [Mechanism::Plain, Mechanism::ScramSha1, Mechanism::ScramSha256Plus] {
        let fresh = || ServerMechanism::new(mech, exporter_binding());
        let malformed = SaslStep::Failure(SaslFailure::MalformedRequest);
        assert_eq!(fresh().respond(b"n,,n=user,r=abc"), malformed);
        assert_eq!(fresh().provide_credentials(Some(&creds)), malformed);
        let mut m = fresh();
        m.start(b"");
        assert_eq!(m.start(b""), malformed, "start twice");
        let mut m = fresh();
        m.start(b"");
        assert_eq!(m.provide_credentials(None), malformed, "credentials before first message");
        let mut m = fresh();
        m.start(b"");
        assert_eq!(m.respond(b""), malformed, "empty first response");
    }
    // Calls after the end.
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "n,,");
    assert!(matches!(run(&mut m, &mut c, Some(&creds)), SaslStep::Success { .. }));
    let malformed = SaslStep::Failure(SaslFailure::MalformedRequest);
    assert_eq!(m.respond(b"c=biws"), malformed);
    assert_eq!(m.provide_credentials(Some(&creds)), malformed);
    assert_eq!(m.start(b"n,,n=user,r=abc"), malformed);
    // Credentials twice.
    let mut m = ServerMechanism::new(Mechanism::ScramSha256, ChannelBinding::default());
    m.start(b"n,,n=user,r=abc");
    assert!(matches!(m.provide_credentials(Some(&creds)), SaslStep::Challenge(_)));
    assert_eq!(m.provide_credentials(Some(&creds)), malformed);
    // After a failure.
    let mut m = ServerMechanism::new(Mechanism::Plain, ChannelBinding::default());
    assert_eq!(m.start(b"nonsense"), malformed);
    assert_eq!(m.respond(b"\0user\0pencil"), malformed);
}

#[test]
fn random_input_never_panics() {
    let creds = StoredCredentials::from_password("pencil", 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let alphabet = b"nyrpcmas=,23CD@.\0\xff-biwsxuer";
    for round in 0..3000 {
        let mech = [
            Mechanism::Plain,
            Mechanism::ScramSha1,
            Mechanism::ScramSha256,
            Mechanism::ScramSha256Plus,
        ][round % 4];
        let mut m = ServerMechanism::new(mech, exporter_binding());
        let len = rng.gen_range(0..40);
        let mut msg: Vec<u8> =
            (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
        if round % 3 == 0 {
            msg.splice(0..0, b"n,,n=user,r=".iter().copied());
        }
        let _ = m.start(&msg);
        let _ = m.provide_credentials(if round % 2 == 0 { Some(&creds) } else { None });
        let _ = m.respond(&msg);
        let _ = m.respond(b"c=biws,r=x,p=AAAA");
    }
}

#[test]
fn mechanism_names_round_trip() {
    for m in [
        Mechanism::Plain,
        Mechanism::ScramSha1,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha256Plus,
    ] {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
        assert_eq!(m.scram_hash().is_none(), m == Mechanism::Plain);
    }
    assert_eq!(Mechanism::from_name("scram-sha-1"), None);
    assert_eq!(SaslFailure::InvalidAuthzid.condition(), "invalid-authzid");
}
