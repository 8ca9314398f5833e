//! Issue 5, operator side: `cluster_status`, `join_cluster`, `leave_cluster`,
//! `remove_from_cluster` with the real binary, a real `nats-server` and a real PostgreSQL
//! database, and the cleanup after a node killed with SIGKILL (unavailable presence on behalf
//! of its sessions, its session rows gone).

use crate::common::client::xml;
use crate::common::nats::Nats;
use crate::common::{meerkat_bin, TestServer};
use crate::common::{postgres_storage, shared_postgres, unique, Client, CtlOutput, ServerBuilder};
use meerkat_storage::postgres::PgSettings;
use meerkat_xml::Element;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Heartbeat settings of the test nodes: a dead node is noticed after one second.
const TIMING: &str = "heartbeat_ms = 200\nnode_timeout_ms = 1000\nrequest_timeout_ms = 1000\n";

/// One NATS server, one database and one secret, and nodes started on them.
struct Ops {
    nats: Nats,
    db_url: String,
    secret: PathBuf,
    dir: tempfile::TempDir,
}

impl Ops {
    async fn new() -> Ops {
        let nats = Nats::start();
        let db_url = shared_postgres().create_database("e2e_cluster_ops").await;
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = write_secret(dir.path(), "cluster.secret", &unique("ops-secret-0123456789"));
        Ops { nats, db_url, secret, dir }
    }

    /// A member started from its configuration file (`[cluster] enabled = true`).
    async fn member(&self, name: &str) -> TestServer {
        ServerBuilder::new()
            .general(&format!("node_name = \"{name}\""))
            .extra(&postgres_storage(&self.db_url))
            .extra(&format!(
                "[cluster]\nenabled = true\nname = \"ops\"\nsecret_file = \"{}\"\n\
                 nats_urls = [\"{}\"]\n{TIMING}",
                self.secret.display(),
                self.nats.url()
            ))
            .start()
            .await
    }

    /// A standalone node (own SQLite file) holding `secret` in `[cluster] secret_file`.
    async fn standalone(&self, name: &str, secret: &Path) -> TestServer {
        ServerBuilder::new()
            .general(&format!("node_name = \"{name}\""))
            .extra("[storage]\nbackend = \"sqlite\"\n")
            .extra(&format!(
                "[cluster]\nenabled = false\nsecret_file = \"{}\"\n{TIMING}",
                secret.display()
            ))
            .start()
            .await
    }

    async fn storage(&self) -> meerkat_storage::Storage {
        let settings = PgSettings {
            url: self.db_url.clone(),
            password: None,
            pool_size: 2,
            connect_timeout: Duration::from_secs(10),
        };
        meerkat_storage::postgres::open(&settings).await.expect("open the cluster database")
    }
}

fn write_secret(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).expect("write secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// Kills (SIGKILL) the detached node a restart left under `data_dir`, if any, when dropped:
/// `join_cluster` and `leave_cluster` restart the node with `meerkat start`, so it is no
/// longer the test's child.
struct DaemonGuard(PathBuf);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.0.join("meerkat.pid")) else { return };
        if let Ok(pid) = text.trim().parse::<i32>() {
            if pid > 0 {
                // SAFETY: kill with a positive pid read from the node's own pid file.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Runs `meerkat --config CONFIG ARGS...` with `input` on stdin, with a 90 s limit.
async fn ctl_with_stdin(config: &Path, args: &[&str], input: &str) -> CtlOutput {
    use std::io::{Read, Seek, Write};
    let mut stdin = tempfile::tempfile().expect("temp file");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    stdin.rewind().expect("rewind");
    let mut out = tempfile::tempfile().expect("temp file");
    let mut err = tempfile::tempfile().expect("temp file");
    let mut cmd = tokio::process::Command::new(meerkat_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .stdin(stdin)
        .stdout(out.try_clone().expect("clone"))
        .stderr(err.try_clone().expect("clone"))
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn meerkat");
    let code = match tokio::time::timeout(Duration::from_secs(90), child.wait()).await {
        Ok(status) => status.expect("wait").code(),
        Err(_) => None,
    };
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        f.rewind().expect("rewind");
        f.read_to_string(&mut s).expect("read");
        s
    };
    CtlOutput {
        cmd: format!("meerkat --config {} {}", config.display(), args.join(" ")),
        code,
        stdout: read(&mut out),
        stderr: read(&mut err),
    }
}

/// `cluster_status --json` of a node: (running, stopped).
async fn status_of(node: &TestServer) -> (Vec<String>, Vec<String>) {
    let out = node.ctl(&["cluster_status", "--json"]).await;
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .iter()
            .map(|s| s.as_str().expect("string").to_owned())
            .collect()
    };
    (list("running"), list("stopped"))
}

/// Polls `cluster_status` until it shows exactly these running and stopped nodes.
async fn wait_status(node: &TestServer, running: &[&str], stopped: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (r, s) = status_of(node).await;
        if r == running && s == stopped {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cluster_status: running {r:?}, stopped {s:?}; expected {running:?} / {stopped:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn admin_addr(node: &TestServer) -> String {
    format!("127.0.0.1:{}", node.admin_port)
}

/// A node joins with a confirmation on stdin, another with `-f`; a wrong secret is refused;
/// `cluster_status` (text and JSON) and `status` list the members; `leave_cluster` brings a
/// node back to standalone and off the lists.
#[tokio::test]
async fn join_status_and_leave() {
    let ops = Ops::new().await;
    let node1 = ops.member("node1").await;
    wait_status(&node1, &["node1"], &[], Duration::from_secs(10)).await;

    // Wrong secret: refused, nothing written.
    let wrong = write_secret(ops.dir.path(), "wrong.secret", "not-the-cluster-secret-at-all");
    let stranger = ops.standalone("stranger", &wrong).await;
    let out = stranger.ctl(&["join_cluster", "-f", &admin_addr(&node1)]).await;
    out.assert_failed();
    assert!(out.stderr.contains("refused the cluster secret"), "{}", out.describe());
    assert!(!stranger.dir.path().join("data/cluster.toml").exists());
    stranger.ctl(&["status"]).await.assert_ok();

    // A second node under a running member's name is refused.
    let twin = ops.standalone("node1", &ops.secret).await;
    let out = twin.ctl(&["join_cluster", "-f", &admin_addr(&node1)]).await;
    out.assert_failed();
    assert!(out.stderr.contains("a node named node1 already runs"), "{}", out.describe());
    assert!(!twin.dir.path().join("data/cluster.toml").exists());

    // Without -f: the warning, the question, "y" on stdin.
    let node2 = ops.standalone("node2", &ops.secret).await;
    let _guard2 = DaemonGuard(node2.dir.path().join("data"));
    let out =
        ctl_with_stdin(&node2.config_path, &["join_cluster", &admin_addr(&node1)], "y\n").await;
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("Warning: this will drop all current connections"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Do you want to continue? (yes/no)"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "You have successfully joined the node node2 to the cluster with node member node1"
        ),
        "{}",
        out.describe()
    );
    // A "no" leaves the node as it is.
    let node3 = ops.standalone("node3", &ops.secret).await;
    let _guard3 = DaemonGuard(node3.dir.path().join("data"));
    let out =
        ctl_with_stdin(&node3.config_path, &["join_cluster", &admin_addr(&node1)], "no\n").await;
    out.assert_failed();
    assert!(out.stderr.contains("cancelled"), "{}", out.describe());
    // With -f: no question.
    let out = node3.ctl(&["join_cluster", "-f", &admin_addr(&node1)]).await;
    out.assert_ok();
    assert!(!out.stdout.contains("Do you want to continue"), "{}", out.stdout);
    assert!(out.stdout.contains("successfully joined the node node3"), "{}", out.stdout);

    wait_status(&node1, &["node1", "node2", "node3"], &[], Duration::from_secs(10)).await;
    let text = node2.ctl(&["cluster_status"]).await;
    text.assert_ok();
    assert!(text.stdout.contains("running nodes: node1, node2, node3\n"), "{}", text.stdout);
    assert!(text.stdout.contains("stopped nodes: none\n"), "{}", text.stdout);
    let status = node3.ctl(&["status"]).await;
    assert!(status.stdout.contains("running nodes: node1, node2, node3"), "{}", status.stdout);

    // The joined nodes share the cluster's storage: an account made on node1 logs in on node2.
    let u = node1.new_user("joined").await;
    let mut c = node2.login(&u, "r").await;
    c.send("<presence/>").await;

    // A stopped member is listed as stopped.
    node3.ctl(&["stop"]).await.assert_ok();
    wait_status(&node1, &["node1", "node2"], &["node3"], Duration::from_secs(10)).await;

    // leave_cluster: node2 restarts standalone and leaves the lists.
    drop(c);
    let out = node2.ctl(&["leave_cluster", "-f"]).await;
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("You have successfully left the node node2 from the cluster"),
        "{}",
        out.stdout
    );
    assert!(!node2.dir.path().join("data/cluster.toml").exists());
    wait_status(&node1, &["node1"], &["node3"], Duration::from_secs(10)).await;
    let out = node2.ctl(&["cluster_status"]).await;
    out.assert_failed();
    assert!(out.stderr.contains("not a cluster member"), "{}", out.describe());
    // Standalone again, on its own storage: node1's account is unknown there.
    let out = node2.ctl(&["registered_users", crate::common::DOMAIN]).await;
    out.assert_ok();
    assert!(!out.stdout.contains(&u.name), "{}", out.stdout);
    let out = node2.ctl(&["leave_cluster", "-f"]).await;
    out.assert_failed();
    node2.ctl(&["stop"]).await.assert_ok();
}

fn presence_from<'a>(jid: &'a str, kind: Option<&'a str>) -> impl Fn(&Element) -> bool + 'a {
    move |e: &Element| e.name == "presence" && e.attr("from") == Some(jid) && e.attr("type") == kind
}

/// kill -9 of a node: within node_timeout (plus the leave grace) it is listed stopped, the
/// contacts of its sessions on the surviving node get unavailable presence on their behalf,
/// and its session rows are gone; then `remove_from_cluster` deletes it (and refuses a running
/// node).
#[tokio::test]
async fn dead_node_cleanup_and_removal() {
    let ops = Ops::new().await;
    let node1 = ops.member("node1").await;
    let mut node2 = ops.member("node2").await;
    wait_status(&node1, &["node1", "node2"], &[], Duration::from_secs(10)).await;
    let a = node1.new_user("alice").await;
    let b = node1.new_user("bob").await;
    let mut alice = node1.login(&a, "one").await;
    let mut bob = node2.login(&b, "two").await;
    // Both directions: alice's roster item for bob is `both`, bob's for alice too.
    subscribe(&mut alice, &mut bob).await;
    subscribe(&mut bob, &mut alice).await;

    // bob's other resource, on the surviving node.
    let mut bob1 = node1.login(&b, "one").await;
    bob1.recv_presence_from(&b.full("two")).await;
    let store = ops.storage().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    // Rows are written a moment after the bind (batched): wait for both nodes' rows.
    while store.cluster.sessions("node2").await.expect("rows") != vec![b.full("two")]
        || store.cluster.sessions("node1").await.expect("rows")
            != vec![a.full("one"), b.full("one")]
    {
        assert!(Instant::now() < deadline, "the session rows were not written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = node1.ctl(&["remove_from_cluster", "node2"]).await;
    out.assert_failed();
    assert!(out.stderr.contains("node node2 is running"), "{}", out.describe());

    node2.kill9();
    let started = Instant::now();
    let p = alice
        .try_recv_where(Duration::from_secs(10), presence_from(&b.full("two"), Some("unavailable")))
        .await
        .unwrap_or_else(|| panic!("no unavailable presence for bob after node2 died"));
    assert!(p.children.is_empty(), "{}", xml(&p));
    let own = bob1
        .try_recv_where(Duration::from_secs(5), presence_from(&b.full("two"), Some("unavailable")))
        .await
        .unwrap_or_else(|| panic!("bob's resource on node1 did not hear bob/two go"));
    assert_eq!(own.attr("to"), Some(b.full("one").as_str()), "{}", xml(&own));
    eprintln!("unavailable presence {:?} after the kill", started.elapsed());
    wait_status(&node1, &["node1"], &["node2"], Duration::from_secs(10)).await;
    assert!(store.cluster.sessions("node2").await.expect("rows").is_empty());
    assert_eq!(
        store.cluster.sessions("node1").await.expect("rows"),
        vec![a.full("one"), b.full("one")]
    );

    let out = node1.ctl(&["remove_from_cluster", "node2"]).await;
    out.assert_ok();
    assert_eq!(
        out.lines()[0],
        "The node node2 has been removed from the cluster",
        "{}",
        out.stdout
    );
    wait_status(&node1, &["node1"], &[], Duration::from_secs(5)).await;
    let out = node1.ctl(&["remove_from_cluster", "node2"]).await;
    out.assert_failed();
    assert!(out.stderr.contains("not a member"), "{}", out.describe());

    // A graceful logout deletes the row.
    drop(alice);
    drop(bob1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.cluster.sessions("node1").await.expect("rows").is_empty() {
        assert!(Instant::now() < deadline, "alice's session row was not deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `from` subscribes to `to`'s presence and `to` approves.
async fn subscribe(from: &mut Client, to: &mut Client) {
    let tb = crate::common::client::bare(&to.jid).to_string();
    let fb = crate::common::client::bare(&from.jid).to_string();
    from.send(&format!("<presence to='{tb}' type='subscribe'/>")).await;
    to.recv_where("the subscription request", |e| {
        e.name == "presence" && e.attr("type") == Some("subscribe")
    })
    .await;
    to.send(&format!("<presence to='{fb}' type='subscribed'/>")).await;
    from.recv_where("subscribed", |e| e.name == "presence" && e.attr("type") == Some("subscribed"))
        .await;
    let to_jid = to.jid.clone();
    from.recv_presence_from(&to_jid).await;
}

/// A NATS outage stops every heartbeat, so each node sees every other one go down; none of
/// them may take the others for dead while cut off: no unavailable presence, no row deleted,
/// and once NATS is back both nodes are running again.
#[tokio::test]
async fn nats_outage_is_not_a_node_death() {
    let mut ops = Ops::new().await;
    let node1 = ops.member("node1").await;
    let node2 = ops.member("node2").await;
    wait_status(&node1, &["node1", "node2"], &[], Duration::from_secs(10)).await;
    let a = node1.new_user("alice").await;
    let b = node1.new_user("bob").await;
    let mut alice = node1.login(&a, "one").await;
    let mut bob = node2.login(&b, "two").await;
    subscribe(&mut alice, &mut bob).await;
    subscribe(&mut bob, &mut alice).await;
    let store = ops.storage().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.cluster.sessions("node2").await.expect("rows").is_empty() {
        assert!(Instant::now() < deadline, "bob's session row was not written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    ops.nats.kill();
    // node_timeout (1 s) + the leave grace (2 s) + a sweep period, with room to spare.
    let got = alice
        .try_recv_where(Duration::from_secs(5), presence_from(&b.full("two"), Some("unavailable")))
        .await;
    assert!(got.is_none(), "unavailable presence during a NATS outage: {}", xml(&got.unwrap()));
    assert_eq!(store.cluster.sessions("node2").await.expect("rows"), vec![b.full("two")]);
    assert_eq!(store.cluster.sessions("node1").await.expect("rows"), vec![a.full("one")]);
    let rows = store.cluster.nodes().await.expect("nodes");
    assert!(rows.iter().all(|r| r.left_at.is_none()), "{rows:?}");

    ops.nats.restart();
    wait_status(&node1, &["node1", "node2"], &[], Duration::from_secs(15)).await;
    wait_status(&node2, &["node1", "node2"], &[], Duration::from_secs(15)).await;
}

/// A node killed and started again at once under the same name: its new run (or a survivor,
/// whichever wins the row lock) cleans up the sessions of the old run, exactly once, and the
/// node is running again.
#[tokio::test]
async fn restarted_node_cleans_up_its_previous_run() {
    let ops = Ops::new().await;
    let node1 = ops.member("node1").await;
    let mut node2 = ops.member("node2").await;
    wait_status(&node1, &["node1", "node2"], &[], Duration::from_secs(10)).await;
    let a = node1.new_user("alice").await;
    let b = node1.new_user("bob").await;
    let mut alice = node1.login(&a, "one").await;
    let mut bob = node2.login(&b, "two").await;
    subscribe(&mut alice, &mut bob).await;
    subscribe(&mut bob, &mut alice).await;
    let store = ops.storage().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.cluster.sessions("node2").await.expect("rows").is_empty() {
        assert!(Instant::now() < deadline, "bob's session row was not written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    node2.kill9();
    let node2 = ops.member("node2").await;
    let bob_two = b.full("two");
    let gone = presence_from(&bob_two, Some("unavailable"));
    alice
        .try_recv_where(Duration::from_secs(10), &gone)
        .await
        .unwrap_or_else(|| panic!("no unavailable presence for bob after node2 restarted"));
    let again = alice.try_recv_where(Duration::from_secs(3), &gone).await;
    assert!(again.is_none(), "a second unavailable presence: {}", xml(&again.unwrap()));
    assert!(store.cluster.sessions("node2").await.expect("rows").is_empty());
    wait_status(&node1, &["node1", "node2"], &[], Duration::from_secs(10)).await;
    // The restarted node serves bob again.
    let _bob = node2.login(&b, "back").await;
}
