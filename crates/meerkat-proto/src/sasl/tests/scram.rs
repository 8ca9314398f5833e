//! SCRAM exchanges, GS2 header rules, failure paths and call order.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

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
