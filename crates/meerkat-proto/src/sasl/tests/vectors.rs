//! RFC 5802 and RFC 7677 test vectors, and credential derivation.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

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
