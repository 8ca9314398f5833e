//! Account subscriptions: one NATS subscription per locally bound account (NATS itself is
//! the session directory, see `docs/cluster.md`), carried by a second NATS connection of our
//! own.
//!
//! Why hand-written: async-nats (0.42) gives every `Subscriber` its own tokio mpsc channel,
//! and tokio allocates a channel's first block eagerly: 32 slots of `async_nats::Message`
//! (184 bytes) ≈ 5.9 KB per subscription before any message, plus the client's bookkeeping
//! and our per-subscription stream. Measured, that made a clustered session cost ~11 KiB of
//! RSS against ~3-4 KiB standalone (BENCHMARKS.md, "Issue 5"). This connection keeps only a
//! `sid -> account` map and its reverse, and hands each MSG straight to the cluster's
//! account-message handling. Everything else (publishing, requests, acks, heartbeats) stays
//! on the main async-nats client.
//!
//! Modules: [`proto`] parses and writes the protocol, [`server_url`] reads `nats://` URLs,
//! [`table`] holds the subscriptions and queued commands, [`conn`] runs the connection, and
//! [`fallback`] subscribes through the main client when a `tls://` URL is configured (this
//! connection does not speak TLS).

mod conn;
mod fallback;
pub mod proto;
pub mod server_url;
mod table;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::cluster::Stats;
use crate::subjects::Subjects;
use server_url::ServerUrl;
use table::{Added, Table};

/// Where account messages go.
pub(crate) trait Deliver: Send + Sync + 'static {
    /// One message on an account subject, with its reply subject if any.
    fn deliver(&self, payload: Bytes, reply: Option<String>) -> impl Future<Output = ()> + Send;
}

/// Longest [`AccountSubs::subscribe`] waits for NATS to confirm a new subscription.
const CONFIRM_WAIT: Duration = Duration::from_secs(5);

enum Backend {
    /// The connection's settings until [`AccountSubs::spawn`] takes them.
    Wire(std::sync::Mutex<Option<conn::Config>>),
    Client(fallback::ClientSubs),
}

/// Reference-counted account subscriptions.
pub(crate) struct AccountSubs {
    table: Arc<Table>,
    subjects: Subjects,
    backend: Backend,
}

impl AccountSubs {
    /// Subscriptions over their own connection to `urls`; through `client` if any URL is
    /// `tls://`. Nothing connects before [`AccountSubs::spawn`].
    pub fn new(
        urls: &[String],
        node: &str,
        subjects: Subjects,
        client: &async_nats::Client,
        stats: Arc<Stats>,
    ) -> Result<AccountSubs, String> {
        let backend = if urls.iter().any(|u| u.starts_with("tls://")) {
            Backend::Client(fallback::ClientSubs::new(client.clone()))
        } else {
            let urls = urls
                .iter()
                .map(|u| ServerUrl::parse(u).ok_or_else(|| format!("NATS URL {u:?} is not usable")))
                .collect::<Result<Vec<_>, _>>()?;
            Backend::Wire(std::sync::Mutex::new(Some(conn::Config {
                urls,
                name: format!("meerkat {node} accounts"),
                node: node.to_owned(),
                subjects: subjects.clone(),
                stats,
                ping_interval: conn::PING_INTERVAL,
            })))
        };
        Ok(AccountSubs { table: Arc::new(Table::default()), subjects, backend })
    }

    /// Starts the task that receives account messages and hands them to `deliver`.
    pub fn spawn<D: Deliver>(&self, deliver: Arc<D>) -> Option<JoinHandle<()>> {
        match &self.backend {
            Backend::Wire(cfg) => {
                let cfg = cfg.lock().unwrap_or_else(|e| e.into_inner()).take()?;
                Some(tokio::spawn(conn::run(self.table.clone(), cfg, deliver)))
            }
            Backend::Client(c) => c.spawn(deliver),
        }
    }

    /// Takes a reference on `account` (normalised bare JID); the first one subscribes, and
    /// returns once NATS has applied the SUB when connected (a PING/PONG round trip after
    /// it), at once when not (the connection subscribes every account when it is back).
    pub async fn subscribe(&self, account: &str) -> Result<(), String> {
        let added = self.table.lock().add(account, || self.subjects.account(account));
        let Added::New { sid, subject, confirm } = added else { return Ok(()) };
        if let Some(confirm) = confirm {
            self.table.wake.notify_one();
            return match tokio::time::timeout(CONFIRM_WAIT, confirm).await {
                // Lost the connection meanwhile: the next one subscribes it.
                Ok(_) => Ok(()),
                Err(_) => Err("NATS did not confirm the subscription in time".into()),
            };
        }
        match &self.backend {
            Backend::Client(c) => {
                c.subscribe(sid, subject).await.inspect_err(|_| self.unsubscribe(account))
            }
            Backend::Wire(_) => Ok(()),
        }
    }

    /// Releases a reference; the last one unsubscribes.
    pub fn unsubscribe(&self, account: &str) {
        let Some(sid) = self.table.lock().remove(account) else { return };
        match &self.backend {
            Backend::Wire(_) => self.table.wake.notify_one(),
            Backend::Client(c) => c.unsubscribe(sid),
        }
    }

    /// Whether `account` (normalised bare JID) is subscribed.
    pub fn holds(&self, account: &str) -> bool {
        self.table.lock().holds(account)
    }

    /// Number of subscribed accounts.
    pub fn count(&self) -> usize {
        self.table.lock().len()
    }

    /// Whether the subscription connection is up (always, through the main client).
    pub fn is_connected(&self) -> bool {
        match &self.backend {
            Backend::Wire(_) => self.table.connected.load(Ordering::Acquire),
            Backend::Client(_) => true,
        }
    }
}
