//! Interop: slixmpp's XEP-0198 plugin resumes a session after its TCP connection is cut
//! (`tests/interop/slixmpp_sm_resume.py`). Client A talks to the node through a TCP proxy in
//! this test; when the script prints `CUT`, the proxy drops every connection it carries (no
//! stream close, as when a phone changes networks) and answers `CUT_DONE`. The script checks
//! that A resumes and gets every message B sent before, during and after the cut exactly
//! once, in order.

use crate::common::{TestServer, DOMAIN};
use crate::interop::python_with_slixmpp;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to `upstream` whose connections can all be dropped at once.
struct CutProxy {
    port: u16,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CutProxy {
    async fn start(upstream: u16) -> CutProxy {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = l.local_addr().expect("proxy addr").port();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let c2 = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = l.accept().await {
                let task = tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                });
                c2.lock().expect("proxy list").push(task);
            }
        });
        CutProxy { port, conns, accept }
    }

    /// Drops both sockets of every proxied connection.
    fn cut(&self) -> usize {
        let list = std::mem::take(&mut *self.conns.lock().expect("proxy list"));
        let n = list.len();
        for t in list {
            t.abort();
        }
        n
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test]
async fn slixmpp_resumes_after_a_tcp_cut_and_gets_every_message_once_in_order() {
    let python = python_with_slixmpp().unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
    // slixmpp tries four SCRAM variants before PLAIN on every login (see interop.rs); A logs in
    // twice here.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let proxy = CutProxy::start(server.port()).await;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/slixmpp_sm_resume.py");
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(&script)
        .args(["--port", &server.port().to_string(), "--proxy-port", &proxy.port.to_string()])
        .args(["--domain", DOMAIN, "--timeout", "30", "--count", "10"])
        .args(["--user1", &a.name, "--password1", &a.password])
        .args(["--user2", &b.name, "--password2", &b.password])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let err_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut s).await;
        s
    });
    let mut lines = BufReader::new(stdout).lines();
    let mut out = String::new();
    let mut cuts = 0;
    let run = async {
        while let Ok(Some(line)) = lines.next_line().await {
            out.push_str(&line);
            out.push('\n');
            if line == "CUT" {
                cuts = proxy.cut();
                stdin.write_all(b"CUT_DONE\n").await.expect("answer the script");
                stdin.flush().await.expect("flush");
            }
        }
        child.wait().await
    };
    let status = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| {
            panic!("{} did not finish within 90 s; output:\n{out}", script.display())
        })
        .expect("wait for the script");
    let stderr = err_task.await.unwrap_or_default();
    assert!(
        status.success(),
        "slixmpp SM interop failed ({status}):\n--- stdout ---\n{out}\n--- stderr ---\n{stderr}\n\
         --- node log ---\n{}",
        server.log()
    );
    assert_eq!(cuts, 1, "exactly A's connection went through the proxy:\n{out}");
    assert!(out.contains("A resumed"), "{out}");
    // The node retransmitted at least the 10 messages sent while A was away.
    let log = server.log();
    let retransmitted = log
        .lines()
        .find(|l| l.contains("session_resumed"))
        .and_then(|l| l.split("retransmitted=").nth(1))
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no session_resumed line in the node log:\n{log}"));
    assert!(retransmitted >= 10, "retransmitted {retransmitted}:\n{log}");
}
