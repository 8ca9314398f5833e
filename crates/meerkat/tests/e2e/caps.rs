//! XEP-0115 entity capabilities over real sockets: the server's own `<c/>` in stream
//! features, verified client caps cached node-wide, bad hashes not cached.

use super::pep::{announce_caps, caps_ver, expect_no_event, mutual, publish, recv_event};
use crate::common::client::{xml, Client, LoginOpts};
use crate::common::{TestServer, User, DOMAIN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha1::Digest;

async fn bound_without_presence(server: &TestServer, u: &User, res: &str) -> Client {
    Client::login_with(
        server.port(),
        u,
        LoginOpts { resource: Some(res.into()), presence: None, ..Default::default() },
    )
    .await
}

#[tokio::test]
async fn server_caps_in_stream_features_match_server_disco() {
    let server = TestServer::start().await;
    let u = server.new_user("alice").await;
    let mut c = Client::connect(server.port(), "alice").await;
    let features = c.open_stream().await;
    let caps = features
        .get_child("c", "http://jabber.org/protocol/caps")
        .unwrap_or_else(|| panic!("no caps: {}", xml(&features)));
    assert_eq!(caps.attr("hash"), Some("sha-1"));
    let node = caps.attr("node").expect("node").to_owned();
    let ver = caps.attr("ver").expect("ver").to_owned();
    drop(c);
    let mut c = server.login(&u, "pc").await;
    let r = c
        .iq_result("get", Some(DOMAIN), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    let q = r.get_child("query", "http://jabber.org/protocol/disco#info").expect("query");
    // Recompute the ver of the server's answer (XEP-0115 §5.1; no forms in it).
    let mut ids: Vec<String> = q
        .children()
        .filter(|e| e.name == "identity")
        .map(|i| {
            format!(
                "{}/{}/{}/{}",
                i.attr("category").unwrap_or(""),
                i.attr("type").unwrap_or(""),
                i.attr("xml:lang").unwrap_or(""),
                i.attr("name").unwrap_or("")
            )
        })
        .collect();
    ids.sort();
    let mut feats: Vec<&str> =
        q.children().filter(|e| e.name == "feature").filter_map(|f| f.attr("var")).collect();
    feats.sort_unstable();
    let mut s = String::new();
    for x in ids.iter().map(String::as_str).chain(feats) {
        s.push_str(x);
        s.push('<');
    }
    assert_eq!(B64.encode(sha1::Sha1::digest(s.as_bytes())), ver);
    // disco#info at node#ver answers the same features.
    let r = c
        .iq_result(
            "get",
            Some(DOMAIN),
            &format!("<query xmlns='http://jabber.org/protocol/disco#info' node='{node}#{ver}'/>"),
        )
        .await;
    let q2 = r.get_child("query", "http://jabber.org/protocol/disco#info").expect("query");
    assert_eq!(q2.attr("node"), Some(format!("{node}#{ver}").as_str()));
    assert_eq!(q2.children().count(), q.children().count());
}

#[tokio::test]
async fn verified_caps_are_cached_and_bad_hashes_are_not() {
    let server = TestServer::start().await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let geoloc = "http://jabber.org/protocol/geoloc";
    let notify = format!("{geoloc}+notify");
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let mut c = server.login(&uc, "pc").await;
    mutual(&mut a, &mut b).await;
    mutual(&mut a, &mut c).await;
    b.close().await;
    c.close().await;
    let node = format!("https://test.example/{}", crate::common::unique("shared"));
    let good = caps_ver(&[&notify]);
    // bob: good hash, the server asks once and caches.
    let mut b = bound_without_presence(&server, &ub, "one").await;
    announce_caps(&mut b, &node, &good, &[&notify], true).await;
    // carol with the same caps: no query (cache hit), yet her interest is known.
    let mut c = bound_without_presence(&server, &uc, "one").await;
    announce_caps(&mut c, &node, &good, &[&notify], false).await;
    publish(&mut a, geoloc, "<item id='g'><geoloc xmlns='http://jabber.org/protocol/geoloc'><locality>X</locality></geoloc></item>", "").await;
    recv_event(&mut b, geoloc).await;
    recv_event(&mut c, geoloc).await;
    // A bad hash: the answer serves that session (it still gets the last item) but is not
    // cached, so the next session with the same caps is asked again.
    let bad = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let bad_node = format!("https://test.example/{}", crate::common::unique("bad"));
    let mut b2 = bound_without_presence(&server, &ub, "two").await;
    announce_caps(&mut b2, &bad_node, bad, &[&notify], true).await;
    let ev = recv_event(&mut b2, geoloc).await;
    assert!(xml(&ev).contains("<locality>X</locality>"), "{}", xml(&ev));
    let mut c2 = bound_without_presence(&server, &uc, "two").await;
    announce_caps(&mut c2, &bad_node, bad, &[geoloc], true).await;
    // c2 answered without +notify: no last item for it.
    expect_no_event(&mut c2).await;
}
