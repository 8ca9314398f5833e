//! Issue 6: HTTP File Upload (XEP-0363) at `upload.localhost`, over a real HTTP listener:
//! disco with the size limit, slots and their errors (exact XML), PUT then GET with equal
//! bytes and the headers browsers need (CORS, nosniff, disposition), oversized PUTs refused
//! with 413 before their body is sent, wrong sizes and types, bad signatures and expired
//! slots (403), a second PUT (409), quotas, the expiry sweep, and two cluster nodes sharing
//! slot verification and quotas.
//!
//! HTTP is spoken raw over TCP here, so a test can send a request head without its body.

use crate::common::client::{assert_stanza_error, xml};
use crate::common::nats::Nats;
use crate::common::{
    free_port, postgres_storage, shared_postgres, unique, Client, ServerBuilder, TestServer,
    TlsMode, DOMAIN,
};
use meerkat_xml::Element;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NS: &str = "urn:xmpp:http:upload:0";
const SERVICE: &str = "upload.localhost";

/// A node with a c2s listener (no TLS) and an HTTP listener; returns it and the HTTP port.
async fn start(upload: &str) -> (TestServer, u16) {
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let http = free_port();
        let builder = ServerBuilder::new()
            .listeners(&[TlsMode::None])
            .extra(&format!("[[listen.http]]\nport = {http}\n"))
            .extra(&format!("[modules.http_upload]\n{upload}\n"));
        match TestServer::try_start(&builder).await {
            Ok(server) => return (server, http),
            Err(e) => last_err = e,
        }
    }
    panic!("meerkat with an HTTP listener did not start (3 attempts); last attempt:\n{last_err}");
}

/// An HTTP response.
#[derive(Debug)]
struct Http {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends a request head (`Host` and `Connection: close` added) and `body`, reads the response.
async fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Http {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connect HTTP");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.expect("send head");
    // The node may answer and close before a refused body is sent: ignore write errors.
    let _ = tcp.write_all(body).await;
    read_response(&mut tcp, method == "HEAD").await
}

/// Reads one response: the head, then `Content-Length` bytes (none for HEAD).
async fn read_response(tcp: &mut TcpStream, head_only: bool) -> Http {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap_or_default();
            let status: u16 =
                status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            let mut r = Http { status, headers, body: Vec::new() };
            let len: usize = if head_only || status == 204 {
                0
            } else {
                r.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
            };
            let mut body = buf[end + 4..].to_vec();
            while body.len() < len {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, tcp.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
                    other => panic!("response body cut short ({other:?}): {r:?}"),
                }
            }
            body.truncate(len);
            r.body = body;
            return r;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!(
                "no complete response head ({other:?}); got {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}

/// Asks for a slot; returns the reply IQ.
async fn request(c: &mut Client, filename: &str, size: u64, content_type: Option<&str>) -> Element {
    let ct = content_type.map(|t| format!(" content-type='{t}'")).unwrap_or_default();
    c.iq(
        "get",
        Some(SERVICE),
        &format!("<request xmlns='{NS}' filename='{filename}' size='{size}'{ct}/>"),
    )
    .await
}

/// A granted slot: the PUT and GET paths on the HTTP listener.
struct Granted {
    put: String,
    get: String,
}

/// Asks for a slot and expects one; URLs must name this node's listener.
async fn slot(c: &mut Client, port: u16, name: &str, size: u64, ct: Option<&str>) -> Granted {
    let r = request(c, name, size, ct).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let s = r.get_child("slot", NS).unwrap_or_else(|| panic!("no <slot/>: {}", xml(&r)));
    let base = format!("http://127.0.0.1:{port}/upload/");
    let url = |n: &str| {
        let u = s.get_child(n, NS).and_then(|e| e.attr("url")).unwrap_or_default().to_string();
        assert!(u.starts_with(&base), "{n} url {u} does not start with {base}");
        u[base.len() - "/upload/".len()..].to_string()
    };
    Granted { put: url("put"), get: url("get") }
}

async fn put(port: u16, g: &Granted, ct: Option<&str>, body: &[u8]) -> Http {
    let len = body.len().to_string();
    let mut h = vec![("Content-Length", len.as_str())];
    if let Some(t) = ct {
        h.push(("Content-Type", t));
    }
    http(port, "PUT", &g.put, &h, body).await
}

#[tokio::test]
async fn disco_lists_the_service_with_its_size_limit() {
    let (server, _port) = start("max_file_bytes = 5000\nquota_bytes_per_user = 20000").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = alice
        .iq_result("get", Some(DOMAIN), "<query xmlns='http://jabber.org/protocol/disco#items'/>")
        .await;
    let items = r.get_child("query", "http://jabber.org/protocol/disco#items").expect("query");
    assert!(
        items.children().any(|i| i.attr("jid") == Some(SERVICE)),
        "upload service not listed: {}",
        xml(&r)
    );
    let r = alice
        .iq_result("get", Some(SERVICE), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    assert_eq!(r.attr("from"), Some(SERVICE));
    let q = r.children().next().expect("query");
    assert_eq!(
        q.to_xml(),
        "<query xmlns='http://jabber.org/protocol/disco#info'>\
         <identity category='store' type='file' name='HTTP File Upload'/>\
         <feature var='http://jabber.org/protocol/disco#info'/>\
         <feature var='urn:xmpp:http:upload:0'/>\
         <x xmlns='jabber:x:data' type='result'>\
         <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>\
         <field var='max-file-size'><value>5000</value></field></x></query>"
    );
    // No such service without an HTTP listener.
    let plain = TestServer::start().await;
    let b = plain.new_user("bob").await;
    let mut bob = plain.login(&b, "r").await;
    let r = bob
        .iq("get", Some(SERVICE), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    assert_stanza_error(&r, "iq", &["remote-server-not-found"]);
}

#[tokio::test]
async fn put_then_get_returns_the_same_bytes_with_browser_headers() {
    let (server, port) = start("").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let g = slot(&mut alice, port, "très cool.txt", bytes.len() as u64, Some("text/plain")).await;
    assert!(g.get.ends_with("/tr%C3%A8s%20cool.txt"), "{}", g.get);
    assert!(g.put.starts_with(&format!("{}?", g.get)), "put {} get {}", g.put, g.get);
    let r = put(port, &g, Some("text/plain"), &bytes).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = http(port, "GET", &g.get, &[], b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body == bytes, "GET returned other bytes ({} long)", r.body.len());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("100000"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename*=UTF-8''tr%C3%A8s%20cool.txt")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = http(port, "HEAD", &g.get, &[], b"").await;
    assert_eq!((r.status, r.header("content-length")), (200, Some("100000")), "{r:?}");
    // The slot is used: a second PUT is a conflict, and the file is unchanged.
    let r = put(port, &g, Some("text/plain"), &bytes).await;
    assert_eq!(r.status, 409, "{r:?}");
    // A browser's preflight for a cross-origin PUT.
    let r = http(
        port,
        "OPTIONS",
        &g.put,
        &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "PUT")],
        b"",
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD, PUT, OPTIONS"));
    assert_eq!(r.header("access-control-allow-headers"), Some("Content-Type"));
    // Images are shown inline; no content type is served as octet-stream.
    let g = slot(&mut alice, port, "p.png", 3, Some("image/png")).await;
    assert_eq!(put(port, &g, Some("image/png"), b"PNG").await.status, 201);
    let r = http(port, "GET", &g.get, &[], b"").await;
    assert_eq!(r.header("content-disposition"), Some("inline; filename*=UTF-8''p.png"));
    let g = slot(&mut alice, port, "blob", 2, None).await;
    assert_eq!(put(port, &g, Some("application/x-whatever"), b"ab").await.status, 201);
    let r = http(port, "GET", &g.get, &[], b"").await;
    assert_eq!(
        (r.header("content-type"), r.body.as_slice()),
        (Some("application/octet-stream"), &b"ab"[..])
    );
    // Unknown ids and wrong names are 404.
    let r = http(port, "GET", "/upload/AAAAAAAAAAAAAAAAAAAAAA/x", &[], b"").await;
    assert_eq!(r.status, 404, "{r:?}");
    let wrong_name = format!("{}/other.txt", g.get.rsplit_once('/').expect("path").0);
    assert_eq!(http(port, "GET", &wrong_name, &[], b"").await.status, 404);
}

#[tokio::test]
async fn too_large_files_are_refused_at_the_slot_and_at_the_put() {
    let (server, port) = start("max_file_bytes = 1000").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = request(&mut alice, "big.bin", 1001, None).await;
    let err = assert_stanza_error(&r, "iq", &["not-acceptable"]);
    assert_eq!(err.attr("type"), Some("modify"));
    let app = err.get_child("file-too-large", NS).unwrap_or_else(|| panic!("{}", xml(&r)));
    assert_eq!(
        app.to_xml(),
        "<file-too-large xmlns='urn:xmpp:http:upload:0'><max-file-size>1000</max-file-size>\
         </file-too-large>"
    );
    // A PUT announcing more than its slot is refused before any of the body is sent: only
    // the head goes out, and the answer comes at once.
    let g = slot(&mut alice, port, "ok.bin", 1000, None).await;
    let started = Instant::now();
    let r = http(port, "PUT", &g.put, &[("Content-Length", "1073741824")], b"").await;
    assert_eq!(r.status, 413, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "413 took {:?}", started.elapsed());
    // The slot is still good for the right size.
    assert_eq!(put(port, &g, None, &[7u8; 1000]).await.status, 201);
}

#[tokio::test]
async fn wrong_size_type_or_body_is_refused_and_the_slot_stays_usable() {
    let (server, port) = start("").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let g = slot(&mut alice, port, "a.txt", 10, Some("text/plain")).await;
    let r = put(port, &g, Some("text/plain"), b"only9byte").await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = http(port, "PUT", &g.put, &[("Content-Type", "text/plain")], b"").await;
    assert_eq!(r.status, 411, "no Content-Length: {r:?}");
    let r = put(port, &g, Some("text/html"), b"0123456789").await;
    assert_eq!(r.status, 400, "other content type: {r:?}");
    // A body cut short: nothing is stored.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n01234",
        g.put
    );
    tcp.write_all(head.as_bytes()).await.expect("send");
    drop(tcp);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(http(port, "GET", &g.get, &[], b"").await.status, 404);
    let r = put(port, &g, Some("text/plain"), b"0123456789").await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(http(port, "GET", &g.get, &[], b"").await.body, b"0123456789");
}

#[tokio::test]
async fn bad_signatures_and_expired_slots_are_forbidden() {
    let (server, port) = start("slot_ttl_s = 1").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let g = slot(&mut alice, port, "a.bin", 4, None).await;
    let (path, query) = g.put.split_once('?').expect("query");
    let mut tampered: Vec<Granted> = Vec::new();
    // Another size, another owner, another name, a broken signature, no signature.
    let size = query.replace("s=4", "s=3");
    tampered.push(Granted { put: format!("{path}?{size}"), get: String::new() });
    let owner = query.replace("o=", "o=mallory");
    tampered.push(Granted { put: format!("{path}?{owner}"), get: String::new() });
    let name = format!("{}/b.bin?{query}", path.rsplit_once('/').expect("/").0);
    tampered.push(Granted { put: name, get: String::new() });
    let sig = query.rsplit_once("sig=").expect("sig").1;
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    tampered.push(Granted {
        put: format!(
            "{path}?{}",
            query.replacen(&format!("sig={}", &sig[..1]), &format!("sig={flipped}"), 1)
        ),
        get: String::new(),
    });
    let unsigned = query.rsplit_once("&sig=").expect("sig").0;
    tampered.push(Granted { put: format!("{path}?{unsigned}"), get: String::new() });
    tampered.push(Granted { put: path.to_string(), get: String::new() });
    for t in &tampered {
        let body: &[u8] = if t.put.contains("s=3") { b"abc" } else { b"abcd" };
        let r = put(port, t, None, body).await;
        assert_eq!(r.status, 403, "{}: {r:?}", t.put);
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = put(port, &g, None, b"abcd").await;
    assert_eq!(r.status, 403, "expired slot: {r:?}");
    assert_eq!(String::from_utf8_lossy(&r.body), "slot expired\n");
}

#[tokio::test]
async fn quota_is_counted_per_account() {
    let (server, port) = start("max_file_bytes = 1000\nquota_bytes_per_user = 1000").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let g = slot(&mut alice, port, "a.bin", 600, None).await;
    // A second slot is granted while the first is not stored yet, but only one fits.
    let g2 = slot(&mut alice, port, "b.bin", 600, None).await;
    assert_eq!(put(port, &g, None, &[1u8; 600]).await.status, 201);
    let r = put(port, &g2, None, &[2u8; 600]).await;
    assert_eq!(r.status, 413, "over quota at PUT: {r:?}");
    let r = request(&mut alice, "c.bin", 401, None).await;
    let err = assert_stanza_error(&r, "iq", &["resource-constraint"]);
    assert_eq!(err.attr("type"), Some("wait"), "{}", xml(&r));
    // 400 still fit, and another account has its own quota.
    slot(&mut alice, port, "d.bin", 400, None).await;
    let b = server.new_user("bob").await;
    let mut bob = server.login(&b, "r").await;
    slot(&mut bob, port, "e.bin", 1000, None).await;
}

#[tokio::test]
async fn bad_slot_requests_get_bad_request() {
    let (server, _port) = start("").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    for (name, size, ct) in [
        ("a/b.txt", "5", ""),
        ("", "5", ""),
        ("..", "5", ""),
        ("a.txt", "0", ""),
        ("a.txt", "-1", ""),
        ("a.txt", "many", ""),
        ("a.txt", "5", " content-type='not a type'"),
    ] {
        let r = alice
            .iq(
                "get",
                Some(SERVICE),
                &format!("<request xmlns='{NS}' filename='{name}' size='{size}'{ct}/>"),
            )
            .await;
        let err = assert_stanza_error(&r, "iq", &["bad-request"]);
        assert_eq!(err.attr("type"), Some("modify"), "{name} {size}: {}", xml(&r));
    }
    let r = alice
        .iq("set", Some(SERVICE), &format!("<request xmlns='{NS}' filename='a' size='1'/>"))
        .await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
    let r = alice.iq("get", Some(SERVICE), "<query xmlns='jabber:iq:version'/>").await;
    assert_stanza_error(&r, "iq", &["service-unavailable"]);
}

#[tokio::test]
async fn expired_files_are_swept_and_give_their_quota_back() {
    // 0.00002 days is 1.728 s; the sweeper looks every second.
    let (server, port) = start(
        "max_file_bytes = 1000\nquota_bytes_per_user = 1000\nexpiry_days = 0.00002\nsweep_interval_s = 1",
    )
    .await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let g = slot(&mut alice, port, "a.bin", 1000, None).await;
    assert_eq!(put(port, &g, None, &[3u8; 1000]).await.status, 201);
    assert_eq!(http(port, "GET", &g.get, &[], b"").await.status, 200);
    let r = request(&mut alice, "b.bin", 1, None).await;
    assert_stanza_error(&r, "iq", &["resource-constraint"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http(port, "GET", &g.get, &[], b"").await;
        if r.status == 404 {
            break;
        }
        assert_eq!(r.status, 200, "{r:?}");
        assert!(Instant::now() < deadline, "file not swept after 15 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    slot(&mut alice, port, "c.bin", 1000, None).await;
    let files: Vec<_> = walk(&server.dir.path().join("data/upload"));
    assert!(files.is_empty(), "files left on disk: {files:?}");
}

/// Regular files under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Two cluster nodes (one NATS server, one PostgreSQL database, one secret), each with an HTTP
/// listener; returns them with their HTTP ports.
async fn start_cluster(upload: &str) -> (Nats, tempfile::TempDir, Vec<(TestServer, u16)>) {
    let nats = Nats::start();
    let url = shared_postgres().create_database("e2e_upload").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("cluster.secret");
    std::fs::write(&secret, format!("{}\n", unique("upload-cluster-secret"))).expect("secret");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let mut nodes = Vec::new();
    for i in 1..=2 {
        let mut last_err = String::new();
        let mut started = None;
        for _attempt in 0..3 {
            let http = free_port();
            let builder = ServerBuilder::new()
                .listeners(&[TlsMode::None])
                .general(&format!("node_name = \"node{i}\""))
                .extra(&postgres_storage(&url))
                .extra(&format!("[[listen.http]]\nport = {http}\n"))
                .extra(&format!("[modules.http_upload]\n{upload}\n"))
                .extra(&format!(
                    "[cluster]\nenabled = true\nname = \"e2eup\"\nsecret_file = \"{}\"\n\
                     nats_urls = [\"{}\"]\nheartbeat_ms = 200\nnode_timeout_ms = 1000\n",
                    secret.display(),
                    nats.url()
                ));
            match TestServer::try_start(&builder).await {
                Ok(node) => {
                    started = Some((node, http));
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        nodes.push(started.unwrap_or_else(|| panic!("node{i} did not start: {last_err}")));
    }
    (nats, dir, nodes)
}

/// In a cluster: a slot signed by one node is accepted by any (cluster secret), the file is
/// served by the node that stored it only, and the quota counts the files on every node.
#[tokio::test]
async fn cluster_slots_verify_on_any_node_and_quota_is_cluster_wide() {
    let (_nats, _dir, nodes) =
        start_cluster("max_file_bytes = 1000\nquota_bytes_per_user = 1000").await;
    let ((n1, h1), (n2, h2)) = (&nodes[0], &nodes[1]);
    let a = n1.new_user("alice").await;
    let mut on1 = n1.login(&a, "one").await;
    let mut on2 = n2.login(&a, "two").await;
    let g = slot(&mut on1, *h1, "a.bin", 600, None).await;
    assert_eq!(put(*h1, &g, None, &[1u8; 600]).await.status, 201);
    assert_eq!(http(*h1, "GET", &g.get, &[], b"").await.body, vec![1u8; 600]);
    assert_eq!(http(*h2, "GET", &g.get, &[], b"").await.status, 404, "bytes are on node1");
    // The quota is shared: node2 sees node1's 600 bytes.
    let r = request(&mut on2, "b.bin", 500, None).await;
    assert_stanza_error(&r, "iq", &["resource-constraint"]);
    // A slot made by node2 (its URL names node2) verifies on node1 too.
    let g = slot(&mut on2, *h2, "c.bin", 400, None).await;
    assert_eq!(put(*h1, &g, None, &[2u8; 400]).await.status, 201);
    assert_eq!(http(*h1, "GET", &g.get, &[], b"").await.body, vec![2u8; 400]);
    let r = request(&mut on1, "d.bin", 1, None).await;
    assert_stanza_error(&r, "iq", &["resource-constraint"]);
}
