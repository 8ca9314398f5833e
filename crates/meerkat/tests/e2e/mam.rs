//! Message archive management (XEP-0313) with stanza ids (XEP-0359), paging (XEP-0059) and
//! hints (XEP-0334): what is archived, the exact result format, every filter, paging both ways,
//! preferences, and the error paths.

use crate::common::client::{assert_stanza_error, xml};
use crate::common::{Client, TestServer, User, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

const NS: &str = "urn:xmpp:mam:2";
const SID: &str = "urn:xmpp:sid:0";
const RSM: &str = "http://jabber.org/protocol/rsm";

/// What a query returned: the result messages, in order, and the `<fin/>`.
struct Answer {
    results: Vec<Element>,
    fin: Element,
}

impl Answer {
    /// The bodies of the archived messages, in order.
    fn bodies(&self) -> Vec<String> {
        self.results.iter().map(|m| body_of(forwarded(m))).collect()
    }
    fn ids(&self) -> Vec<String> {
        self.results.iter().map(|m| result(m).attr("id").unwrap_or_default().to_owned()).collect()
    }
    fn set(&self, name: &str) -> Option<String> {
        self.fin.get_child("set", RSM).and_then(|s| s.get_child(name, RSM)).map(|e| e.text())
    }
    fn complete(&self) -> &str {
        self.fin.attr("complete").unwrap_or("")
    }
}

fn result(m: &Element) -> &Element {
    m.get_child("result", NS).unwrap_or_else(|| panic!("not a MAM result: {}", xml(m)))
}

fn forwarded(m: &Element) -> &Element {
    result(m)
        .get_child("forwarded", "urn:xmpp:forward:0")
        .and_then(|f| f.get_child("message", "jabber:client"))
        .unwrap_or_else(|| panic!("no forwarded message: {}", xml(m)))
}

fn body_of(m: &Element) -> String {
    m.get_child("body", "jabber:client").map(|b| b.text()).unwrap_or_default()
}

fn field(var: &str, value: &str) -> String {
    format!("<field var='{var}'><value>{value}</value></field>")
}

fn form(fields: &[String]) -> String {
    format!(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>\
         <value>{NS}</value></field>{}</x>",
        fields.concat()
    )
}

fn rsm(inner: &str) -> String {
    format!("<set xmlns='{RSM}'>{inner}</set>")
}

/// Runs a query (`inner` is the query's content) and collects its results; panics on an error.
async fn query(c: &mut Client, qid: &str, inner: &str) -> Answer {
    let r =
        c.iq("set", None, &format!("<query xmlns='{NS}' queryid='{qid}'>{inner}</query>")).await;
    assert_eq!(r.attr("type"), Some("result"), "query failed: {}", xml(&r));
    let fin = r.get_child("fin", NS).unwrap_or_else(|| panic!("no <fin/>: {}", xml(&r))).clone();
    let mut results = Vec::new();
    while let Some(m) = c
        .try_recv_where(Duration::ZERO, |e| {
            e.name == "message"
                && e.get_child("result", NS).and_then(|r| r.attr("queryid")) == Some(qid)
        })
        .await
    {
        results.push(m);
    }
    Answer { results, fin }
}

/// Sends `n` chat messages `{prefix}{i}` from `from` to `to` and waits until `to` got them.
async fn chat(from: &mut Client, to: &mut Client, prefix: &str, n: usize) {
    for i in 0..n {
        from.send(&format!(
            "<message to='{}' type='chat'><body>{prefix}{i}</body></message>",
            to.jid
        ))
        .await;
    }
    for _ in 0..n {
        to.recv_message().await;
    }
}

async fn pair(server: &TestServer) -> (User, User, Client, Client) {
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let alice = server.login(&a, "a").await;
    let bob = server.login(&b, "b").await;
    (a, b, alice, bob)
}

#[tokio::test]
async fn account_disco_advertises_mam_extended_and_stanza_ids() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "a").await;
    let info = alice
        .iq_result("get", Some(&a.bare()), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    let features: Vec<String> = info
        .children()
        .flat_map(|q| q.children())
        .filter(|f| f.name == "feature")
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect();
    for f in [NS, "urn:xmpp:mam:2#extended", SID] {
        assert!(features.iter().any(|x| x == f), "{f} missing from {features:?}");
    }
}

#[tokio::test]
async fn recipient_copy_gets_our_stanza_id_and_forged_ones_are_removed() {
    let server = TestServer::start().await;
    let (a, _b, mut alice, mut bob) = pair(&server).await;
    bob.send(&format!(
        "<message to='{}' type='chat' id='x'><body>hi</body>\
         <stanza-id xmlns='{SID}' by='{}' id='forged'/>\
         <stanza-id xmlns='{SID}' by='{DOMAIN}' id='forged-too'/>\
         <stanza-id xmlns='{SID}' by='elsewhere.example' id='kept'/></message>",
        alice.jid,
        a.bare()
    ))
    .await;
    let m = alice.recv_message().await;
    let ids: Vec<(String, String)> = m
        .children()
        .filter(|c| c.is("stanza-id", SID))
        .map(|c| (c.attr("by").unwrap_or("").to_owned(), c.attr("id").unwrap_or("").to_owned()))
        .collect();
    assert_eq!(ids.len(), 2, "{}", xml(&m));
    assert_eq!(ids[0], ("elsewhere.example".to_owned(), "kept".to_owned()));
    assert_eq!(ids[1].0, a.bare());
    assert!(ids[1].1 != "forged" && ids[1].1.len() == 16, "{}", xml(&m));

    // The archive id of the query result is the stanza-id the recipient saw.
    let ans = query(&mut alice, "q1", "").await;
    assert_eq!(ans.ids(), vec![ids[1].1.clone()]);
}

#[tokio::test]
async fn both_sides_are_archived_and_results_have_the_exact_format() {
    let server = TestServer::start().await;
    let (a, b, mut alice, mut bob) = pair(&server).await;
    chat(&mut bob, &mut alice, "from bob ", 2).await;
    chat(&mut alice, &mut bob, "from alice ", 1).await;

    let ans = query(&mut alice, "f27", "").await;
    assert_eq!(ans.bodies(), vec!["from bob 0", "from bob 1", "from alice 0"]);
    let first = &ans.results[0];
    let r = result(first);
    let id = r.attr("id").unwrap_or_default().to_owned();
    let stamp = r
        .get_child("forwarded", "urn:xmpp:forward:0")
        .and_then(|f| f.get_child("delay", "urn:xmpp:delay"))
        .and_then(|d| d.attr("stamp"))
        .unwrap_or_else(|| panic!("no delay stamp: {}", xml(first)))
        .to_owned();
    assert!(stamp.ends_with('Z') && stamp.len() == 24, "stamp {stamp}");
    assert_eq!(
        xml(first),
        format!(
            "<message to='{aj}'><result xmlns='{NS}' queryid='f27' id='{id}'>\
             <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='{stamp}'/>\
             <message xmlns='jabber:client' to='{aj}' type='chat' from='{bj}'><body>from bob 0</body>\
             <stanza-id xmlns='{SID}' by='{abare}' id='{id}'/></message></forwarded></result></message>",
            aj = alice.jid,
            bj = bob.jid,
            abare = a.bare()
        )
    );
    let ids = ans.ids();
    assert_eq!(
        xml(&ans.fin),
        format!(
            "<fin xmlns='{NS}' complete='true'><set xmlns='{RSM}'><first>{}</first>\
             <last>{}</last><count>3</count></set></fin>",
            ids[0], ids[2]
        )
    );
    // The sender's copy is in the sender's archive, as sent (no stanza-id of the recipient).
    let out = &ans.results[2];
    assert_eq!(forwarded(out).attr("from"), Some(alice.jid.as_str()));
    assert_eq!(forwarded(out).attr("to"), Some(bob.jid.as_str()));

    let bans = query(&mut bob, "b", "").await;
    assert_eq!(bans.bodies(), vec!["from bob 0", "from bob 1", "from alice 0"]);
    assert_eq!(bans.set("count").as_deref(), Some("3"));
    let _ = b;
}

#[tokio::test]
async fn paging_forward_backward_flipped_and_clamped() {
    let server =
        TestServer::with("[modules.mam]\ndefault_page_size = 2\nmax_page_size = 4\n").await;
    let (_a, _b, mut alice, mut bob) = pair(&server).await;
    chat(&mut bob, &mut alice, "m", 7).await;
    let all = query(&mut alice, "all", &rsm("<max>4</max>")).await;
    assert_eq!(all.bodies(), vec!["m0", "m1", "m2", "m3"]);
    assert_eq!((all.complete(), all.set("count").as_deref()), ("false", Some("7")));

    let dflt = query(&mut alice, "d", "").await;
    assert_eq!(dflt.bodies(), vec!["m0", "m1"], "default page size");
    let big = query(&mut alice, "big", &rsm("<max>1000</max>")).await;
    assert_eq!(big.results.len(), 4, "max above the cap is lowered to it");

    let last = all.set("last").unwrap_or_default();
    let p2 = query(&mut alice, "p2", &rsm(&format!("<max>4</max><after>{last}</after>"))).await;
    assert_eq!(p2.bodies(), vec!["m4", "m5", "m6"]);
    assert_eq!((p2.complete(), p2.set("count").as_deref()), ("true", Some("7")));

    let tail = query(&mut alice, "t", &rsm("<max>3</max><before/>")).await;
    assert_eq!(tail.bodies(), vec!["m4", "m5", "m6"], "empty <before/>: the last page");
    assert_eq!(tail.complete(), "false");
    let first = tail.set("first").unwrap_or_default();
    let prev =
        query(&mut alice, "prev", &rsm(&format!("<max>3</max><before>{first}</before>"))).await;
    assert_eq!(prev.bodies(), vec!["m1", "m2", "m3"]);
    let first = prev.set("first").unwrap_or_default();
    let start =
        query(&mut alice, "s", &rsm(&format!("<max>3</max><before>{first}</before>"))).await;
    assert_eq!((start.bodies(), start.complete()), (vec!["m0".to_owned()], "true"));

    let flipped =
        query(&mut alice, "f", &format!("{}<flip-page/>", rsm("<max>3</max><before/>"))).await;
    assert_eq!(flipped.bodies(), vec!["m6", "m5", "m4"]);
    assert_eq!(flipped.set("first"), Some(flipped.ids()[0].clone()));

    let count = query(&mut alice, "c", &rsm("<max>0</max>")).await;
    assert_eq!((count.results.len(), count.set("count").as_deref()), (0, Some("7")));
}

#[tokio::test]
async fn filters_with_time_ids_and_id_ranges() {
    let server = TestServer::start().await;
    let (_a, _b, mut alice, mut bob) = pair(&server).await;
    let c = server.new_user("carol").await;
    let mut carol = server.login(&c, "c").await;
    chat(&mut bob, &mut alice, "b", 2).await;
    chat(&mut carol, &mut alice, "c", 2).await;
    chat(&mut bob, &mut alice, "b", 1).await;

    let with_bob = query(&mut alice, "w", &form(&[field("with", &bob.jid.clone())])).await;
    assert_eq!(with_bob.bodies(), vec!["b0", "b1", "b0"], "full JID with");
    let bare = c.bare();
    let with_carol = query(&mut alice, "wc", &form(&[field("with", &bare)])).await;
    assert_eq!(with_carol.bodies(), vec!["c0", "c1"]);
    assert_eq!(with_carol.set("count").as_deref(), Some("2"));

    let all = query(&mut alice, "all", "").await;
    let ids = all.ids();
    let range = form(&[field("after-id", &ids[0]), field("before-id", &ids[4])]);
    assert_eq!(query(&mut alice, "r", &range).await.bodies(), vec!["b1", "c0", "c1"]);
    let list = format!(
        "<field var='ids'><value>{}</value><value>{}</value><value>00000000000000ff</value></field>",
        ids[3], ids[1]
    );
    assert_eq!(query(&mut alice, "ids", &form(&[list])).await.bodies(), vec!["b1", "c1"]);

    let past = form(&[field("end", "2000-01-01T00:00:00Z")]);
    assert_eq!(query(&mut alice, "p", &past).await.results.len(), 0);
    let future = form(&[field("start", "2999-01-01T00:00:00Z")]);
    let f = query(&mut alice, "fu", &future).await;
    assert_eq!((f.results.len(), f.complete(), f.set("count").as_deref()), (0, "true", Some("0")));
    let now = form(&[
        field("start", "2000-01-01T00:00:00Z"),
        field("end", "2999-01-01T00:00:00.000+01:00"),
    ]);
    assert_eq!(query(&mut alice, "n", &now).await.results.len(), 5);
}

#[tokio::test]
async fn bad_queries_get_the_errors_of_the_xep() {
    let server =
        TestServer::with("[modules.mam]\nmax_page_size = 3\ndefault_page_size = 3\n").await;
    let (_a, _b, mut alice, mut bob) = pair(&server).await;
    chat(&mut bob, &mut alice, "m", 1).await;
    let cases: Vec<(String, &str)> = vec![
        (form(&[field("colour", "red")]), "bad-request"),
        (form(&[field("start", "yesterday")]), "bad-request"),
        (form(&[field("with", "not@a@jid")]), "jid-malformed"),
        (
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>".into(),
            "bad-request",
        ),
        (form(&[field("after-id", "00000000000000ff")]), "item-not-found"),
        (form(&[field("before-id", "junk")]), "item-not-found"),
        (rsm("<after>00000000000000ff</after>"), "item-not-found"),
        (rsm("<before>00000000000000ff</before>"), "item-not-found"),
        (rsm("<max>many</max>"), "bad-request"),
        (rsm("<after>00000000000000ff</after><before/>"), "bad-request"),
        (
            form(&["<field var='ids'><value>a</value><value>b</value><value>c</value><value>d</value></field>".into()]),
            "policy-violation",
        ),
        // profanity 0.13's <after/> outside <set/> is read as the RSM cursor.
        ("<after>00000000000000ff</after>".into(), "item-not-found"),
    ];
    for (inner, cond) in cases {
        let r = alice.iq("set", None, &format!("<query xmlns='{NS}'>{inner}</query>")).await;
        assert_stanza_error(&r, "iq", &[cond]);
    }
    // Other unknown children are ignored, as other servers do.
    let r = alice
        .iq("set", None, &format!("<query xmlns='{NS}'><unknown xmlns='urn:example'/></query>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    // An id of another user's archive is unknown in this one.
    let bob_id = query(&mut bob, "b", "").await.ids()[0].clone();
    let alice_ids = query(&mut alice, "a", "").await.ids();
    assert_ne!(alice_ids[0], bob_id);
    let r = alice
        .iq(
            "set",
            None,
            &format!("<query xmlns='{NS}'>{}</query>", rsm(&format!("<after>{bob_id}</after>"))),
        )
        .await;
    assert_stanza_error(&r, "iq", &["item-not-found"]);
}

#[tokio::test]
async fn form_discovery_lists_the_fields() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "a").await;
    let r = alice.iq_result("get", None, &format!("<query xmlns='{NS}'/>")).await;
    let q = r.get_child("query", NS).unwrap_or_else(|| panic!("{}", xml(&r)));
    assert_eq!(
        xml(q),
        format!(
            "<query xmlns='{NS}'><x xmlns='jabber:x:data' type='form'>\
             <field var='FORM_TYPE' type='hidden'><value>{NS}</value></field>\
             <field var='with' type='jid-single'/><field var='start' type='text-single'/>\
             <field var='end' type='text-single'/><field var='before-id' type='text-single'/>\
             <field var='after-id' type='text-single'/><field var='ids' type='list-multi'>\
             <validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:string'>\
             <open/></validate></field></x></query>"
        )
    );
}

#[tokio::test]
async fn preferences_are_stored_bounded_and_applied() {
    let server = TestServer::with("[modules.mam]\nmax_prefs_jids = 2\n").await;
    let (a, b, mut alice, mut bob) = pair(&server).await;
    let c = server.new_user("carol").await;
    let mut carol = server.login(&c, "c").await;
    let r = alice.iq_result("get", None, &format!("<prefs xmlns='{NS}'/>")).await;
    assert_eq!(
        xml(r.get_child("prefs", NS).unwrap_or(&r)),
        format!("<prefs xmlns='{NS}' default='always'><always/><never/></prefs>")
    );
    let set = format!(
        "<prefs xmlns='{NS}' default='always'><always/><never><jid>{}</jid></never></prefs>",
        b.bare()
    );
    let r = alice.iq_result("set", None, &set).await;
    assert_eq!(
        xml(r.get_child("prefs", NS).unwrap_or(&r)),
        format!(
            "<prefs xmlns='{NS}' default='always'><always/><never><jid>{}</jid></never></prefs>",
            b.bare()
        )
    );
    chat(&mut bob, &mut alice, "bob", 1).await;
    chat(&mut carol, &mut alice, "carol", 1).await;
    chat(&mut alice, &mut bob, "to bob", 1).await;
    assert_eq!(query(&mut alice, "q", "").await.bodies(), vec!["carol0"]);
    // Not archived for alice: no stanza-id by alice on what she received from bob.
    bob.send(&format!("<message to='{}' type='chat'><body>x</body></message>", alice.jid)).await;
    let m = alice.recv_message().await;
    assert!(!m.has_child("stanza-id", SID), "{}", xml(&m));

    let never = format!(
        "<prefs xmlns='{NS}' default='never'><always><jid>{}</jid></always><never/></prefs>",
        c.bare()
    );
    alice.iq_result("set", None, &never).await;
    chat(&mut carol, &mut alice, "carol again", 1).await;
    chat(&mut bob, &mut alice, "bob again", 1).await;
    assert_eq!(query(&mut alice, "q2", "").await.bodies(), vec!["carol0", "carol again0"]);

    let too_many = format!(
        "<prefs xmlns='{NS}' default='never'><always><jid>a@x</jid><jid>b@x</jid><jid>c@x</jid></always></prefs>"
    );
    assert_stanza_error(&alice.iq("set", None, &too_many).await, "iq", &["policy-violation"]);
    let bad = format!("<prefs xmlns='{NS}' default='sometimes'/>");
    assert_stanza_error(&alice.iq("set", None, &bad).await, "iq", &["bad-request"]);
    let _ = a;
}

#[tokio::test]
async fn hints_and_payload_rules_decide_what_is_archived() {
    let server = TestServer::start().await;
    let (_a, _b, mut alice, mut bob) = pair(&server).await;
    let to = alice.jid.clone();
    let sent = [
        ("<body>plain</body>", true),
        ("<body>secret</body><no-store xmlns='urn:xmpp:hints'/>", false),
        ("<body>transient</body><no-permanent-store xmlns='urn:xmpp:hints'/>", false),
        ("<composing xmlns='http://jabber.org/protocol/chatstates'/>", false),
        ("<active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/>", true),
        ("<reactions xmlns='urn:xmpp:reactions:0' id='x'><reaction>👍</reaction></reactions>", true),
        ("<displayed xmlns='urn:xmpp:chat-markers:0' id='x'/>", true),
        ("<received xmlns='urn:xmpp:receipts' id='x'/>", true),
    ];
    for (i, (payload, _)) in sent.iter().enumerate() {
        bob.send(&format!("<message to='{to}' type='chat' id='h{i}'>{payload}</message>")).await;
        alice.recv_message().await;
    }
    bob.send(&format!("<message to='{to}' type='headline'><body>news</body></message>")).await;
    alice.recv_message().await;
    let ans = query(&mut alice, "h", "").await;
    let got: Vec<String> =
        ans.results.iter().map(|m| forwarded(m).attr("id").unwrap_or("").to_owned()).collect();
    let want: Vec<String> = sent
        .iter()
        .enumerate()
        .filter(|(_, (_, kept))| *kept)
        .map(|(i, _)| format!("h{i}"))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn offline_messages_are_archived_and_delivered_with_their_stanza_id() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut bob = server.login(&b, "b").await;
    bob.send(&format!("<message to='{}' type='chat'><body>while away</body></message>", a.bare()))
        .await;
    bob.sync().await;
    let mut alice = server.login(&a, "a").await;
    let m = alice.recv_message().await;
    let sid = m
        .children()
        .find(|c| c.is("stanza-id", SID) && c.attr("by") == Some(a.bare().as_str()))
        .and_then(|c| c.attr("id"))
        .unwrap_or_else(|| panic!("offline message without stanza-id: {}", xml(&m)))
        .to_owned();
    let ans = query(&mut alice, "o", "").await;
    assert_eq!((ans.ids(), ans.bodies()), (vec![sid], vec!["while away".to_owned()]));
}

#[tokio::test]
async fn deleting_a_user_deletes_their_archive() {
    let server = TestServer::start().await;
    let (a, _b, mut alice, mut bob) = pair(&server).await;
    chat(&mut bob, &mut alice, "m", 2).await;
    assert_eq!(query(&mut alice, "q", "").await.results.len(), 2);
    server.ctl(&["unregister", &a.name, DOMAIN]).await.assert_ok();
    server.ctl(&["register", &a.name, DOMAIN, &a.password]).await.assert_ok();
    let mut again = server.login(&a, "a2").await;
    let ans = query(&mut again, "q", "").await;
    assert_eq!((ans.results.len(), ans.set("count").as_deref()), (0, Some("0")));
    assert_eq!(query(&mut bob, "b", "").await.results.len(), 2, "bob keeps his side");
}

#[tokio::test]
async fn disabled_mam_archives_nothing_and_refuses_queries() {
    let server = TestServer::with("[modules.mam]\nenabled = false\n").await;
    let (_a, _b, mut alice, mut bob) = pair(&server).await;
    bob.send(&format!("<message to='{}' type='chat'><body>x</body></message>", alice.jid)).await;
    let m = alice.recv_message().await;
    assert!(!m.has_child("stanza-id", SID), "{}", xml(&m));
    let r = alice.iq("set", None, &format!("<query xmlns='{NS}'/>")).await;
    assert_stanza_error(&r, "iq", &["service-unavailable"]);
}

#[tokio::test]
async fn roster_mode_archives_only_messages_with_contacts() {
    let server = TestServer::with("[modules.mam]\ndefault_mode = \"roster\"\n").await;
    let (_a, _b, mut alice, mut bob) = pair(&server).await;
    let c = server.new_user("carol").await;
    let mut carol = server.login(&c, "c").await;
    alice
        .iq_result(
            "set",
            None,
            &format!("<query xmlns='jabber:iq:roster'><item jid='{}'/></query>", c.bare()),
        )
        .await;
    let r = alice.iq_result("get", None, &format!("<prefs xmlns='{NS}'/>")).await;
    assert_eq!(r.get_child("prefs", NS).and_then(|p| p.attr("default")), Some("roster"));
    chat(&mut bob, &mut alice, "stranger", 1).await;
    chat(&mut carol, &mut alice, "contact", 1).await;
    chat(&mut alice, &mut bob, "to stranger", 1).await;
    chat(&mut alice, &mut carol, "to contact", 1).await;
    assert_eq!(query(&mut alice, "r", "").await.bodies(), vec!["contact0", "to contact0"]);
}
