//! The accept loop shared by the c2s and HTTP listeners: binding with a backlog, a connection
//! cap, and back-off when the process runs out of descriptors.

use crate::server::ServerRef;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Binds a listener socket with the given backlog.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(backlog)
}

/// Accepts connections for one listener, at most `max_connections` at a time.
pub struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    last_error_log: Option<Instant>,
}

impl Acceptor {
    /// Wraps a bound listener.
    pub fn new(listener: TcpListener, max_connections: usize) -> Self {
        Acceptor {
            listener,
            slots: Arc::new(Semaphore::new(max_connections)),
            last_error_log: None,
        }
    }

    /// The next connection with its slot (held until the connection ends), or `None` at
    /// shutdown.
    pub async fn next(
        &mut self,
        server: &ServerRef,
    ) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
        loop {
            // Waiting for a slot before accepting leaves excess clients in the kernel backlog
            // instead of accepting sockets we cannot serve.
            let permit = tokio::select! {
                p = self.slots.clone().acquire_owned() => p.ok()?,
                _ = server.shutdown.cancelled() => return None,
            };
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = server.shutdown.cancelled() => return None,
            };
            match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    return Some((tcp, peer, permit));
                }
                Err(e) => {
                    crate::metrics::get().accept_errors.increment(1);
                    // Out of descriptors (EMFILE/ENFILE) or kernel memory: existing sessions
                    // keep running; we pause accepting, and log at most once a second.
                    let now = Instant::now();
                    if self
                        .last_error_log
                        .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
                    {
                        self.last_error_log = Some(now);
                        if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                            tracing::error!(what = "accept_emfile", error = %e, sessions = server.sessions.len(),
                                "out of file descriptors: not accepting for 100 ms; raise the open-file limit");
                        } else {
                            tracing::warn!(what = "accept_failed", error = %e);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}
