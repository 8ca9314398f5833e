//! The admin router served on 127.0.0.1:0 with a fake [`AdminOps`], exercised through the real
//! blocking [`Client`]: every endpoint, the token check and the error mapping.

use meerkat_admin::client::{Client, ClientError};
use meerkat_admin::{http, AdminError, AdminOps, NodeStatus};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// In-memory node: accounts by (host, user), a fixed session list, and a stop signal.
#[derive(Default)]
struct FakeOps {
    users: Mutex<BTreeMap<(String, String), String>>,
    sessions: Mutex<Vec<String>>,
    stop: Notify,
}

impl FakeOps {
    fn password(&self, user: &str, host: &str) -> Option<String> {
        self.users.lock().expect("lock").get(&(host.to_string(), user.to_string())).cloned()
    }
}

fn check_host(host: &str) -> Result<(), AdminError> {
    if host == "localhost" || host == "example.com" {
        Ok(())
    } else {
        Err(AdminError::BadRequest(format!("unknown host {host}")))
    }
}

#[async_trait::async_trait]
impl AdminOps for FakeOps {
    async fn status(&self) -> NodeStatus {
        NodeStatus {
            node: "meerkat@localhost".into(),
            version: "0.1.0".into(),
            uptime_secs: 42,
            hosts: vec!["localhost".into(), "example.com".into()],
            sessions: self.sessions.lock().expect("lock").len(),
            listeners: vec!["c2s 127.0.0.1:5222 starttls".into()],
            pid: 1234,
        }
    }

    async fn register(&self, user: &str, host: &str, password: &str) -> Result<(), AdminError> {
        check_host(host)?;
        if user == "boom" {
            return Err(AdminError::Internal("disk on fire".into()));
        }
        let mut users = self.users.lock().expect("lock");
        let key = (host.to_string(), user.to_string());
        if users.contains_key(&key) {
            return Err(AdminError::AlreadyExists(format!("{user}@{host}")));
        }
        users.insert(key, password.to_string());
        Ok(())
    }

    async fn unregister(&self, user: &str, host: &str) -> Result<(), AdminError> {
        check_host(host)?;
        let mut users = self.users.lock().expect("lock");
        match users.remove(&(host.to_string(), user.to_string())) {
            Some(_) => Ok(()),
            None => Err(AdminError::NotFound(format!("{user}@{host}"))),
        }
    }

    async fn change_password(
        &self,
        user: &str,
        host: &str,
        password: &str,
    ) -> Result<(), AdminError> {
        check_host(host)?;
        let mut users = self.users.lock().expect("lock");
        match users.get_mut(&(host.to_string(), user.to_string())) {
            Some(stored) => {
                *stored = password.to_string();
                Ok(())
            }
            None => Err(AdminError::NotFound(format!("{user}@{host}"))),
        }
    }

    async fn registered_users(&self, host: &str) -> Result<Vec<String>, AdminError> {
        check_host(host)?;
        let users = self.users.lock().expect("lock");
        Ok(users.keys().filter(|(h, _)| h == host).map(|(_, u)| u.clone()).collect())
    }

    async fn sessions(&self) -> Vec<String> {
        self.sessions.lock().expect("lock").clone()
    }

    async fn kick(&self, jid: &str, reason: &str) -> Result<usize, AdminError> {
        if !jid.contains('@') {
            return Err(AdminError::BadRequest(format!("malformed JID {jid}")));
        }
        let mut sessions = self.sessions.lock().expect("lock");
        let before = sessions.len();
        // A bare JID matches all its resources, a full JID one session.
        sessions.retain(|s| !(s == jid || s.starts_with(&format!("{jid}/"))));
        let kicked = before - sessions.len();
        if kicked == 0 {
            return Err(AdminError::NotFound(format!("no session for {jid} ({reason})")));
        }
        Ok(kicked)
    }

    async fn stop(&self) {
        self.stop.notify_one();
    }
}

/// A served router and the runtime that serves it; dropping it stops everything.
struct Node {
    addr: SocketAddr,
    ops: Arc<FakeOps>,
    runtime: tokio::runtime::Runtime,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn start() -> Node {
    start_with(http::Tokens::from(TOKEN.to_string()))
}

fn start_with(tokens: http::Tokens) -> Node {
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
        let dyn_ops: Arc<dyn AdminOps> = ops.clone();
        let server = tokio::spawn(http::serve(listener, dyn_ops, tokens, shutdown));
        (addr, server)
    });
    Node { addr, ops, runtime, server }
}

impl Node {
    fn client(&self) -> Client {
        Client::new(self.addr, TOKEN.to_string()).with_timeout(Duration::from_secs(5))
    }

    /// Sends a raw HTTP/1.1 request and returns the status code and body, for what the client
    /// never sends (no token, oversized bodies, unknown paths).
    fn raw(&self, request: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        // A server refusing an oversized body may close before reading all of it; its answer
        // is still readable, so a failed write is not the test's verdict.
        let _ = stream.write_all(request.as_bytes());
        let mut answer = Vec::new();
        // The server may close after an error answer before reading the whole body; whatever
        // arrived before that is the answer.
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }
}

#[test]
fn status_returns_the_node_status() {
    let node = start();
    let status = node.client().status().expect("status");
    assert_eq!(status.node, "meerkat@localhost");
    assert_eq!(status.uptime_secs, 42);
    assert_eq!(status.pid, 1234);
    assert_eq!(status.hosts, vec!["localhost".to_string(), "example.com".to_string()]);
}

#[test]
fn user_lifecycle_through_every_user_endpoint() {
    let node = start();
    let client = node.client();
    client.register("alice", "localhost", "secret").expect("register");
    client.register("bob", "localhost", "pw").expect("register bob");
    client.register("carol", "example.com", "pw").expect("register carol");
    assert_eq!(node.ops.password("alice", "localhost").as_deref(), Some("secret"));
    assert_eq!(
        client.registered_users("localhost").expect("list"),
        vec!["alice".to_string(), "bob".to_string()]
    );

    client.change_password("alice", "localhost", "new secret").expect("change");
    assert_eq!(node.ops.password("alice", "localhost").as_deref(), Some("new secret"));

    client.unregister("alice", "localhost").expect("unregister");
    assert_eq!(client.registered_users("localhost").expect("list"), vec!["bob".to_string()]);
}

#[test]
fn odd_usernames_survive_the_path() {
    let node = start();
    let client = node.client();
    let user = "we ird/na%me?x#y";
    client.register(user, "localhost", "pw").expect("register");
    client.change_password(user, "localhost", "pw2").expect("change");
    assert_eq!(node.ops.password(user, "localhost").as_deref(), Some("pw2"));
    client.unregister(user, "localhost").expect("unregister");
    assert!(client.registered_users("localhost").expect("list").is_empty());
}

#[test]
fn admin_errors_come_back_as_they_were() {
    let node = start();
    let client = node.client();
    client.register("alice", "localhost", "pw").expect("register");
    match client.register("alice", "localhost", "pw") {
        Err(ClientError::Admin(AdminError::AlreadyExists(what))) => {
            assert_eq!(what, "alice@localhost")
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(matches!(
        client.unregister("nobody", "localhost"),
        Err(ClientError::Admin(AdminError::NotFound(_)))
    ));
    assert!(matches!(
        client.change_password("nobody", "localhost", "x"),
        Err(ClientError::Admin(AdminError::NotFound(_)))
    ));
    assert!(matches!(
        client.registered_users("nowhere.org"),
        Err(ClientError::Admin(AdminError::BadRequest(_)))
    ));
    assert!(matches!(
        client.register("boom", "localhost", "pw"),
        Err(ClientError::Admin(AdminError::Internal(_)))
    ));
    assert!(matches!(client.kick("nojid", ""), Err(ClientError::Admin(AdminError::BadRequest(_)))));
}

#[test]
fn sessions_and_kick() {
    let node = start();
    *node.ops.sessions.lock().expect("lock") = vec![
        "alice@localhost/phone".into(),
        "alice@localhost/laptop".into(),
        "bob@localhost/x".into(),
    ];
    let client = node.client();
    assert_eq!(client.sessions().expect("sessions").len(), 3);
    assert_eq!(client.kick("bob@localhost/x", "bye").expect("kick one"), 1);
    assert_eq!(client.kick("alice@localhost", "").expect("kick all"), 2);
    assert!(client.sessions().expect("sessions").is_empty());
    assert!(matches!(
        client.kick("alice@localhost", ""),
        Err(ClientError::Admin(AdminError::NotFound(_)))
    ));
}

#[test]
fn stop_shuts_the_server_down() {
    let node = start();
    node.client().stop().expect("stop");
    let served = node
        .runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), node.server).await });
    served.expect("server stops in time").expect("task").expect("serve returns Ok");
    // Nothing listens any more.
    assert!(matches!(Client::new(node.addr, TOKEN.into()).status(), Err(ClientError::NotRunning)));
}

#[test]
fn wrong_or_missing_token_is_401() {
    let node = start();
    let wrong = Client::new(node.addr, "f".repeat(64));
    assert!(matches!(wrong.status(), Err(ClientError::Unauthorized)));
    assert!(matches!(wrong.register("eve", "localhost", "pw"), Err(ClientError::Unauthorized)));
    assert!(matches!(wrong.stop(), Err(ClientError::Unauthorized)));
    // The refused registration did not happen.
    assert!(node.ops.password("eve", "localhost").is_none());

    let (status, body) =
        node.raw("GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 401);
    assert!(body.contains("admin token"), "{body}");
    // Unknown paths are hidden behind the token too.
    let (status, _) = node.raw("GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 401);
}

#[test]
fn unknown_path_with_token_is_json_404() {
    let node = start();
    let (status, body) = node.raw(&format!(
        "GET /api/v1/nowhere HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Connection: close\r\n\r\n"
    ));
    assert_eq!(status, 404);
    let body: http::ErrorBody = serde_json::from_str(&body).expect("JSON error body");
    assert!(matches!(body.error, AdminError::NotFound(_)));
}

#[test]
fn malformed_json_is_a_bad_request() {
    let node = start();
    let payload = r#"{"user":"a","host":"localhost"}"#;
    let (status, body) = node.raw(&format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    ));
    assert_eq!(status, 422);
    let body: http::ErrorBody = serde_json::from_str(&body).expect("JSON error body");
    assert!(matches!(body.error, AdminError::BadRequest(_)));
}

#[test]
fn oversized_body_is_413() {
    let node = start();
    let password = "x".repeat(http::MAX_BODY_BYTES + 1);
    let payload = format!(r#"{{"user":"a","host":"localhost","password":"{password}"}}"#);
    let (status, _) = node.raw(&format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    ));
    assert_eq!(status, 413);
    assert!(node.ops.password("a", "localhost").is_none());
    // Through the client, the same limit is a bad request (or, should the server close before
    // the client finished sending, a transport error); never a success.
    match node.client().register("a", "localhost", &password) {
        Err(ClientError::Admin(AdminError::BadRequest(_))) | Err(ClientError::Other(_)) => {}
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert!(node.ops.password("a", "localhost").is_none());
}

/// The cluster token opens the `/cluster/…` endpoints only; the admin token opens them too.
#[test]
fn cluster_token_opens_only_the_cluster_endpoints() {
    const CLUSTER: &str = "cluster-token-0123456789";
    let node =
        start_with(http::Tokens { admin: TOKEN.to_string(), cluster: Some(CLUSTER.to_string()) });
    let peer = Client::new(node.addr, CLUSTER.to_string());
    // Past the token check: the fake node is standalone, so the operation itself is refused.
    assert!(not_clustered(peer.cluster_status().map(drop)));
    assert!(not_clustered(peer.cluster_settings().map(drop)));
    assert!(not_clustered(peer.remove_node("n2").map(drop)));
    assert!(matches!(peer.status(), Err(ClientError::Unauthorized)));
    assert!(matches!(peer.sessions(), Err(ClientError::Unauthorized)));
    assert!(matches!(peer.leave_cluster(), Err(ClientError::Unauthorized)));
    assert!(matches!(peer.stop(), Err(ClientError::Unauthorized)));
    let local = node.client();
    assert!(not_clustered(local.cluster_status().map(drop)));
    assert!(not_clustered(local.leave_cluster()));
    let stranger = Client::new(node.addr, "cluster-token-0123456788".to_string());
    assert!(matches!(stranger.cluster_settings(), Err(ClientError::Unauthorized)));
    // Without a cluster token configured, a guess of it opens nothing.
    let standalone = start();
    let peer = Client::new(standalone.addr, CLUSTER.to_string());
    assert!(matches!(peer.cluster_status(), Err(ClientError::Unauthorized)));
}

fn not_clustered(r: Result<(), ClientError>) -> bool {
    matches!(r, Err(ClientError::Admin(AdminError::BadRequest(m))) if m.contains("not a cluster member"))
}
