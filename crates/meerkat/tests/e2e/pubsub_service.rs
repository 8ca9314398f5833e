//! Issue 6 (item 4): the Publish-Subscribe service (XEP-0060) at `pubsub.localhost`: disco of the
//! service and its nodes, create (named and instant), configure, publish with notifications
//! to subscribers (exact XML), items (all, max_items, by id), retract, purge, delete,
//! subscriptions and affiliations (own and owner), access models, limits, and a subscriber on
//! another cluster node.

use crate::common::client::{assert_stanza_error, xml};
use crate::common::nats::ClusterFixture;
use crate::common::{Client, TestServer, User};
use crate::stream_management::make_mutual;
use meerkat_xml::Element;
use std::time::Duration;

const SERVICE: &str = "pubsub.localhost";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
const QUIET: Duration = Duration::from_millis(400);

async fn ps(c: &mut Client, typ: &str, inner: &str) -> Element {
    c.iq(typ, Some(SERVICE), &format!("<pubsub xmlns='{PUBSUB}'>{inner}</pubsub>")).await
}

async fn ps_ok(c: &mut Client, typ: &str, inner: &str) -> Element {
    let r = ps(c, typ, inner).await;
    assert_eq!(r.attr("type"), Some("result"), "{inner}: {}", xml(&r));
    r
}

async fn owner(c: &mut Client, typ: &str, inner: &str) -> Element {
    c.iq(typ, Some(SERVICE), &format!("<pubsub xmlns='{OWNER}'>{inner}</pubsub>")).await
}

async fn owner_ok(c: &mut Client, typ: &str, inner: &str) -> Element {
    let r = owner(c, typ, inner).await;
    assert_eq!(r.attr("type"), Some("result"), "{inner}: {}", xml(&r));
    r
}

/// Asserts a stanza error with this condition and pubsub#errors condition.
fn assert_app_error(r: &Element, cond: &str, app: &str) {
    let err = assert_stanza_error(r, "iq", &[cond]);
    assert!(err.get_child(app, ERRORS).is_some(), "expected <{app}/>: {}", xml(r));
}

/// The next headline from the service; returns its `<event/>` as XML.
async fn event(c: &mut Client) -> String {
    let m = c
        .recv_where("a pubsub event", |e| {
            e.name == "message"
                && e.attr("from") == Some(SERVICE)
                && e.get_child("event", EVENT).is_some()
        })
        .await;
    assert_eq!(m.attr("type"), Some("headline"), "{}", xml(&m));
    m.get_child("event", EVENT).map(Element::to_xml).unwrap_or_default()
}

async fn no_event(c: &mut Client) {
    c.expect_none("a pubsub event", QUIET, |e| {
        e.name == "message" && e.attr("from") == Some(SERVICE)
    })
    .await;
}

/// Item XML of an `<items/>` result, in order.
fn item_ids(r: &Element) -> Vec<String> {
    r.get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .map(|i| i.children().filter_map(|c| c.attr("id").map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn two(server: &TestServer) -> (User, Client, User, Client) {
    let a = server.new_user("alice").await;
    let b = server.new_user("bob").await;
    let alice = server.login(&a, "a").await;
    let bob = server.login(&b, "b").await;
    (a, alice, b, bob)
}

fn entry(text: &str) -> String {
    format!("<entry xmlns='urn:example:news'>{text}</entry>")
}

#[tokio::test]
async fn disco_of_the_service_and_its_nodes() {
    let server = TestServer::start().await;
    let (a, mut alice, _b, _bob) = two(&server).await;
    let r = alice
        .iq_result(
            "get",
            Some("localhost"),
            "<query xmlns='http://jabber.org/protocol/disco#items'/>",
        )
        .await;
    assert!(xml(&r).contains(&format!("jid='{SERVICE}'")), "{}", xml(&r));
    let r = alice
        .iq_result("get", Some(SERVICE), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    let q = r.children().next().expect("query").to_xml();
    assert!(
        q.starts_with(
            "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='pubsub' type='service' name='Publish-Subscribe'/>"
        ),
        "{q}"
    );
    for f in [
        "pubsub#subscribe",
        "pubsub#instant-nodes",
        "pubsub#purge-nodes",
        "pubsub#modify-affiliations",
    ] {
        assert!(q.contains(&format!("var='http://jabber.org/protocol/{f}'")), "{f}: {q}");
    }
    ps_ok(
        &mut alice,
        "set",
        "<create node='news'/><configure><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>\
         <field var='pubsub#title'><value>Daily news</value></field></x></configure>",
    )
    .await;
    let r = alice
        .iq_result("get", Some(SERVICE), "<query xmlns='http://jabber.org/protocol/disco#items'/>")
        .await;
    assert_eq!(
        r.children().next().expect("query").to_xml(),
        "<query xmlns='http://jabber.org/protocol/disco#items'>\
         <item jid='pubsub.localhost' node='news' name='Daily news'/></query>"
    );
    let r = alice
        .iq_result(
            "get",
            Some(SERVICE),
            "<query xmlns='http://jabber.org/protocol/disco#info' node='news'/>",
        )
        .await;
    assert_eq!(
        r.children().next().expect("query").to_xml(),
        format!(
            "<query xmlns='http://jabber.org/protocol/disco#info' node='news'>\
             <identity category='pubsub' type='leaf'/>\
             <feature var='http://jabber.org/protocol/disco#info'/>\
             <feature var='http://jabber.org/protocol/pubsub'/>\
             <x xmlns='jabber:x:data' type='result'>\
             <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#meta-data</value></field>\
             <field var='pubsub#title'><value>Daily news</value></field>\
             <field var='pubsub#access_model'><value>open</value></field>\
             <field var='pubsub#owner'><value>{}</value></field></x></query>",
            a.bare()
        )
    );
    let r = alice
        .iq(
            "get",
            Some(SERVICE),
            "<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/>",
        )
        .await;
    assert_stanza_error(&r, "iq", &["item-not-found"]);
}

#[tokio::test]
async fn publish_notifies_subscribers_then_items_retract_purge_and_delete() {
    let server = TestServer::start().await;
    let (a, mut alice, b, mut bob) = two(&server).await;
    ps_ok(&mut alice, "set", "<create node='news'/>").await;
    let bob_jid = bob.jid.clone();
    let r = ps_ok(&mut bob, "set", &format!("<subscribe node='news' jid='{bob_jid}'/>")).await;
    assert_eq!(
        r.children().next().expect("pubsub").to_xml(),
        format!(
            "<pubsub xmlns='{PUBSUB}'><subscription node='news' jid='{}' subscription='subscribed'/></pubsub>",
            bob.jid
        )
    );
    for (id, text) in [("1", "one"), ("2", "two"), ("3", "three")] {
        let r = ps_ok(
            &mut alice,
            "set",
            &format!("<publish node='news'><item id='{id}'>{}</item></publish>", entry(text)),
        )
        .await;
        assert_eq!(
            r.children().next().expect("pubsub").to_xml(),
            format!("<pubsub xmlns='{PUBSUB}'><publish node='news'><item id='{id}'/></publish></pubsub>")
        );
        assert_eq!(
            event(&mut bob).await,
            format!(
                "<event xmlns='{EVENT}'><items node='news'><item id='{id}' publisher='{}'>\
                 <entry xmlns='urn:example:news'>{text}</entry></item></items></event>",
                a.bare()
            )
        );
    }
    // The publisher is not subscribed: no event for alice.
    no_event(&mut alice).await;
    // Items: all (oldest first), the last one, by id; readable by anyone (open node).
    assert_eq!(item_ids(&ps_ok(&mut bob, "get", "<items node='news'/>").await), ["1", "2", "3"]);
    assert_eq!(
        item_ids(&ps_ok(&mut bob, "get", "<items node='news' max_items='1'/>").await),
        ["3"]
    );
    let r = ps_ok(&mut bob, "get", "<items node='news'><item id='2'/></items>").await;
    assert_eq!(
        r.children().next().expect("pubsub").to_xml(),
        format!(
            "<pubsub xmlns='{PUBSUB}'><items node='news'><item id='2' publisher='{}'>\
             <entry xmlns='urn:example:news'>two</entry></item></items></pubsub>",
            a.bare()
        )
    );
    // Retract with notify.
    ps_ok(&mut alice, "set", "<retract node='news' notify='true'><item id='2'/></retract>").await;
    assert_eq!(
        event(&mut bob).await,
        format!("<event xmlns='{EVENT}'><items node='news'><retract id='2'/></items></event>")
    );
    let r = ps(&mut alice, "set", "<retract node='news'><item id='2'/></retract>").await;
    assert_stanza_error(&r, "iq", &["item-not-found"]);
    // Purge, then delete.
    owner_ok(&mut alice, "set", "<purge node='news'/>").await;
    assert_eq!(
        event(&mut bob).await,
        format!("<event xmlns='{EVENT}'><purge node='news'/></event>")
    );
    assert!(item_ids(&ps_ok(&mut bob, "get", "<items node='news'/>").await).is_empty());
    owner_ok(&mut alice, "set", "<delete node='news'/>").await;
    assert_eq!(
        event(&mut bob).await,
        format!("<event xmlns='{EVENT}'><delete node='news'/></event>")
    );
    let r = ps(&mut bob, "get", "<items node='news'/>").await;
    assert_stanza_error(&r, "iq", &["item-not-found"]);
    // Bob's subscription went with the node.
    let r = ps_ok(&mut bob, "get", "<subscriptions/>").await;
    assert_eq!(
        r.children().next().expect("pubsub").to_xml(),
        format!("<pubsub xmlns='{PUBSUB}'><subscriptions/></pubsub>")
    );
    let _ = b;
}

#[tokio::test]
async fn unsubscribe_and_subscription_errors() {
    let server = TestServer::start().await;
    let (_a, mut alice, b, mut bob) = two(&server).await;
    ps_ok(&mut alice, "set", "<create node='n'/>").await;
    let r = ps(&mut bob, "set", "<subscribe node='n' jid='someone@localhost'/>").await;
    assert_app_error(&r, "bad-request", "invalid-jid");
    let r = ps(&mut bob, "set", &format!("<subscribe node='missing' jid='{}'/>", b.bare())).await;
    assert_stanza_error(&r, "iq", &["item-not-found"]);
    let r = ps(&mut bob, "set", &format!("<unsubscribe node='n' jid='{}'/>", b.bare())).await;
    assert_app_error(&r, "unexpected-request", "not-subscribed");
    ps_ok(&mut bob, "set", &format!("<subscribe node='n' jid='{}'/>", b.bare())).await;
    let r = ps_ok(&mut bob, "get", "<subscriptions/>").await;
    assert_eq!(
        r.children().next().expect("pubsub").to_xml(),
        format!(
            "<pubsub xmlns='{PUBSUB}'><subscriptions><subscription node='n' jid='{}' subscription='subscribed'/>\
             </subscriptions></pubsub>",
            b.bare()
        )
    );
    ps_ok(&mut bob, "set", &format!("<unsubscribe node='n' jid='{}'/>", b.bare())).await;
    ps_ok(&mut alice, "set", "<publish node='n'><item id='x'><p xmlns='urn:x'/></item></publish>")
        .await;
    no_event(&mut bob).await;
    // With send_last_published_item = on_sub, a new subscriber gets the last item at once.
    ps_ok(
        &mut alice,
        "set",
        "<create node='last'/><configure><x xmlns='jabber:x:data' type='submit'>\
         <field var='pubsub#send_last_published_item'><value>on_sub</value></field></x></configure>",
    )
    .await;
    for id in ["old", "new"] {
        let publish =
            format!("<publish node='last'><item id='{id}'><p xmlns='urn:x'/></item></publish>");
        ps_ok(&mut alice, "set", &publish).await;
    }
    ps_ok(&mut bob, "set", &format!("<subscribe node='last' jid='{}'/>", b.bare())).await;
    let ev = event(&mut bob).await;
    assert!(ev.contains("<items node='last'><item id='new'"), "{ev}");
    no_event(&mut bob).await;
}

#[tokio::test]
async fn owners_manage_affiliations_and_subscriptions() {
    let server = TestServer::start().await;
    let (a, mut alice, b, mut bob) = two(&server).await;
    let c = server.new_user("carol").await;
    let mut carol = server.login(&c, "c").await;
    ps_ok(&mut alice, "set", "<create node='n'/>").await;
    // Not an owner or publisher: bob may not publish, configure or delete.
    let r =
        ps(&mut bob, "set", "<publish node='n'><item><p xmlns='urn:x'/></item></publish>").await;
    assert_stanza_error(&r, "iq", &["forbidden"]);
    for inner in ["<configure node='n'/>", "<affiliations node='n'/>", "<subscriptions node='n'/>"]
    {
        let r = owner(&mut bob, "get", inner).await;
        assert_stanza_error(&r, "iq", &["forbidden"]);
    }
    let r = owner(&mut bob, "set", "<delete node='n'/>").await;
    assert_stanza_error(&r, "iq", &["forbidden"]);
    // Alice makes bob a publisher and carol an outcast.
    owner_ok(
        &mut alice,
        "set",
        &format!(
            "<affiliations node='n'><affiliation jid='{}' affiliation='publisher'/>\
             <affiliation jid='{}' affiliation='outcast'/></affiliations>",
            b.bare(),
            c.bare()
        ),
    )
    .await;
    let r = owner_ok(&mut alice, "get", "<affiliations node='n'/>").await;
    let mut expected = [(a.bare(), "owner"), (b.bare(), "publisher"), (c.bare(), "outcast")];
    expected.sort();
    let listed: String = expected
        .iter()
        .map(|(j, x)| format!("<affiliation jid='{j}' affiliation='{x}'/>"))
        .collect();
    assert_eq!(
        r.children().next().expect("pubsub").to_xml(),
        format!("<pubsub xmlns='{OWNER}'><affiliations node='n'>{listed}</affiliations></pubsub>")
    );
    ps_ok(&mut bob, "set", "<publish node='n'><item id='b1'><p xmlns='urn:x'/></item></publish>")
        .await;
    let r = ps_ok(&mut bob, "get", "<affiliations/>").await;
    assert_eq!(
        r.children().next().expect("pubsub").to_xml(),
        format!("<pubsub xmlns='{PUBSUB}'><affiliations><affiliation node='n' affiliation='publisher'/></affiliations></pubsub>")
    );
    let r = ps(&mut carol, "set", &format!("<subscribe node='n' jid='{}'/>", c.bare())).await;
    assert_stanza_error(&r, "iq", &["forbidden"]);
    let r = ps(&mut carol, "get", "<items node='n'/>").await;
    assert_stanza_error(&r, "iq", &["forbidden"]);
    // The only owner cannot leave the node ownerless.
    let r = owner(
        &mut alice,
        "set",
        &format!(
            "<affiliations node='n'><affiliation jid='{}' affiliation='none'/></affiliations>",
            a.bare()
        ),
    )
    .await;
    assert_stanza_error(&r, "iq", &["not-acceptable"]);
    // Owner-managed subscriptions: add bob, list, remove.
    owner_ok(
        &mut alice,
        "set",
        &format!("<subscriptions node='n'><subscription jid='{}' subscription='subscribed'/></subscriptions>", b.bare()),
    )
    .await;
    let r = owner_ok(&mut alice, "get", "<subscriptions node='n'/>").await;
    assert_eq!(
        r.children().next().expect("pubsub").to_xml(),
        format!(
            "<pubsub xmlns='{OWNER}'><subscriptions node='n'><subscription jid='{}' subscription='subscribed'/>\
             </subscriptions></pubsub>",
            b.bare()
        )
    );
    ps_ok(&mut alice, "set", "<publish node='n'><item id='a1'><p xmlns='urn:x'/></item></publish>")
        .await;
    assert!(event(&mut bob).await.contains("<item id='a1'"));
    owner_ok(
        &mut alice,
        "set",
        &format!(
            "<subscriptions node='n'><subscription jid='{}' subscription='none'/></subscriptions>",
            b.bare()
        ),
    )
    .await;
    ps_ok(&mut alice, "set", "<publish node='n'><item id='a2'><p xmlns='urn:x'/></item></publish>")
        .await;
    no_event(&mut bob).await;
}

#[tokio::test]
async fn access_models_whitelist_presence_and_roster() {
    let server = TestServer::start().await;
    let (_a, mut alice, b, mut bob) = two(&server).await;
    let c = server.new_user("carol").await;
    let mut carol = server.login(&c, "c").await;
    let form = |model: &str| {
        format!(
            "<configure><x xmlns='jabber:x:data' type='submit'>\
             <field var='pubsub#access_model'><value>{model}</value></field></x></configure>"
        )
    };
    ps_ok(&mut alice, "set", &format!("<create node='w'/>{}", form("whitelist"))).await;
    let r = ps(&mut bob, "set", &format!("<subscribe node='w' jid='{}'/>", b.bare())).await;
    assert_app_error(&r, "not-allowed", "closed-node");
    let r = ps(&mut bob, "get", "<items node='w'/>").await;
    assert_app_error(&r, "not-allowed", "closed-node");
    owner_ok(
        &mut alice,
        "set",
        &format!(
            "<affiliations node='w'><affiliation jid='{}' affiliation='member'/></affiliations>",
            b.bare()
        ),
    )
    .await;
    ps_ok(&mut bob, "set", &format!("<subscribe node='w' jid='{}'/>", b.bare())).await;
    // Presence: bob shares presence with alice, carol does not.
    make_mutual(&mut alice, &mut bob).await;
    ps_ok(&mut alice, "set", &format!("<create node='p'/>{}", form("presence"))).await;
    ps_ok(&mut bob, "set", &format!("<subscribe node='p' jid='{}'/>", b.bare())).await;
    let r = ps(&mut carol, "set", &format!("<subscribe node='p' jid='{}'/>", c.bare())).await;
    assert_app_error(&r, "not-authorized", "presence-subscription-required");
    // Roster: bob is in alice's "friends" group, carol is not in alice's roster at all.
    alice
        .iq_result(
            "set",
            None,
            &format!(
                "<query xmlns='jabber:iq:roster'><item jid='{}'><group>friends</group></item></query>",
                b.bare()
            ),
        )
        .await;
    ps_ok(
        &mut alice,
        "set",
        "<create node='r'/><configure><x xmlns='jabber:x:data' type='submit'>\
         <field var='pubsub#access_model'><value>roster</value></field>\
         <field var='pubsub#roster_groups_allowed'><value>friends</value></field></x></configure>",
    )
    .await;
    ps_ok(&mut bob, "set", &format!("<subscribe node='r' jid='{}'/>", b.bare())).await;
    let r = ps(&mut carol, "get", "<items node='r'/>").await;
    assert_app_error(&r, "not-authorized", "not-in-roster-group");
    // Open, switched to whitelist by configure: carol's items request is refused afterwards.
    ps_ok(&mut alice, "set", "<create node='o'/>").await;
    ps_ok(&mut carol, "get", "<items node='o'/>").await;
    owner_ok(
        &mut alice,
        "set",
        "<configure node='o'><x xmlns='jabber:x:data' type='submit'>\
         <field var='pubsub#access_model'><value>whitelist</value></field></x></configure>",
    )
    .await;
    let r = ps(&mut carol, "get", "<items node='o'/>").await;
    assert_app_error(&r, "not-allowed", "closed-node");
    let r = owner_ok(&mut alice, "get", "<configure node='o'/>").await;
    assert!(xml(&r).contains("<value>whitelist</value>"), "{}", xml(&r));
}

#[tokio::test]
async fn instant_nodes_conflicts_and_limits() {
    let server = TestServer::with(
        "[modules.pubsub_service]\nmax_nodes = 2\nmax_items_per_node = 3\ndefault_max_items = 2\n\
         max_item_bytes = 200\nmax_subscriptions_per_node = 1\n",
    )
    .await;
    let (_a, mut alice, b, mut bob) = two(&server).await;
    let r = ps_ok(&mut alice, "set", "<create/>").await;
    let created = r
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("create", PUBSUB))
        .and_then(|c| c.attr("node"))
        .unwrap_or_else(|| panic!("instant node name: {}", xml(&r)))
        .to_string();
    assert_eq!(created.len(), 32, "{created}");
    ps_ok(&mut alice, "set", "<create node='n'/>").await;
    let r = ps(&mut alice, "set", "<create node='n'/>").await;
    assert_stanza_error(&r, "iq", &["conflict"]);
    let r = ps(&mut alice, "set", "<create node='third'/>").await;
    assert_stanza_error(&r, "iq", &["resource-constraint"]);
    // Items kept: default 2.
    for id in ["1", "2", "3"] {
        ps_ok(
            &mut alice,
            "set",
            &format!("<publish node='n'><item id='{id}'><p xmlns='urn:x'/></item></publish>"),
        )
        .await;
    }
    assert_eq!(item_ids(&ps_ok(&mut alice, "get", "<items node='n'/>").await), ["2", "3"]);
    let big = "x".repeat(300);
    let r = ps(
        &mut alice,
        "set",
        &format!("<publish node='n'><item><p xmlns='urn:x'>{big}</p></item></publish>"),
    )
    .await;
    assert_app_error(&r, "not-acceptable", "payload-too-big");
    let r = owner(
        &mut alice,
        "set",
        "<configure node='n'><x xmlns='jabber:x:data' type='submit'>\
         <field var='pubsub#max_items'><value>4</value></field></x></configure>",
    )
    .await;
    assert_stanza_error(&r, "iq", &["not-acceptable"]);
    ps_ok(&mut bob, "set", &format!("<subscribe node='n' jid='{}'/>", b.bare())).await;
    let alice_jid = alice.jid.clone();
    let r = ps(&mut alice, "set", &format!("<subscribe node='n' jid='{alice_jid}'/>")).await;
    assert_stanza_error(&r, "iq", &["resource-constraint"]);
    let r = owner_ok(&mut alice, "get", "<default/>").await;
    assert!(xml(&r).contains("pubsub#node_config"), "{}", xml(&r));
}

/// Alice on node 1 publishes; bob, subscribed from node 2, gets the event there.
#[tokio::test]
async fn notifications_reach_subscribers_on_other_cluster_nodes() {
    let cluster = ClusterFixture::start(2).await;
    let a = cluster.node(1).new_user("alice").await;
    let b = cluster.node(1).new_user("bob").await;
    let mut alice = cluster.node(1).login(&a, "one").await;
    let mut bob = cluster.node(2).login(&b, "two").await;
    ps_ok(&mut alice, "set", "<create node='c'/>").await;
    ps_ok(&mut bob, "set", &format!("<subscribe node='c' jid='{}'/>", b.bare())).await;
    // The node made through node 1 is configured through node 2's view at once.
    let r = owner(&mut bob, "get", "<configure node='c'/>").await;
    assert_stanza_error(&r, "iq", &["forbidden"]);
    ps_ok(
        &mut alice,
        "set",
        &format!("<publish node='c'><item id='i'>{}</item></publish>", entry("x")),
    )
    .await;
    assert_eq!(
        event(&mut bob).await,
        format!(
            "<event xmlns='{EVENT}'><items node='c'><item id='i' publisher='{}'>\
             <entry xmlns='urn:example:news'>x</entry></item></items></event>",
            a.bare()
        )
    );
    assert_eq!(item_ids(&ps_ok(&mut bob, "get", "<items node='c'/>").await), ["i"]);
}
