//! Checks of [`crate::RosterStore`].

use super::unique_host;
use crate::{Ask, RosterItem, Storage, Subscription};
use std::sync::Arc;
use tokio::task::JoinSet;

/// A plain item in the roster with no subscription.
fn item(jid: &str) -> RosterItem {
    RosterItem { jid: jid.to_owned(), in_roster: true, ..RosterItem::default() }
}

/// Put, get, update, remove and count.
pub async fn roster_crud(storage: &Storage) {
    let roster = &storage.roster;
    let host = unique_host("roster-crud");

    assert_eq!(roster.get_items(&host, "alice").await.expect("get empty"), vec![]);
    assert_eq!(roster.get_item(&host, "alice", "bob@x.org").await.expect("get absent"), None);
    assert_eq!(roster.count_items(&host, "alice").await.expect("count empty"), 0);

    // Put out of order; get_items returns them sorted by jid.
    let jids = ["mallory@x.org", "bob@x.org", "zoe@y.org", "bob@a.org", "carol@x.org"];
    for jid in jids {
        roster.put_item(&host, "alice", &item(jid)).await.expect("put");
    }
    let mut sorted: Vec<&str> = jids.to_vec();
    sorted.sort_unstable();
    let got = roster.get_items(&host, "alice").await.expect("get");
    assert_eq!(got.iter().map(|i| i.jid.as_str()).collect::<Vec<_>>(), sorted);
    assert_eq!(roster.count_items(&host, "alice").await.expect("count"), jids.len() as u64);
    assert_eq!(
        roster.get_item(&host, "alice", "bob@x.org").await.expect("get one"),
        Some(item("bob@x.org"))
    );

    // Putting an existing jid replaces the item, every field of it.
    let updated = RosterItem {
        jid: "bob@x.org".to_owned(),
        name: Some("Bob".to_owned()),
        subscription: Subscription::Both,
        groups: vec!["Friends".to_owned()],
        ..item("bob@x.org")
    };
    roster.put_item(&host, "alice", &updated).await.expect("update");
    assert_eq!(
        roster.get_item(&host, "alice", "bob@x.org").await.expect("get updated"),
        Some(updated.clone())
    );
    let back_to_plain = item("bob@x.org");
    roster.put_item(&host, "alice", &back_to_plain).await.expect("update back");
    assert_eq!(
        roster.get_item(&host, "alice", "bob@x.org").await.expect("get reverted"),
        Some(back_to_plain),
        "a replace clears name and groups, it does not merge"
    );
    assert_eq!(roster.count_items(&host, "alice").await.expect("count"), jids.len() as u64);

    roster.remove_item(&host, "alice", "bob@x.org").await.expect("remove");
    assert_eq!(roster.get_item(&host, "alice", "bob@x.org").await.expect("get removed"), None);
    assert_eq!(roster.count_items(&host, "alice").await.expect("count"), jids.len() as u64 - 1);
    roster.remove_item(&host, "alice", "bob@x.org").await.expect("remove absent is not an error");

    // Items outside the roster (pending inbound requests only) are still listed and counted.
    let pending_only = RosterItem {
        jid: "stranger@z.org".to_owned(),
        pending_in: true,
        pending_in_stanza: Some("<presence type='subscribe'/>".to_owned()),
        in_roster: false,
        ..RosterItem::default()
    };
    roster.put_item(&host, "alice", &pending_only).await.expect("put pending");
    let got = roster.get_items(&host, "alice").await.expect("get");
    assert!(got.contains(&pending_only), "get_items includes in_roster == false items");
    assert_eq!(roster.count_items(&host, "alice").await.expect("count"), jids.len() as u64);
}

/// Versions start at "0", go up by one at every put and every effective remove, and stay put
/// when removing an absent item.
pub async fn roster_versions(storage: &Storage) {
    let roster = &storage.roster;
    let host = unique_host("roster-versions");

    assert_eq!(roster.version(&host, "alice").await.expect("initial"), "0");
    assert_eq!(
        roster.remove_item(&host, "alice", "bob@x.org").await.expect("remove on empty"),
        "0",
        "removing from an empty roster keeps version 0"
    );
    assert_eq!(roster.version(&host, "alice").await.expect("still initial"), "0");

    assert_eq!(roster.put_item(&host, "alice", &item("bob@x.org")).await.expect("put"), "1");
    assert_eq!(roster.put_item(&host, "alice", &item("carol@x.org")).await.expect("put"), "2");
    // Rewriting an identical item still counts as a write.
    assert_eq!(roster.put_item(&host, "alice", &item("bob@x.org")).await.expect("put same"), "3");
    assert_eq!(roster.version(&host, "alice").await.expect("version"), "3");
    assert_eq!(roster.remove_item(&host, "alice", "bob@x.org").await.expect("remove"), "4");
    assert_eq!(roster.remove_item(&host, "alice", "bob@x.org").await.expect("remove absent"), "4");
    assert_eq!(roster.version(&host, "alice").await.expect("version"), "4");

    // Versions are per user.
    assert_eq!(roster.version(&host, "bob").await.expect("other user"), "0");
    assert_eq!(roster.put_item(&host, "bob", &item("alice@x.org")).await.expect("put"), "1");
    assert_eq!(roster.version(&host, "alice").await.expect("unchanged"), "4");

    // Many writes: the version is a decimal counter, not a string that sorts oddly.
    for n in 5..=12u32 {
        let version = roster.put_item(&host, "alice", &item("dave@x.org")).await.expect("put");
        assert_eq!(version, n.to_string());
    }
}

/// Every field survives a round trip: all subscription and ask values, the pending inbound
/// request with its stanza, pre-approval, names and groups (sorted and deduplicated on write).
pub async fn roster_fields_round_trip(storage: &Storage) {
    let roster = &storage.roster;
    let host = unique_host("roster-fields");

    let subscriptions =
        [Subscription::None, Subscription::To, Subscription::From, Subscription::Both];
    let mut written = Vec::new();
    for (n, subscription) in subscriptions.into_iter().enumerate() {
        for ask in [Ask::None, Ask::Subscribe] {
            for flags in 0..8u8 {
                let item = RosterItem {
                    jid: format!("c{n}-{ask:?}-{flags}@example.org").to_lowercase(),
                    name: (flags % 2 == 0).then(|| format!("Contact {n} «{flags}»")),
                    subscription,
                    ask,
                    pending_in: flags & 1 != 0,
                    pending_in_stanza: (flags & 1 != 0).then(|| {
                        "<presence from='x@y.org' type='subscribe'>\n  \
                         <status>let me in &amp; «please»</status>\n</presence>"
                            .to_owned()
                    }),
                    pre_approved: flags & 2 != 0,
                    groups: if flags & 4 != 0 {
                        vec!["Work".to_owned(), "Family".to_owned()]
                    } else {
                        vec![]
                    },
                    in_roster: flags != 1,
                };
                roster.put_item(&host, "alice", &item).await.expect("put");
                written.push(item);
            }
        }
    }
    for item in &written {
        let mut expected = item.clone();
        expected.groups.sort();
        let got = roster.get_item(&host, "alice", &item.jid).await.expect("get");
        assert_eq!(got, Some(expected), "round trip of {}", item.jid);
    }
    let mut expected_all: Vec<RosterItem> = written
        .iter()
        .cloned()
        .map(|mut i| {
            i.groups.sort();
            i
        })
        .collect();
    expected_all.sort_by(|a, b| a.jid.cmp(&b.jid));
    assert_eq!(roster.get_items(&host, "alice").await.expect("get all"), expected_all);

    // Groups come back sorted and unique whatever the caller gave; odd names survive.
    let groups_item = RosterItem {
        groups: vec![
            "zeta".to_owned(),
            "Alpha".to_owned(),
            "zeta".to_owned(),
            "with,comma".to_owned(),
            "with\nnewline".to_owned(),
            "quote\"d".to_owned(),
            "Ünïcode".to_owned(),
            "Alpha".to_owned(),
        ],
        ..item("groups@example.org")
    };
    roster.put_item(&host, "alice", &groups_item).await.expect("put groups");
    let mut expected_groups = groups_item.groups.clone();
    expected_groups.sort();
    expected_groups.dedup();
    let got = roster.get_item(&host, "alice", "groups@example.org").await.expect("get groups");
    assert_eq!(got.map(|i| i.groups), Some(expected_groups));

    // An empty name is kept apart from no name.
    let empty_name = RosterItem { name: Some(String::new()), ..item("empty@example.org") };
    roster.put_item(&host, "alice", &empty_name).await.expect("put empty name");
    assert_eq!(
        roster.get_item(&host, "alice", "empty@example.org").await.expect("get"),
        Some(empty_name)
    );
}

/// Rosters of different users and hosts never mix.
pub async fn roster_isolation(storage: &Storage) {
    let roster = &storage.roster;
    let host = unique_host("roster-isolation");
    let other_host = unique_host("roster-isolation-other");

    roster.put_item(&host, "alice", &item("shared@x.org")).await.expect("put");
    roster.put_item(&host, "bob", &item("shared@x.org")).await.expect("put");
    roster.put_item(&other_host, "alice", &item("shared@x.org")).await.expect("put");
    roster.put_item(&host, "alice", &item("only-alice@x.org")).await.expect("put");

    assert_eq!(roster.count_items(&host, "alice").await.expect("count"), 2);
    assert_eq!(roster.count_items(&host, "bob").await.expect("count"), 1);
    assert_eq!(roster.count_items(&other_host, "alice").await.expect("count"), 1);
    assert_eq!(roster.get_item(&host, "bob", "only-alice@x.org").await.expect("get"), None);

    roster.remove_item(&host, "alice", "shared@x.org").await.expect("remove");
    assert!(roster.get_item(&host, "bob", "shared@x.org").await.expect("get").is_some());
    assert!(roster.get_item(&other_host, "alice", "shared@x.org").await.expect("get").is_some());
    assert_eq!(roster.version(&host, "bob").await.expect("version"), "1");
    assert_eq!(roster.version(&other_host, "alice").await.expect("version"), "1");
}

/// Concurrent writes to one roster each get a version of their own: the item and its version
/// bump are one transaction, so no bump is lost and no two writes share a version.
pub async fn roster_concurrent_versions(storage: &Storage) {
    const WRITERS: u64 = 24;
    let host: Arc<str> = unique_host("roster-concurrent").into();

    let mut tasks = JoinSet::new();
    for n in 0..WRITERS {
        let roster = storage.roster.clone();
        let host = host.clone();
        tasks.spawn(async move {
            // Half the writers add items, the other half rewrite one shared item.
            let jid = if n % 2 == 0 { format!("c{n}@x.org") } else { "shared@x.org".to_owned() };
            roster.put_item(&host, "alice", &item(&jid)).await
        });
    }
    let mut versions = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let version = joined.expect("put task panicked").expect("concurrent put");
        versions.push(version.parse::<u64>().expect("decimal version"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=WRITERS).collect::<Vec<_>>(), "one distinct version per write");
    assert_eq!(storage.roster.version(&host, "alice").await.expect("version"), WRITERS.to_string());
    assert_eq!(storage.roster.count_items(&host, "alice").await.expect("count"), WRITERS / 2 + 1);
}
