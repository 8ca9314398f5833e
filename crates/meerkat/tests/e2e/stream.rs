//! Item 1: stream header, stream features, STARTTLS, direct TLS (RFC 6120 §4, §5; XEP-0368).

use crate::common::client::{mechanisms, xml, LoginOpts};
use crate::common::{ns, Client, Mech, ServerBuilder, TestServer, TlsMode, DOMAIN};
use std::time::Duration;

fn assert_header(c: &Client) {
    let h = c.header.as_ref().expect("a stream header");
    let e = &h.element;
    assert!(e.is("stream", ns::STREAM), "header element: {}", xml(e));
    assert_eq!(e.attr("from"), Some(DOMAIN), "header `from`: {}", xml(e));
    assert_eq!(e.attr("version"), Some("1.0"), "header `version`: {}", xml(e));
    let id = e.attr("id").unwrap_or_default();
    assert!(!id.is_empty(), "header without a non-empty `id`: {}", xml(e));
    assert_eq!(h.default_ns.as_deref(), Some(ns::CLIENT), "header default namespace: {}", xml(e));
}

fn assert_plain_mechanisms(features: &Element) {
    let mechs = mechanisms(features);
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] {
        assert!(mechs.iter().any(|x| x == m), "{m} not offered: {}", xml(features));
    }
    assert!(
        !mechs.iter().any(|x| x.ends_with("-PLUS")),
        "-PLUS mechanisms offered without TLS: {}",
        xml(features)
    );
}

use meerkat_xml::Element;

#[tokio::test]
async fn header_and_pre_auth_features_with_starttls_offered() {
    let server = TestServer::start().await;
    let mut alice = Client::connect(server.port(), "alice").await;
    let features = alice.open_stream().await;
    assert_header(&alice);

    let starttls = features
        .get_child("starttls", ns::TLS)
        .unwrap_or_else(|| panic!("no <starttls/> offered: {}", xml(&features)));
    assert!(
        starttls.children().next().is_none(),
        "<starttls/> must be empty (not required) in starttls mode: {}",
        xml(&features)
    );
    assert_plain_mechanisms(&features);
    assert!(
        features.has_child("register", ns::REGISTER_FEATURE),
        "no <register xmlns='{}'/> feature: {}",
        ns::REGISTER_FEATURE,
        xml(&features)
    );
    assert!(!features.has_child("bind", ns::BIND), "bind offered before auth: {}", xml(&features));
}

#[tokio::test]
async fn each_stream_gets_a_distinct_id() {
    let server = TestServer::start().await;
    let mut a = Client::connect(server.port(), "a").await;
    let mut b = Client::connect(server.port(), "b").await;
    a.open_stream().await;
    b.open_stream().await;
    let ida = a.header.as_ref().and_then(|h| h.element.attr("id")).map(str::to_string);
    let idb = b.header.as_ref().and_then(|h| h.element.attr("id")).map(str::to_string);
    assert_ne!(ida, idb, "two streams got the same id");
}

#[tokio::test]
async fn starttls_then_features_offer_plus_and_no_starttls() {
    let server = TestServer::start().await;
    let mut alice = Client::connect(server.port(), "alice").await;
    alice.open_stream().await;
    let features = alice.starttls().await;
    assert!(alice.is_tls());
    assert_header(&alice);
    assert!(
        !features.has_child("starttls", ns::TLS),
        "<starttls/> offered again over TLS: {}",
        xml(&features)
    );
    let mechs = mechanisms(&features);
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] {
        assert!(mechs.iter().any(|x| x == m), "{m} not offered over TLS: {}", xml(&features));
    }
    // The default [auth] sasl_mechanisms lists the -PLUS variants; they are for TLS streams.
    for m in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        assert!(mechs.iter().any(|x| x == m), "{m} not offered over TLS: {}", xml(&features));
    }
}

#[tokio::test]
async fn login_over_starttls_with_scram_sha_256() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let c = Client::login_with(
        server.port(),
        &alice,
        LoginOpts { starttls: true, mech: Mech::ScramSha256, ..Default::default() },
    )
    .await;
    assert!(c.is_tls());
    assert_eq!(c.jid, alice.full("res"));
}

#[tokio::test]
async fn post_auth_features_offer_bind_and_optional_session() {
    let server = TestServer::start().await;
    let alice = server.new_user("alice").await;
    let mut c = Client::connect(server.port(), "alice").await;
    let first = c.open_stream().await;
    let first_id = c.header.as_ref().and_then(|h| h.element.attr("id")).map(str::to_string);
    assert!(!first.has_child("bind", ns::BIND));
    let features = c
        .auth(Mech::Plain, &alice.name, &alice.password)
        .await
        .unwrap_or_else(|f| panic!("PLAIN failed: {}", xml(&f)));
    assert_header(&c);
    let second_id = c.header.as_ref().and_then(|h| h.element.attr("id")).map(str::to_string);
    assert_ne!(first_id, second_id, "the restarted stream must get a new id (RFC 6120 §4.7.3)");
    assert!(features.has_child("bind", ns::BIND), "no <bind/> after auth: {}", xml(&features));
    let session = features
        .get_child("session", ns::SESSION)
        .unwrap_or_else(|| panic!("no <session/> after auth: {}", xml(&features)));
    assert!(
        session.has_child("optional", ns::SESSION),
        "<session/> without <optional/>: {}",
        xml(&features)
    );
    assert!(
        !features.has_child("mechanisms", ns::SASL),
        "mechanisms offered again after auth: {}",
        xml(&features)
    );
    assert!(!features.has_child("starttls", ns::TLS), "starttls after auth: {}", xml(&features));
}

#[tokio::test]
async fn starttls_required_marks_required_and_refuses_sasl_before_tls() {
    let server = ServerBuilder::new().listeners(&[TlsMode::StarttlsRequired]).start().await;
    let alice = server.new_user("alice").await;
    let mut c = Client::connect(server.port(), "alice").await;
    let features = c.open_stream().await;
    assert_header(&c);
    let starttls = features
        .get_child("starttls", ns::TLS)
        .unwrap_or_else(|| panic!("no <starttls/> offered: {}", xml(&features)));
    assert!(
        starttls.has_child("required", ns::TLS),
        "<starttls/> without <required/> in starttls_required mode: {}",
        xml(&features)
    );

    // SASL before TLS: a SASL <failure/> or a stream error, never <success/>.
    c.send(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{}</auth>",
        base64_plain(&alice.name, &alice.password)
    ))
    .await;
    let r = c
        .try_recv_where(Duration::from_secs(5), |e| e.ns == ns::SASL || e.is("error", ns::STREAM))
        .await;
    match r {
        Some(e) if e.is("failure", ns::SASL) => {
            eprintln!("note: SASL before TLS answered with {}", xml(&e));
            assert!(
                ["encryption-required", "not-authorized", "invalid-mechanism"]
                    .iter()
                    .any(|cnd| e.has_child(cnd, ns::SASL)),
                "unexpected SASL failure condition: {}",
                xml(&e)
            );
        }
        Some(e) if e.is("error", ns::STREAM) => {
            eprintln!("note: SASL before TLS answered with {}", xml(&e));
            assert!(
                ["policy-violation", "not-authorized", "encryption-required"]
                    .iter()
                    .any(|cnd| e.has_child(cnd, ns::STREAMS)),
                "unexpected stream error for SASL before TLS: {}",
                xml(&e)
            );
        }
        Some(e) => panic!("SASL before required TLS must fail, got {}", xml(&e)),
        None => {
            // The node may also just close the stream.
            assert!(c.ended, "no answer to SASL before required TLS (expected an error)");
        }
    }

    // And the proper way still works on a new connection.
    let ok = Client::login_with(
        server.port(),
        &alice,
        LoginOpts { starttls: true, mech: Mech::ScramSha1, ..Default::default() },
    )
    .await;
    assert!(ok.is_tls());
}

#[tokio::test]
async fn direct_tls_listener_serves_a_login() {
    let server = ServerBuilder::new().listeners(&[TlsMode::Starttls, TlsMode::Tls]).start().await;
    let alice = server.new_user("alice").await;
    let tls_port = server.ports[1];
    let mut probe = Client::connect_direct_tls(tls_port, "probe").await;
    let features = probe.open_stream().await;
    assert_header(&probe);
    assert!(
        !features.has_child("starttls", ns::TLS),
        "STARTTLS offered inside direct TLS: {}",
        xml(&features)
    );
    assert!(mechanisms(&features).iter().any(|m| m == "SCRAM-SHA-256"), "{}", xml(&features));

    let mut c = Client::login_with(
        tls_port,
        &alice,
        LoginOpts { direct_tls: true, mech: Mech::ScramSha256, ..Default::default() },
    )
    .await;
    assert!(c.is_tls());
    assert_eq!(c.jid, alice.full("res"));
    c.sync().await;
}

#[tokio::test]
async fn tls_none_listener_offers_no_starttls() {
    let server = ServerBuilder::new().listeners(&[TlsMode::None]).start().await;
    let mut c = Client::connect(server.port(), "c").await;
    let features = c.open_stream().await;
    assert!(!features.has_child("starttls", ns::TLS), "{}", xml(&features));
    assert_plain_mechanisms(&features);
}

pub fn base64_plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

/// SCRAM-SHA-256-PLUS with `kind` on a fresh TLS connection (STARTTLS or direct TLS).
async fn plus_login(
    server: &TestServer,
    port_index: usize,
    direct: bool,
    kind: &str,
    tamper: bool,
) -> Result<Element, Element> {
    let alice = server.new_user("alice").await;
    let port = server.ports[port_index];
    let mut c = if direct {
        Client::connect_direct_tls(port, "alice").await
    } else {
        let mut c = Client::connect(port, "alice").await;
        c.open_stream().await;
        c.starttls().await;
        c
    };
    if direct {
        c.open_stream().await;
    }
    c.auth_scram_plus(&alice.name, &alice.password, kind, tamper).await
}

#[tokio::test]
async fn scram_sha_256_plus_with_tls_exporter_over_starttls() {
    let server = TestServer::start().await;
    let features = plus_login(&server, 0, false, "tls-exporter", false)
        .await
        .unwrap_or_else(|f| panic!("SCRAM-SHA-256-PLUS (tls-exporter) failed: {}", xml(&f)));
    assert!(features.has_child("bind", ns::BIND), "{}", xml(&features));
}

#[tokio::test]
async fn scram_sha_256_plus_with_tls_server_end_point_over_direct_tls() {
    let server = ServerBuilder::new().listeners(&[TlsMode::Starttls, TlsMode::Tls]).start().await;
    let features =
        plus_login(&server, 1, true, "tls-server-end-point", false).await.unwrap_or_else(|f| {
            panic!("SCRAM-SHA-256-PLUS (tls-server-end-point) failed: {}", xml(&f))
        });
    assert!(features.has_child("bind", ns::BIND), "{}", xml(&features));
}

#[tokio::test]
async fn scram_plus_with_wrong_binding_data_is_not_authorized() {
    let server = TestServer::start().await;
    for kind in ["tls-exporter", "tls-server-end-point"] {
        let failure = plus_login(&server, 0, false, kind, true)
            .await
            .expect_err("a tampered channel binding must not authenticate");
        assert!(failure.is("failure", ns::SASL), "{kind}: {}", xml(&failure));
        assert!(failure.has_child("not-authorized", ns::SASL), "{kind}: {}", xml(&failure));
    }
}
