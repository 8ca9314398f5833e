//! Issue 4: Ad-Hoc Commands (XEP-0050) with service administration (XEP-0133), plus the
//! server disco features of the issue-4 "misc" modules.

use crate::common::client::{assert_stanza_error, xml};
use crate::common::{ns, unique, Client, TestServer, User, DOMAIN};
use meerkat_xml::Element;

const NS_CMD: &str = "http://jabber.org/protocol/commands";
const NS_X: &str = "jabber:x:data";
const ADD: &str = "http://jabber.org/protocol/admin#add-user";
const DEL: &str = "http://jabber.org/protocol/admin#delete-user";
const NUM: &str = "http://jabber.org/protocol/admin#get-online-users-num";
const LIST: &str = "http://jabber.org/protocol/admin#get-online-users-list";

/// A node whose admin is a fresh account; returns it and the admin.
async fn node_with_admin() -> (TestServer, User) {
    let admin = User { name: unique("admin"), password: unique("pw") };
    let server =
        TestServer::with(&format!("[modules.adhoc]\nadmins = [\"{}\"]\n", admin.bare())).await;
    server.ctl(&["register", &admin.name, DOMAIN, &admin.password]).await.assert_ok();
    (server, admin)
}

fn command(r: &Element) -> Element {
    r.get_child("command", NS_CMD).cloned().unwrap_or_else(|| panic!("no <command/>: {}", xml(r)))
}

fn field_values(x: &Element, var: &str) -> Vec<String> {
    x.children()
        .filter(|f| f.is("field", NS_X) && f.attr("var") == Some(var))
        .flat_map(|f| {
            f.children().filter(|v| v.is("value", NS_X)).map(|v| v.text()).collect::<Vec<_>>()
        })
        .collect()
}

fn submit(fields: &[(&str, &[&str])]) -> String {
    let mut x = format!("<x xmlns='{NS_X}' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/admin</value></field>");
    for (var, values) in fields {
        x.push_str(&format!("<field var='{var}'>"));
        for v in *values {
            x.push_str(&format!("<value>{v}</value>"));
        }
        x.push_str("</field>");
    }
    x.push_str("</x>");
    x
}

#[tokio::test]
async fn server_disco_lists_features_and_commands_for_admins_only() {
    let (server, admin) = node_with_admin().await;
    let u = server.new_user("user").await;
    let mut adm = server.login(&admin, "r").await;
    let mut user = server.login(&u, "r").await;
    let info =
        adm.iq_result("get", Some(DOMAIN), &format!("<query xmlns='{}'/>", ns::DISCO_INFO)).await;
    let q = info.get_child("query", ns::DISCO_INFO).expect("query");
    let features: Vec<&str> =
        q.children().filter(|c| c.name == "feature").filter_map(|f| f.attr("var")).collect();
    for f in ["urn:xmpp:blocking", "vcard-temp", "jabber:iq:private", NS_CMD] {
        assert!(features.contains(&f), "feature {f} missing: {}", xml(&info));
    }
    let items = adm
        .iq_result(
            "get",
            Some(DOMAIN),
            &format!("<query xmlns='{}' node='{NS_CMD}'/>", ns::DISCO_ITEMS),
        )
        .await;
    let q = items.get_child("query", ns::DISCO_ITEMS).expect("query");
    assert_eq!(
        xml(q),
        format!(
            "<query xmlns='{}' node='{NS_CMD}'>\
             <item jid='{DOMAIN}' node='{ADD}' name='Add a User'/>\
             <item jid='{DOMAIN}' node='{DEL}' name='Delete a User'/>\
             <item jid='{DOMAIN}' node='{NUM}' name='Get Number of Online Users'/>\
             <item jid='{DOMAIN}' node='{LIST}' name='Get List of Online Users'/></query>",
            ns::DISCO_ITEMS
        )
    );
    let info = adm
        .iq_result(
            "get",
            Some(DOMAIN),
            &format!("<query xmlns='{}' node='{ADD}'/>", ns::DISCO_INFO),
        )
        .await;
    let q = info.get_child("query", ns::DISCO_INFO).expect("query");
    let id = q.children().find(|c| c.name == "identity").expect("identity");
    assert_eq!((id.attr("category"), id.attr("type")), (Some("automation"), Some("command-node")));
    // A non-admin sees no commands and may not run one.
    let items = user
        .iq_result(
            "get",
            Some(DOMAIN),
            &format!("<query xmlns='{}' node='{NS_CMD}'/>", ns::DISCO_ITEMS),
        )
        .await;
    assert_eq!(
        xml(items.get_child("query", ns::DISCO_ITEMS).expect("query")),
        format!("<query xmlns='{}' node='{NS_CMD}'/>", ns::DISCO_ITEMS)
    );
    let r = user
        .iq(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{ADD}' action='execute'/>"),
        )
        .await;
    assert_stanza_error(&r, "iq", &["forbidden"]);
}

#[tokio::test]
async fn add_user_and_delete_user_in_two_stages_with_cancel() {
    let (server, admin) = node_with_admin().await;
    let mut adm = server.login(&admin, "r").await;
    // Stage 1: the form, with a session id.
    let r = adm
        .iq_result(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{ADD}' action='execute'/>"),
        )
        .await;
    let c = command(&r);
    assert_eq!(c.attr("status"), Some("executing"), "{}", xml(&r));
    assert_eq!(c.attr("node"), Some(ADD));
    let sid = c.attr("sessionid").expect("sessionid").to_owned();
    assert_eq!(
        xml(c.get_child("actions", NS_CMD).expect("actions")),
        format!("<actions xmlns='{NS_CMD}' execute='complete'><complete/></actions>")
    );
    let form = c.get_child("x", NS_X).expect("form");
    assert_eq!(form.attr("type"), Some("form"));
    assert_eq!(field_values(form, "FORM_TYPE"), vec!["http://jabber.org/protocol/admin"]);
    for var in ["accountjid", "password", "password-verify"] {
        assert!(form.children().any(|f| f.attr("var") == Some(var)), "field {var}: {}", xml(&r));
    }
    // Stage 2: submit; the new account can log in.
    let new = User { name: unique("made"), password: unique("pw") };
    let x = submit(&[
        ("accountjid", &[&new.bare()]),
        ("password", &[&new.password]),
        ("password-verify", &[&new.password]),
    ]);
    let r = adm
        .iq_result("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{ADD}' sessionid='{sid}' action='complete'>{x}</command>"))
        .await;
    assert_eq!(
        xml(&command(&r)),
        format!("<command xmlns='{NS_CMD}' node='{ADD}' sessionid='{sid}' status='completed'/>")
    );
    let mut made = Client::login(server.port(), &new, "x").await;
    made.sync().await;
    // The session ended: reusing its id is bad-sessionid.
    let r = adm
        .iq("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{ADD}' sessionid='{sid}' action='complete'>{x}</command>"))
        .await;
    let e = assert_stanza_error(&r, "iq", &["bad-request"]);
    assert!(e.has_child("bad-sessionid", NS_CMD), "{}", xml(&r));
    // Adding an existing account: conflict.
    let r = adm
        .iq_result("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{ADD}'/>"))
        .await;
    let sid = command(&r).attr("sessionid").expect("sid").to_owned();
    let r = adm
        .iq(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{ADD}' sessionid='{sid}'>{x}</command>"),
        )
        .await;
    assert_stanza_error(&r, "iq", &["conflict"]);
    // Cancel.
    let r = adm
        .iq_result(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{DEL}' action='execute'/>"),
        )
        .await;
    let sid = command(&r).attr("sessionid").expect("sid").to_owned();
    let r = adm
        .iq_result(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{DEL}' sessionid='{sid}' action='cancel'/>"),
        )
        .await;
    assert_eq!(
        xml(&command(&r)),
        format!("<command xmlns='{NS_CMD}' node='{DEL}' sessionid='{sid}' status='canceled'/>")
    );
    // Delete: the account's session is closed and it cannot log in again.
    let r = adm
        .iq_result(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{DEL}' action='execute'/>"),
        )
        .await;
    let sid = command(&r).attr("sessionid").expect("sid").to_owned();
    let x = submit(&[("accountjids", &[&new.bare()])]);
    let r = adm
        .iq_result("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{DEL}' sessionid='{sid}' action='complete'>{x}</command>"))
        .await;
    assert_eq!(command(&r).attr("status"), Some("completed"), "{}", xml(&r));
    made.expect_stream_error("not-authorized", std::time::Duration::from_secs(5)).await;
    let out = server.ctl(&["registered_users", DOMAIN]).await;
    assert!(!out.lines().iter().any(|l| l.contains(&new.name)), "{}", out.describe());
}

#[tokio::test]
async fn online_users_commands_and_error_paths() {
    let (server, admin) = node_with_admin().await;
    let u = server.new_user("user").await;
    let mut adm = server.login(&admin, "r").await;
    let _u1 = server.login(&u, "one").await;
    let _u2 = server.login(&u, "two").await;
    let r = adm
        .iq_result(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{NUM}' action='execute'/>"),
        )
        .await;
    let c = command(&r);
    assert_eq!(c.attr("status"), Some("completed"), "{}", xml(&r));
    let x = c.get_child("x", NS_X).expect("result form");
    assert_eq!(x.attr("type"), Some("result"));
    assert_eq!(field_values(x, "onlineusersnum"), vec!["2"], "{}", xml(&r));
    let r = adm
        .iq_result("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{LIST}'/>"))
        .await;
    let x = command(&r).get_child("x", NS_X).cloned().expect("result form");
    let mut expected = vec![admin.bare(), u.bare()];
    expected.sort();
    assert_eq!(field_values(&x, "onlineuserjids"), expected, "{}", xml(&r));
    // Errors: unknown node, malformed action, unknown session, get instead of set.
    let r =
        adm.iq("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='urn:nope'/>")).await;
    assert_stanza_error(&r, "iq", &["item-not-found"]);
    let r = adm
        .iq(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{ADD}' action='dance'/>"),
        )
        .await;
    let e = assert_stanza_error(&r, "iq", &["bad-request"]);
    assert!(e.has_child("malformed-action", NS_CMD), "{}", xml(&r));
    let r = adm
        .iq(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{ADD}' sessionid='nope' action='complete'/>"),
        )
        .await;
    let e = assert_stanza_error(&r, "iq", &["bad-request"]);
    assert!(e.has_child("bad-sessionid", NS_CMD), "{}", xml(&r));
    let r = adm.iq("get", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{NUM}'/>")).await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
}

#[tokio::test]
async fn command_sessions_are_bounded_and_belong_to_their_owner() {
    let admin = User { name: unique("admin"), password: unique("pw") };
    let server = TestServer::with(&format!(
        "[modules.adhoc]\nadmins = [\"{}\"]\nmax_sessions = 1\n",
        admin.bare()
    ))
    .await;
    server.ctl(&["register", &admin.name, DOMAIN, &admin.password]).await.assert_ok();
    let mut one = server.login(&admin, "one").await;
    let mut two = server.login(&admin, "two").await;
    let r = one
        .iq_result("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{ADD}'/>"))
        .await;
    let sid = command(&r).attr("sessionid").expect("sid").to_owned();
    let r = two.iq("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{ADD}'/>")).await;
    assert_stanza_error(&r, "iq", &["resource-constraint"]);
    // Another resource cannot continue or cancel it.
    let r = two
        .iq(
            "set",
            Some(DOMAIN),
            &format!("<command xmlns='{NS_CMD}' node='{ADD}' sessionid='{sid}' action='cancel'/>"),
        )
        .await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
    one.iq_result(
        "set",
        Some(DOMAIN),
        &format!("<command xmlns='{NS_CMD}' node='{ADD}' sessionid='{sid}' action='cancel'/>"),
    )
    .await;
    two.iq_result("set", Some(DOMAIN), &format!("<command xmlns='{NS_CMD}' node='{ADD}'/>")).await;
}
