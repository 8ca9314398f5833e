//! MUC in a cluster (three nodes, one PostgreSQL database, NATS): a room is live on one node
//! and reachable from all, and when that node dies the room comes back on another node from
//! storage without operator action (`docs/muc.md`, `components/muc/cluster.rs`).

use super::muc::*;
use crate::common::client::xml;
use crate::common::nats::ClusterFixture;
use std::time::{Duration, Instant};

#[tokio::test]
async fn room_is_shared_by_nodes_and_moves_when_its_node_dies() {
    let mut cluster = ClusterFixture::start(3).await;
    let ua = cluster.node(1).new_user("alice").await;
    let ub = cluster.node(1).new_user("bob").await;
    let uc = cluster.node(1).new_user("carol").await;
    let mut a = cluster.node(1).login(&ua, "one").await;
    let mut b = cluster.node(2).login(&ub, "two").await;
    let mut c = cluster.node(3).login(&uc, "three").await;
    let room = new_room("clustered");

    // Created on node 1 (its home); Bob on node 2 and Carol on node 3 enter the same room.
    create_instant(&mut a, &room, "Alice").await;
    let r = configure(
        &mut a,
        &room,
        &[("muc#roomconfig_persistentroom", "1"), ("muc#roomconfig_roomname", "Shared")],
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let got = enter(&mut b, &room, "Bob").await;
    assert!(
        got.iter().any(|e| e.attr("from") == Some(format!("{room}/Alice").as_str())),
        "{got:?}"
    );
    let got = enter(&mut c, &room, "Carol").await;
    assert_eq!(got.iter().filter(|e| e.name == "presence").count(), 3, "{got:?}");
    a.recv_presence_from(&format!("{room}/Bob")).await;
    a.recv_presence_from(&format!("{room}/Carol")).await;
    b.recv_presence_from(&format!("{room}/Carol")).await;

    // One room: a message from any node reaches every occupant once, with one stanza-id.
    c.send(&format!(
        "<message to='{room}' type='groupchat' id='x1'><body>from node 3</body></message>"
    ))
    .await;
    let mut ids = Vec::new();
    for client in [&mut a, &mut b, &mut c] {
        let m = recv_groupchat(client, &room).await;
        assert_eq!(m.attr("from"), Some(format!("{room}/Carol").as_str()));
        ids.push(
            m.get_child("stanza-id", NS_SID).and_then(|s| s.attr("id")).expect("sid").to_owned(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    b.send(&format!(
        "<message to='{room}' type='groupchat'><subject>Kept across nodes</subject></message>"
    ))
    .await;
    c.recv_where("subject", |e| e.get_child("subject", "jabber:client").is_some()).await;

    // The home node dies. After the dead-node cleanup the room is claimed again by the next
    // node that needs it and comes back from storage: Bob's self-ping says he is no longer in
    // it (not-acceptable, the XEP-0410 signal to rejoin), and he rejoins.
    // The archive writer batches for writer_linger_ms (100) before writing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.nodes[0].kill9();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = b.iq("get", Some(&format!("{room}/Bob")), "<ping xmlns='urn:xmpp:ping'/>").await;
        match error_condition(&r).as_deref() {
            Some("not-acceptable") => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "the room did not come back: {other:?} {}",
                    xml(&r)
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    b.drain(QUIET).await;
    let got = enter(&mut b, &room, "Bob").await;
    assert_eq!(
        got.last()
            .and_then(|m| m.get_child("subject", "jabber:client"))
            .map(|s| s.text())
            .as_deref(),
        Some("Kept across nodes")
    );
    let bodies: Vec<String> =
        got.iter().filter_map(|e| e.get_child("body", "jabber:client")).map(|b| b.text()).collect();
    assert_eq!(bodies, ["from node 3"]);
    c.drain(QUIET).await;
    enter(&mut c, &room, "Carol").await;
    b.send(&format!("<message to='{room}' type='groupchat'><body>after failover</body></message>"))
        .await;
    let m = recv_groupchat(&mut c, &room).await;
    assert_eq!(
        m.get_child("body", "jabber:client").map(|b| b.text()).as_deref(),
        Some("after failover")
    );
    let info = c
        .iq_result("get", Some(&room), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    assert!(xml(&info).contains("name='Shared'"), "{}", xml(&info));
}
