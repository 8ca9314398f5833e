//! XEP-0163 PEP (on the XEP-0060 subset it needs) over real sockets: publish with
//! auto-create and publish-options, notifications filtered by caps `+notify`, last item on
//! availability, access models with their errors, bounds, retract/delete notifications, disco,
//! and the profiles clients use (XEP-0084 avatars, XEP-0384 OMEMO, XEP-0402 bookmarks,
//! XEP-0223 private data).

use crate::common::client::{xml, Client, LoginOpts};
use crate::common::{TestServer, User, DOMAIN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use meerkat_xml::Element;
use sha1::Digest;
use std::time::Duration;

pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
pub const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const QUIET: Duration = Duration::from_millis(400);

/// The XEP-0115 ver of a client with one identity `client/pc//Test` and `features`.
pub fn caps_ver(features: &[&str]) -> String {
    let mut f: Vec<&str> = features.to_vec();
    f.sort_unstable();
    let mut s = String::from("client/pc//Test<");
    for x in f {
        s.push_str(x);
        s.push('<');
    }
    B64.encode(sha1::Sha1::digest(s.as_bytes()))
}

fn disco_answer(features: &[&str]) -> String {
    let mut q = String::from("<identity category='client' type='pc' name='Test'/>");
    for f in features {
        q.push_str(&format!("<feature var='{f}'/>"));
    }
    q
}

/// Sends available presence with caps `node`/`ver`; when `expect_query`, answers the node's
/// disco#info query with `features` (and asserts its exact form).
pub async fn announce_caps(
    c: &mut Client,
    node: &str,
    ver: &str,
    features: &[&str],
    expect_query: bool,
) {
    c.send(&format!(
        "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{node}' ver='{ver}'/></presence>"
    ))
    .await;
    if expect_query {
        let q = c
            .recv_where("a caps disco#info query", |e| {
                e.name == "iq"
                    && e.attr("type") == Some("get")
                    && e.get_child("query", "http://jabber.org/protocol/disco#info").is_some()
            })
            .await;
        assert_eq!(q.attr("from"), Some(DOMAIN), "{}", xml(&q));
        assert_eq!(q.attr("to"), Some(c.jid.as_str()), "{}", xml(&q));
        let query = q.get_child("query", "http://jabber.org/protocol/disco#info").expect("query");
        assert_eq!(query.attr("node"), Some(format!("{node}#{ver}").as_str()), "{}", xml(&q));
        let id = q.attr("id").unwrap_or_default().to_owned();
        c.send(&format!(
            "<iq type='result' id='{id}' to='{DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info' node='{node}#{ver}'>{}</query></iq>",
            disco_answer(features)
        ))
        .await;
    } else {
        c.expect_none("a caps disco#info query", QUIET, |e| {
            e.name == "iq"
                && e.get_child("query", "http://jabber.org/protocol/disco#info").is_some()
        })
        .await;
    }
    c.sync().await;
}

/// Logs in without presence, then becomes available with verified caps listing `features`
/// (under a node unique to this call, so the server always asks).
pub async fn login_with_caps(
    server: &TestServer,
    u: &User,
    res: &str,
    features: &[&str],
) -> Client {
    let mut c = Client::login_with(
        server.port(),
        u,
        LoginOpts { resource: Some(res.into()), presence: None, ..Default::default() },
    )
    .await;
    let node = format!("https://test.example/{}", crate::common::unique("caps"));
    announce_caps(&mut c, &node, &caps_ver(features), features, true).await;
    c
}

/// `a` and `b` subscribe to each other's presence (both ways), whatever is online.
pub async fn mutual(a: &mut Client, b: &mut Client) {
    let (ab, bb) = (
        crate::common::client::bare(&a.jid).to_owned(),
        crate::common::client::bare(&b.jid).to_owned(),
    );
    for (x, y, yb, xb) in [(&mut *a, &mut *b, &bb, &ab)] {
        x.send(&format!("<presence to='{yb}' type='subscribe'/>")).await;
        y.recv_where("subscribe", |e| e.attr("type") == Some("subscribe")).await;
        y.send(&format!("<presence to='{xb}' type='subscribed'/>")).await;
        y.send(&format!("<presence to='{xb}' type='subscribe'/>")).await;
        x.recv_where("subscribe", |e| e.attr("type") == Some("subscribe")).await;
        x.send(&format!("<presence to='{yb}' type='subscribed'/>")).await;
        x.sync().await;
        y.sync().await;
    }
    a.drain(QUIET).await;
    b.drain(QUIET).await;
}

/// The element without its `id` attribute, rendered (ids of notifications are random).
pub fn without_id(e: &Element) -> String {
    let mut e = e.clone();
    e.remove_attr("id");
    xml(&e)
}

pub async fn publish(c: &mut Client, node: &str, item: &str, options: &str) -> Element {
    c.iq(
        "set",
        None,
        &format!(
            "<pubsub xmlns='{PUBSUB}'><publish node='{node}'>{item}</publish>{options}</pubsub>"
        ),
    )
    .await
}

pub fn options(fields: &[(&str, &str)]) -> String {
    let mut x = String::from(
        "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>",
    );
    for (k, v) in fields {
        x.push_str(&format!("<field var='{k}'><value>{v}</value></field>"));
    }
    x.push_str("</x></publish-options>");
    x
}

pub async fn recv_event(c: &mut Client, node: &str) -> Element {
    let node = node.to_owned();
    c.recv_where(&format!("a PEP event for {node}"), move |e| {
        e.name == "message"
            && e.get_child("event", EVENT)
                .and_then(|ev| ev.children().next())
                .is_some_and(|x| x.attr("node") == Some(node.as_str()))
    })
    .await
}

pub async fn expect_no_event(c: &mut Client) {
    c.expect_none("a PEP event", QUIET, |e| {
        e.name == "message" && e.get_child("event", EVENT).is_some()
    })
    .await;
}

async fn items(
    c: &mut Client,
    owner: Option<&str>,
    node: &str,
    extra: &str,
    inner: &str,
) -> Element {
    c.iq(
        "get",
        owner,
        &format!("<pubsub xmlns='{PUBSUB}'><items node='{node}'{extra}>{inner}</items></pubsub>"),
    )
    .await
}

#[tokio::test]
async fn publish_notifies_owner_and_contacts_with_notify_only() {
    let server = TestServer::start().await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let tune = "http://jabber.org/protocol/tune";
    let notify = format!("{tune}+notify");
    let mut a = login_with_caps(&server, &ua, "pc", &[tune, &notify]).await;
    let mut b = login_with_caps(&server, &ub, "phone", &[tune, &notify]).await;
    let mut c = login_with_caps(&server, &uc, "pc", &[tune]).await;
    mutual(&mut a, &mut b).await;
    mutual(&mut a, &mut c).await;
    let r = publish(&mut a, tune, "<item id='t1'><tune xmlns='http://jabber.org/protocol/tune'><title>Yesterday</title></tune></item>", "").await;
    assert_eq!(
        without_id(&r),
        format!("<iq type='result' to='{}'><pubsub xmlns='{PUBSUB}'><publish node='{tune}'><item id='t1'/></publish></pubsub></iq>", a.jid),
    );
    let expected = |to: &str| {
        format!(
        "<message from='{}' to='{to}' type='headline'><event xmlns='{EVENT}'><items node='{tune}'><item id='t1' publisher='{}'><tune xmlns='{tune}'><title>Yesterday</title></tune></item></items></event></message>",
        ua.bare(), ua.bare()
    )
    };
    let ev = recv_event(&mut b, tune).await;
    assert_eq!(without_id(&ev), expected(&b.jid));
    let ev = recv_event(&mut a, tune).await;
    assert_eq!(without_id(&ev), expected(&a.jid));
    // carol is a contact but has no +notify: nothing.
    expect_no_event(&mut c).await;
    // An item without id gets one generated and returned.
    let r =
        publish(&mut a, tune, "<item><tune xmlns='http://jabber.org/protocol/tune'/></item>", "")
            .await;
    let id = r
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("publish", PUBSUB))
        .and_then(|p| p.get_child("item", PUBSUB))
        .and_then(|i| i.attr("id"))
        .expect("generated id");
    assert!(!id.is_empty());
}

#[tokio::test]
async fn last_item_is_sent_when_a_contact_becomes_available_with_notify() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let mood = "http://jabber.org/protocol/mood";
    let notify = format!("{mood}+notify");
    let mut a = login_with_caps(&server, &ua, "pc", &[mood]).await;
    let mut b = server.login(&ub, "pc").await;
    mutual(&mut a, &mut b).await;
    b.close().await;
    publish(
        &mut a,
        mood,
        "<item id='m1'><mood xmlns='http://jabber.org/protocol/mood'><happy/></mood></item>",
        "",
    )
    .await;
    publish(
        &mut a,
        mood,
        "<item id='m2'><mood xmlns='http://jabber.org/protocol/mood'><sad/></mood></item>",
        "",
    )
    .await;
    // bob comes back with +notify: the PEP service sends the last item once caps are known.
    let mut b = login_with_caps(&server, &ub, "phone", &[&notify]).await;
    let ev = recv_event(&mut b, mood).await;
    assert_eq!(
        without_id(&ev),
        format!("<message from='{}' to='{}' type='headline'><event xmlns='{EVENT}'><items node='{mood}'><item id='m2' publisher='{}'><mood xmlns='{mood}'><sad/></mood></item></items></event></message>", ua.bare(), b.jid, ua.bare())
    );
    expect_no_event(&mut b).await;
}

#[tokio::test]
async fn publish_options_mismatch_is_precondition_not_met() {
    let server = TestServer::start().await;
    let ua = server.new_user("alice").await;
    let mut a = server.login(&ua, "pc").await;
    let node = "urn:example:pre";
    let r = publish(
        &mut a,
        node,
        "<item id='1'><x xmlns='urn:example'/></item>",
        &options(&[("pubsub#access_model", "whitelist")]),
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let r = publish(
        &mut a,
        node,
        "<item id='2'><x xmlns='urn:example'/></item>",
        &options(&[("pubsub#access_model", "open")]),
    )
    .await;
    assert_eq!(
        without_id(&r),
        format!("<iq to='{}' type='error'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>publish option pubsub#access_model does not match the node configuration</text><precondition-not-met xmlns='http://jabber.org/protocol/pubsub#errors'/></error></iq>", a.jid)
    );
    // The same value (and an option this server does not know) passes.
    let r = publish(
        &mut a,
        node,
        "<item id='3'><x xmlns='urn:example'/></item>",
        &options(&[("pubsub#access_model", "whitelist"), ("urn:example#opt", "1")]),
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
}

fn assert_pubsub_error(r: &Element, etype: &str, cond: &str, app: Option<&str>) {
    assert_eq!(r.attr("type"), Some("error"), "{}", xml(r));
    let err =
        r.get_child("error", "jabber:client").unwrap_or_else(|| panic!("no error: {}", xml(r)));
    assert_eq!(err.attr("type"), Some(etype), "{}", xml(r));
    assert!(err.has_child(cond, "urn:ietf:params:xml:ns:xmpp-stanzas"), "want {cond}: {}", xml(r));
    if let Some(app) = app {
        assert!(
            err.has_child(app, "http://jabber.org/protocol/pubsub#errors"),
            "want {app}: {}",
            xml(r)
        );
    }
}

#[tokio::test]
async fn access_models_deny_with_the_xep_errors() {
    let server = TestServer::start().await;
    let (ua, ub, us) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("stranger").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let mut s = server.login(&us, "pc").await;
    mutual(&mut a, &mut b).await;
    let item = "<item id='i'><x xmlns='urn:example'/></item>";
    for (node, model) in [
        ("n:open", "open"),
        ("n:presence", "presence"),
        ("n:roster", "roster"),
        ("n:white", "whitelist"),
    ] {
        let r = publish(&mut a, node, item, &options(&[("pubsub#access_model", model)])).await;
        assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    }
    let alice = ua.bare();
    let ok = |r: &Element| assert_eq!(r.attr("type"), Some("result"), "{}", xml(r));
    // open: anyone.
    ok(&items(&mut s, Some(&alice), "n:open", "", "").await);
    // presence: the contact yes, the stranger no.
    ok(&items(&mut b, Some(&alice), "n:presence", "", "").await);
    let r = items(&mut s, Some(&alice), "n:presence", "", "").await;
    assert_eq!(
        without_id(&r),
        format!("<iq from='{alice}' to='{}' type='error'><error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><presence-subscription-required xmlns='http://jabber.org/protocol/pubsub#errors'/></error></iq>", s.jid)
    );
    // roster: bob is not in an allowed group until alice puts him in one.
    let r = items(&mut b, Some(&alice), "n:roster", "", "").await;
    assert_pubsub_error(&r, "auth", "not-authorized", Some("not-in-roster-group"));
    a.iq_result(
        "set",
        None,
        &format!(
            "<query xmlns='jabber:iq:roster'><item jid='{}'><group>friends</group></item></query>",
            ub.bare()
        ),
    )
    .await;
    let cfg = format!("<pubsub xmlns='{PUBSUB}#owner'><configure node='n:roster'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{PUBSUB}#node_config</value></field><field var='pubsub#roster_groups_allowed'><value>friends</value></field></x></configure></pubsub>");
    a.iq_result("set", None, &cfg).await;
    let r = items(&mut b, Some(&alice), "n:roster", "", "").await;
    let got =
        r.get_child("pubsub", PUBSUB).and_then(|p| p.get_child("items", PUBSUB)).expect("items");
    assert_eq!(xml(got), format!("<items xmlns='{PUBSUB}' node='n:roster'><item id='i' publisher='{alice}'><x xmlns='urn:example'/></item></items>"));
    // whitelist: only the owner.
    let r = items(&mut b, Some(&alice), "n:white", "", "").await;
    assert_pubsub_error(&r, "cancel", "not-allowed", Some("closed-node"));
    ok(&items(&mut a, None, "n:white", "", "").await);
    // Unknown node, and publishing to someone else's PEP.
    let r = items(&mut b, Some(&alice), "n:none", "", "").await;
    assert_pubsub_error(&r, "cancel", "item-not-found", None);
    let r = b
        .iq(
            "set",
            Some(&alice),
            &format!("<pubsub xmlns='{PUBSUB}'><publish node='n:open'>{item}</publish></pubsub>"),
        )
        .await;
    assert_pubsub_error(&r, "auth", "forbidden", None);
}

#[tokio::test]
async fn bounds_item_size_node_count_and_max_items_trimming() {
    let server = TestServer::with(
        "[modules.pep]\nmax_item_bytes = 200\nmax_nodes_per_account = 2\nmax_items_per_node = 3\n",
    )
    .await;
    let ua = server.new_user("alice").await;
    let mut a = server.login(&ua, "pc").await;
    let big = format!("<item id='big'><x xmlns='urn:example'>{}</x></item>", "a".repeat(300));
    let r = publish(&mut a, "n:1", &big, "").await;
    assert_eq!(
        without_id(&r),
        format!("<iq to='{}' type='error'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><payload-too-big xmlns='http://jabber.org/protocol/pubsub#errors'/></error></iq>", a.jid)
    );
    // max_items beyond the configured limit is refused; "max" means the limit.
    let r = publish(
        &mut a,
        "n:1",
        "<item id='1'><x xmlns='urn:example'/></item>",
        &options(&[("pubsub#max_items", "4")]),
    )
    .await;
    assert_pubsub_error(&r, "modify", "not-acceptable", None);
    for i in 1..=5 {
        let r = publish(
            &mut a,
            "n:1",
            &format!("<item id='{i}'><x xmlns='urn:example'>{i}</x></item>"),
            &options(&[("pubsub#max_items", "max")]),
        )
        .await;
        assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    }
    let ids = |r: &Element| -> Vec<String> {
        r.get_child("pubsub", PUBSUB)
            .and_then(|p| p.get_child("items", PUBSUB))
            .map(|i| i.children().filter_map(|c| c.attr("id").map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    assert_eq!(ids(&items(&mut a, None, "n:1", "", "").await), ["3", "4", "5"]);
    assert_eq!(ids(&items(&mut a, None, "n:1", " max_items='1'", "").await), ["5"]);
    assert_eq!(ids(&items(&mut a, None, "n:1", "", "<item id='4'/><item id='1'/>").await), ["4"]);
    // A default node keeps one item.
    publish(&mut a, "n:2", "<item id='a'><x xmlns='urn:example'/></item>", "").await;
    publish(&mut a, "n:2", "<item id='b'><x xmlns='urn:example'/></item>", "").await;
    assert_eq!(ids(&items(&mut a, None, "n:2", "", "").await), ["b"]);
    // A third node is beyond max_nodes_per_account.
    let r = publish(&mut a, "n:3", "<item id='a'><x xmlns='urn:example'/></item>", "").await;
    assert_pubsub_error(&r, "wait", "resource-constraint", None);
}

#[tokio::test]
async fn retract_and_delete_notify_interested_contacts() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let node = "urn:example:status";
    let notify = format!("{node}+notify");
    let mut a = server.login(&ua, "pc").await;
    let mut b = login_with_caps(&server, &ub, "pc", &[&notify]).await;
    mutual(&mut a, &mut b).await;
    publish(&mut a, node, "<item id='s1'><x xmlns='urn:example'/></item>", "").await;
    recv_event(&mut b, node).await;
    let r = a.iq("set", None, &format!("<pubsub xmlns='{PUBSUB}'><retract node='{node}' notify='true'><item id='s1'/></retract></pubsub>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let ev = recv_event(&mut b, node).await;
    assert_eq!(without_id(&ev), format!("<message from='{}' to='{}' type='headline'><event xmlns='{EVENT}'><items node='{node}'><retract id='s1'/></items></event></message>", ua.bare(), b.jid));
    let r = a.iq("set", None, &format!("<pubsub xmlns='{PUBSUB}'><retract node='{node}'><item id='s1'/></retract></pubsub>")).await;
    assert_pubsub_error(&r, "cancel", "item-not-found", None);
    a.iq_result(
        "set",
        None,
        &format!("<pubsub xmlns='{PUBSUB}#owner'><delete node='{node}'/></pubsub>"),
    )
    .await;
    let ev = recv_event(&mut b, node).await;
    assert_eq!(without_id(&ev), format!("<message from='{}' to='{}' type='headline'><event xmlns='{EVENT}'><delete node='{node}'/></event></message>", ua.bare(), b.jid));
    let r = items(&mut a, None, node, "", "").await;
    assert_pubsub_error(&r, "cancel", "item-not-found", None);
}

#[tokio::test]
async fn account_disco_has_pep_identity_features_and_visible_nodes() {
    let server = TestServer::start().await;
    let (ua, us) = (server.new_user("alice").await, server.new_user("stranger").await);
    let mut a = server.login(&ua, "pc").await;
    let mut s = server.login(&us, "pc").await;
    publish(
        &mut a,
        "n:open",
        "<item id='1'><x xmlns='urn:example'/></item>",
        &options(&[("pubsub#access_model", "open")]),
    )
    .await;
    publish(&mut a, "n:presence", "<item id='1'><x xmlns='urn:example'/></item>", "").await;
    let alice = ua.bare();
    let r = s
        .iq_result("get", Some(&alice), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    let q = r.get_child("query", "http://jabber.org/protocol/disco#info").expect("query");
    assert!(
        q.children().any(|c| c.name == "identity"
            && c.attr("category") == Some("pubsub")
            && c.attr("type") == Some("pep")),
        "{}",
        xml(&r)
    );
    let vars: Vec<&str> = q.children().filter_map(|c| c.attr("var")).collect();
    for f in [
        "publish",
        "publish-options",
        "auto-create",
        "access-open",
        "access-presence",
        "access-roster",
        "access-whitelist",
        "retract-items",
        "retrieve-items",
        "delete-nodes",
        "config-node",
    ] {
        assert!(vars.contains(&format!("{PUBSUB}#{f}").as_str()), "missing {f}: {}", xml(&r));
    }
    let r = s
        .iq_result("get", Some(&alice), "<query xmlns='http://jabber.org/protocol/disco#items'/>")
        .await;
    assert_eq!(
        without_id(&r),
        format!("<iq type='result' from='{alice}' to='{}'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='{alice}' node='n:open'/></query></iq>", s.jid)
    );
    let r =
        a.iq_result("get", None, "<query xmlns='http://jabber.org/protocol/disco#items'/>").await;
    let nodes: Vec<&str> = r
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .expect("q")
        .children()
        .filter_map(|c| c.attr("node"))
        .collect();
    assert_eq!(nodes, ["n:open", "n:presence"]);
}

#[tokio::test]
async fn configure_form_round_trip() {
    let server = TestServer::start().await;
    let ua = server.new_user("alice").await;
    let mut a = server.login(&ua, "pc").await;
    publish(&mut a, "n:c", "<item id='1'><x xmlns='urn:example'/></item>", "").await;
    let r = a
        .iq_result(
            "get",
            None,
            &format!("<pubsub xmlns='{PUBSUB}#owner'><configure node='n:c'/></pubsub>"),
        )
        .await;
    let x = r
        .get_child("pubsub", &format!("{PUBSUB}#owner"))
        .and_then(|p| p.get_child("configure", &format!("{PUBSUB}#owner")))
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .expect("form");
    let value = |var: &str| {
        x.children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| f.get_child("value", "jabber:x:data"))
            .map(|v| v.text())
    };
    assert_eq!(value("pubsub#access_model").as_deref(), Some("presence"));
    assert_eq!(value("pubsub#max_items").as_deref(), Some("1"));
    assert_eq!(value("pubsub#send_last_published_item").as_deref(), Some("on_sub_and_presence"));
    let r = a.iq("set", None, &format!("<pubsub xmlns='{PUBSUB}#owner'><configure node='n:c'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>authorize</value></field></x></configure></pubsub>")).await;
    assert_pubsub_error(&r, "modify", "not-acceptable", None);
}

/// Logs `u` in and makes it a mutual contact of `a`, with caps listing `features`.
async fn contact_with_caps(
    server: &TestServer,
    a: &mut Client,
    u: &User,
    features: &[&str],
) -> Client {
    let mut b = login_with_caps(server, u, "pc", features).await;
    mutual(a, &mut b).await;
    b
}

#[tokio::test]
async fn user_avatar_data_and_metadata() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a = server.login(&ua, "pc").await;
    let mut b = contact_with_caps(&server, &mut a, &ub, &["urn:xmpp:avatar:metadata+notify"]).await;
    let png = B64.encode([0x89u8, b'P', b'N', b'G', 1, 2, 3, 4]);
    let id = hex(&sha1::Sha1::digest([0x89u8, b'P', b'N', b'G', 1, 2, 3, 4]));
    let r = publish(
        &mut a,
        "urn:xmpp:avatar:data",
        &format!("<item id='{id}'><data xmlns='urn:xmpp:avatar:data'>{png}</data></item>"),
        "",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    // Data is not announced to bob (no +notify for it).
    expect_no_event(&mut b).await;
    let meta = format!("<item id='{id}'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='8' id='{id}' height='1' width='1' type='image/png'/></metadata></item>");
    publish(&mut a, "urn:xmpp:avatar:metadata", &meta, "").await;
    let ev = recv_event(&mut b, "urn:xmpp:avatar:metadata").await;
    let info = ev
        .get_child("event", EVENT)
        .and_then(|e| e.get_child("items", EVENT))
        .and_then(|i| i.get_child("item", EVENT))
        .and_then(|i| i.get_child("metadata", "urn:xmpp:avatar:metadata"))
        .and_then(|m| m.get_child("info", "urn:xmpp:avatar:metadata"))
        .expect("info");
    assert_eq!(info.attr("id"), Some(id.as_str()));
    let r =
        items(&mut b, Some(&ua.bare()), "urn:xmpp:avatar:data", "", &format!("<item id='{id}'/>"))
            .await;
    let data = r
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .and_then(|i| i.get_child("item", PUBSUB))
        .and_then(|i| i.get_child("data", "urn:xmpp:avatar:data"))
        .expect("data");
    assert_eq!(data.text(), png);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn omemo_device_list_and_bundles_are_open() {
    let server = TestServer::start().await;
    let (ua, ub, us) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("stranger").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let devicelist = "eu.siacs.conversations.axolotl.devicelist";
    let mut b = contact_with_caps(&server, &mut a, &ub, &[&format!("{devicelist}+notify")]).await;
    let open = options(&[("pubsub#access_model", "open")]);
    let r = publish(&mut a, devicelist, "<item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='12345'/></list></item>", &open).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let ev = recv_event(&mut b, devicelist).await;
    assert!(xml(&ev).contains("<device id='12345'/>"), "{}", xml(&ev));
    let bundle = "eu.siacs.conversations.axolotl.bundles:12345";
    let r = publish(&mut a, bundle, "<item id='current'><bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>BASE64</signedPreKeyPublic><identityKey>KEY</identityKey><prekeys><preKeyPublic preKeyId='1'>PK</preKeyPublic></prekeys></bundle></item>", &open).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    // Someone with no subscription fetches both (open access), as OMEMO needs before chatting.
    let mut s = server.login(&us, "pc").await;
    for node in [devicelist, bundle] {
        let r = items(&mut s, Some(&ua.bare()), node, "", "").await;
        let item = r
            .get_child("pubsub", PUBSUB)
            .and_then(|p| p.get_child("items", PUBSUB))
            .and_then(|i| i.get_child("item", PUBSUB))
            .unwrap_or_else(|| panic!("{}", xml(&r)));
        assert_eq!(item.attr("id"), Some("current"));
    }
}

#[tokio::test]
async fn native_bookmarks_whitelist_max_items_one_item_per_conference() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let node = "urn:xmpp:bookmarks:1";
    let mut a = login_with_caps(&server, &ua, "pc", &[&format!("{node}+notify")]).await;
    let mut a2 = login_with_caps(&server, &ua, "phone", &[&format!("{node}+notify")]).await;
    let mut b = contact_with_caps(&server, &mut a, &ub, &[&format!("{node}+notify")]).await;
    a2.drain(QUIET).await;
    let opts = options(&[
        ("pubsub#persist_items", "true"),
        ("pubsub#access_model", "whitelist"),
        ("pubsub#max_items", "max"),
        ("pubsub#send_last_published_item", "never"),
    ]);
    for room in ["a@conf.example", "b@conf.example", "c@conf.example"] {
        let r = publish(&mut a, node, &format!("<item id='{room}'><conference xmlns='urn:xmpp:bookmarks:1' name='{room}' autojoin='true'><nick>al</nick></conference></item>"), &opts).await;
        assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
        // The owner's other resource is notified; the contact (whitelist) is not.
        let ev = recv_event(&mut a2, node).await;
        assert!(xml(&ev).contains(&format!("id='{room}'")), "{}", xml(&ev));
    }
    expect_no_event(&mut b).await;
    let r = items(&mut a2, None, node, "", "").await;
    let ids: Vec<&str> = r
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .expect("items")
        .children()
        .filter_map(|c| c.attr("id"))
        .collect();
    assert_eq!(ids, ["a@conf.example", "b@conf.example", "c@conf.example"]);
    let r = items(&mut b, Some(&ua.bare()), node, "", "").await;
    assert_pubsub_error(&r, "cancel", "not-allowed", Some("closed-node"));
    // Removing one bookmark is a retraction.
    a.iq_result("set", None, &format!("<pubsub xmlns='{PUBSUB}'><retract node='{node}' notify='1'><item id='b@conf.example'/></retract></pubsub>")).await;
    let ev = recv_event(&mut a2, node).await;
    assert!(xml(&ev).contains("<retract id='b@conf.example'/>"), "{}", xml(&ev));
}

#[tokio::test]
async fn private_pep_data_is_owner_only() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    mutual(&mut a, &mut b).await;
    let node = "storage:bookmarks";
    let opts = options(&[("pubsub#persist_items", "true"), ("pubsub#access_model", "whitelist")]);
    let r = publish(&mut a, node, "<item id='current'><storage xmlns='storage:bookmarks'><conference jid='x@conf.example' autojoin='true'/></storage></item>", &opts).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let r = items(&mut a, None, node, "", "").await;
    assert!(xml(&r).contains("<conference jid='x@conf.example' autojoin='true'/>"), "{}", xml(&r));
    let r = items(&mut b, Some(&ua.bare()), node, "", "").await;
    assert_pubsub_error(&r, "cancel", "not-allowed", Some("closed-node"));
    // The data survives a new login.
    a.close().await;
    let mut a = server.login(&ua, "pc2").await;
    let r = items(&mut a, None, node, "", "").await;
    assert!(xml(&r).contains("x@conf.example"), "{}", xml(&r));
}
