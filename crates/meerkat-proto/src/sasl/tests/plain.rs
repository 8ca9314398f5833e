//! PLAIN (RFC 4616).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

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
