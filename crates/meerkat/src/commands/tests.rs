//! The admin commands against the real admin HTTP API served with a fake [`AdminOps`]: exit
//! codes and messages, token problems, and a node that is not running. (End-to-end runs of the
//! binary against a real node live in crates/meerkat/tests.)

use super::*;
use meerkat_admin::{http, AdminOps, NodeStatus};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Accounts `(user, host)` on host `localhost` only, two fixed sessions, and a stop signal.
#[derive(Default)]
struct FakeOps {
    users: Mutex<BTreeSet<(String, String)>>,
    stop: Notify,
}

#[async_trait::async_trait]
impl AdminOps for FakeOps {
    async fn status(&self) -> NodeStatus {
        NodeStatus {
            node: "fake@localhost".into(),
            version: "0.0.0".into(),
            uptime_secs: 1,
            hosts: vec!["localhost".into()],
            sessions: 2,
            listeners: vec![],
            // 0: no process to wait for in `stop`.
            pid: 0,
        }
    }
    async fn register(&self, user: &str, host: &str, _: &str) -> Result<(), AdminError> {
        if host != "localhost" {
            return Err(AdminError::BadRequest(format!("host {host} is not served")));
        }
        let mut users = self.users.lock().expect("lock");
        if !users.insert((user.into(), host.into())) {
            return Err(AdminError::AlreadyExists(format!("{user}@{host}")));
        }
        Ok(())
    }
    async fn unregister(&self, user: &str, host: &str) -> Result<(), AdminError> {
        let mut users = self.users.lock().expect("lock");
        if !users.remove(&(user.into(), host.into())) {
            return Err(AdminError::NotFound(format!("{user}@{host}")));
        }
        Ok(())
    }
    async fn change_password(&self, user: &str, host: &str, _: &str) -> Result<(), AdminError> {
        let users = self.users.lock().expect("lock");
        if !users.contains(&(user.into(), host.into())) {
            return Err(AdminError::NotFound(format!("{user}@{host}")));
        }
        Ok(())
    }
    async fn registered_users(&self, host: &str) -> Result<Vec<String>, AdminError> {
        let users = self.users.lock().expect("lock");
        Ok(users.iter().filter(|(_, h)| h == host).map(|(u, _)| u.clone()).collect())
    }
    async fn sessions(&self) -> Vec<String> {
        vec!["a@localhost/x".into(), "a@localhost/y".into()]
    }
    async fn kick(&self, jid: &str, _: &str) -> Result<usize, AdminError> {
        match jid {
            "a@localhost" => Ok(2),
            _ => Err(AdminError::NotFound(jid.into())),
        }
    }
    async fn stop(&self) {
        self.stop.notify_one();
    }
}

/// A fake node serving on 127.0.0.1:0 with its token in a temporary data directory.
struct FakeNode {
    config: Config,
    runtime: tokio::runtime::Runtime,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

fn fake_node() -> FakeNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = token::create(dir.path()).expect("token");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let ops = Arc::new(FakeOps::default());
    let (addr, server) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop_ops = ops.clone();
        let shutdown = async move { stop_ops.stop.notified().await };
        let dyn_ops: Arc<dyn AdminOps> = ops;
        (addr, tokio::spawn(http::serve(listener, dyn_ops, token, shutdown)))
    });
    let mut config = Config::default();
    config.general.data_dir = dir.path().to_path_buf();
    config.admin.port = addr.port();
    FakeNode { config, runtime, server, _dir: dir }
}

/// A configuration whose admin port nothing listens on.
fn nothing_running() -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut config = Config::default();
    config.general.data_dir = dir.path().to_path_buf();
    config.admin.port = port;
    (config, dir)
}

fn failure(result: Result<(), Failure>) -> Failure {
    match result {
        Ok(()) => panic!("expected a failure"),
        Err(f) => f,
    }
}

#[test]
fn account_commands_succeed_and_fail_with_clear_messages() {
    let node = fake_node();
    let c = &node.config;
    users::register(c, "alice", "localhost", "pw").expect("register");
    let f = failure(users::register(c, "alice", "localhost", "pw"));
    assert_eq!((f.code, f.message.as_str()), (1, "User alice@localhost already registered"));
    let f = failure(users::register(c, "bob", "elsewhere", "pw"));
    assert_eq!((f.code, f.message.as_str()), (1, "host elsewhere is not served"));

    users::registered_users(c, "localhost").expect("list");
    users::change_password(c, "alice", "localhost", "pw2").expect("change");
    let f = failure(users::change_password(c, "zed", "localhost", "pw2"));
    assert_eq!((f.code, f.message.as_str()), (1, "User zed@localhost does not exist"));

    users::unregister(c, "alice", "localhost").expect("unregister");
    let f = failure(users::unregister(c, "alice", "localhost"));
    assert_eq!((f.code, f.message.as_str()), (1, "User alice@localhost does not exist"));
}

#[test]
fn session_commands() {
    let node = fake_node();
    sessions::list(&node.config).expect("sessions");
    sessions::kick(&node.config, "a@localhost", None).expect("kick");
    let f = failure(sessions::kick(&node.config, "b@localhost", Some("bye")));
    assert_eq!((f.code, f.message.as_str()), (1, "No session for b@localhost"));
}

#[test]
fn status_and_started_answer_when_running() {
    let node = fake_node();
    status::run(&node.config).expect("status");
    start::started(&node.config, 5).expect("started");
}

#[test]
fn start_refuses_while_a_node_answers() {
    let node = fake_node();
    let f = failure(start::start(&node.config, None));
    assert_eq!(f.code, 1);
    assert!(f.message.contains("already running"), "{}", f.message);
}

#[test]
fn stop_stops_and_waits() {
    let node = fake_node();
    stop::run(&node.config, 5).expect("stop");
    let served = node.runtime.block_on(node.server).expect("task");
    served.expect("serve returned Ok");
    let f = failure(status::run(&node.config));
    assert_eq!(f.code, EXIT_NOT_RUNNING);
}

#[test]
fn every_admin_command_exits_3_when_not_running() {
    let (c, _dir) = nothing_running();
    let results = [
        status::run(&c),
        stop::run(&c, 1),
        users::register(&c, "a", "localhost", "p"),
        users::unregister(&c, "a", "localhost"),
        users::change_password(&c, "a", "localhost", "p"),
        users::registered_users(&c, "localhost"),
        sessions::list(&c),
        sessions::kick(&c, "a@localhost", None),
    ];
    for result in results {
        let f = failure(result);
        assert_eq!(f.code, EXIT_NOT_RUNNING, "{}", f.message);
        assert!(f.message.contains("not running"), "{}", f.message);
    }
}

#[test]
fn started_times_out_with_exit_1() {
    let (c, _dir) = nothing_running();
    let f = failure(start::started(&c, 0));
    assert_eq!(f.code, 1);
    assert!(f.message.contains("did not answer within 0 s"), "{}", f.message);
}

#[test]
fn wrong_token_is_reported_as_such() {
    let node = fake_node();
    std::fs::write(token::path(&node.config.general.data_dir), "stale").expect("write token");
    let f = failure(status::run(&node.config));
    assert_eq!(f.code, 1);
    assert!(f.message.contains("refused the admin token"), "{}", f.message);
}

#[test]
fn missing_token_file_is_reported_as_such() {
    let node = fake_node();
    std::fs::remove_file(token::path(&node.config.general.data_dir)).expect("remove token");
    let f = failure(status::run(&node.config));
    assert_eq!(f.code, 1);
    assert!(f.message.contains("cannot read the admin token"), "{}", f.message);
}

#[test]
fn port_zero_uses_the_recorded_address() {
    let node = fake_node();
    let mut config = node.config.clone();
    let addr = SocketAddr::new(config.admin.ip_address, config.admin.port);
    config.admin.port = 0;
    let f = failure(status::run(&config));
    assert_eq!(f.code, EXIT_NOT_RUNNING);
    assert!(f.message.contains("admin.addr"), "{}", f.message);
    endpoint::write(&config.general.data_dir, addr).expect("write addr");
    status::run(&config).expect("status through admin.addr");
}

#[test]
fn missing_config_file_fails_naming_it() {
    let f = failure(load_config(Some(Path::new("/nonexistent/meerkat.toml"))).map(drop));
    assert_eq!(f.code, 1);
    assert!(f.message.starts_with("/nonexistent/meerkat.toml: "), "{}", f.message);
    assert_eq!(load_config(None).expect("defaults"), Config::default());
}

#[test]
fn join_member_addresses() {
    let mut config = Config::default();
    config.admin.port = 5280;
    let addr = |m: &str| cluster::member_addr(m, &config).map_err(|f| f.message);
    assert_eq!(addr("127.0.0.2:6000"), Ok("127.0.0.2:6000".parse().expect("addr")));
    assert_eq!(addr("node1@127.0.0.2"), Ok("127.0.0.2:5280".parse().expect("addr")));
    assert_eq!(addr("127.0.0.3"), Ok("127.0.0.3:5280".parse().expect("addr")));
    assert_eq!(addr("n@127.0.0.4:7000"), Ok("127.0.0.4:7000".parse().expect("addr")));
    assert_eq!(addr("[::1]:7000"), Ok("[::1]:7000".parse().expect("addr")));
    config.admin.port = 0;
    let e = cluster::member_addr("node1@127.0.0.2", &config).expect_err("no port");
    assert!(e.message.contains("IP:PORT"), "{}", e.message);
}

#[test]
fn only_yes_confirms() {
    for yes in ["y", "yes\n", " YES \r\n", "Y"] {
        assert!(cluster::is_yes(yes), "{yes:?}");
    }
    for no in ["", "n", "no\n", "yess", "sure"] {
        assert!(!cluster::is_yes(no), "{no:?}");
    }
}

#[test]
fn cluster_status_lines() {
    let status = meerkat_admin::ClusterStatus {
        cluster: "dev".into(),
        node: "a@h".into(),
        running: vec!["a@h".into(), "b@h".into()],
        stopped: vec![],
    };
    assert_eq!(
        cluster::render(&status),
        "cluster:       dev\nrunning nodes: a@h, b@h\nstopped nodes: none\n"
    );
}

#[test]
fn standalone_node_refuses_cluster_calls() {
    let node = fake_node();
    let e = cluster::status(&node.config, false).expect_err("not clustered");
    assert_eq!(e.code, EXIT_FAILURE);
    assert!(e.message.contains("not a cluster member"), "{}", e.message);
}

#[test]
fn join_without_a_secret_file_is_refused() {
    let config = Config::default();
    let e = cluster::join(&config, None, "127.0.0.2:1", true).expect_err("no secret");
    assert!(e.message.contains("secret_file"), "{}", e.message);
}
