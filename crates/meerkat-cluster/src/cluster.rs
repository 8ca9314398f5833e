//! The [`Cluster`] handle: one NATS connection per node, account subscriptions with reference
//! counting, request/ack stanza delivery, the inbound queue and membership by heartbeats.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::{Client, ConnectOptions, Event, Message, RequestErrorKind, ServerAddr};
use bytes::Bytes;
use futures_util::stream::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::envelope::{AccountState, AckStatus, Body, BoshStatus, Envelope, Keys, Limits};
use crate::member::{Member, MemberEvent, MemberTable};
use crate::nats_subs::{AccountSubs, Deliver};
use crate::settings::Settings;
use crate::subjects::{node_tag, normalise_bare, Subjects};

/// What became of a stanza sent with [`Cluster::send_stanza`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A node holding the account took it over.
    Delivered {
        /// The node that acknowledged it.
        by_node: String,
    },
    /// No node holds the account (NATS answered "no responders"): apply the offline rules.
    NoResponders,
    /// No acknowledgement within `request_timeout` (holder died mid-flight, NATS unreachable):
    /// store offline (at-least-once).
    TimedOut,
    /// The holder's inbound queue was full: store offline.
    Refused {
        /// The node that refused it.
        by_node: String,
    },
}

/// Where the answer to a request from another node goes. Two are never equal (each is one
/// request).
#[derive(Debug)]
pub struct Reply<T>(pub oneshot::Sender<T>);

impl<T> PartialEq for Reply<T> {
    fn eq(&self, _: &Self) -> bool {
        false
    }
}

impl<T> Eq for Reply<T> {}

/// Where the answer to a [`Inbound::Resume`] goes.
pub type ResumeReply = Reply<Bytes>;

/// What became of a BOSH request forwarded with [`Cluster::forward_bosh`]; also what the
/// server answers to an [`Inbound::Bosh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoshOutcome {
    /// The holding node's answer: the `<body/>` of the HTTP response.
    Answered(Bytes),
    /// No session with that sid there, or no answer at all (the node is gone, NATS is down,
    /// or the answer did not come in time).
    Unknown,
    /// The node is serving as many forwarded requests as it takes: try again.
    Busy,
}

/// Where the answer to an [`Inbound::Bosh`] goes.
pub type BoshReply = Reply<BoshOutcome>;

/// How much longer than the holder's longest hold a forwarding node waits for the answer:
/// the time for the answer to travel back.
pub const BOSH_MARGIN: Duration = Duration::from_secs(5);

/// Most forwarded BOSH requests a node serves at once; more are answered Busy.
pub const MAX_BOSH_FORWARDED: usize = 4096;

/// A verified envelope from another node, for the server to act on.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Deliver to the local resources of `to` (already acknowledged: if they are gone, the
    /// server applies the offline rules itself).
    Stanza {
        /// Sending node.
        from_node: String,
        /// Recipient JID as routed.
        to: String,
        /// Serialised stanza.
        xml: Bytes,
    },
    /// `from_node` bound its first resource of the account: update the view and answer with
    /// [`Cluster::publish_state`] if this node holds resources of it.
    Hello {
        /// Sending node.
        from_node: String,
        /// Its resources of the account.
        state: AccountState,
    },
    /// `from_node`'s resources of the account changed.
    State {
        /// Sending node.
        from_node: String,
        /// Its resources of the account now.
        state: AccountState,
    },
    /// Close the local session of `full_jid` if it was bound before `bound_at` (`<conflict/>`).
    Kick {
        /// Sending node.
        from_node: String,
        /// Full JID bound on the other node.
        full_jid: String,
        /// Its bind time there.
        bound_at: u64,
    },
    /// A client resumes on `from_node` a session of `account` (XEP-0198): if it is this
    /// node's, send its state through `reply` (empty when it is gone); drop `reply` to stay
    /// silent (another holder of the account will answer).
    Resume {
        /// Sending node.
        from_node: String,
        /// Bare JID of the session.
        account: String,
        /// Resumption id the client gave.
        previd: String,
        /// Where the answer goes.
        reply: ResumeReply,
    },
    /// An HTTP request of a BOSH session, forwarded by the node it reached because the sid
    /// names this node: process it as if it had arrived here and send the answer through
    /// `reply` within `wait` (dropping `reply` answers Unknown).
    Bosh {
        /// Sending node.
        from_node: String,
        /// The session id.
        sid: String,
        /// Longest the sender waits for a held request's answer.
        wait: Duration,
        /// The body was over the sender's size limit: `body` is its first part only.
        truncated: bool,
        /// The request body.
        body: Bytes,
        /// Where the answer goes.
        reply: BoshReply,
    },
}

/// Longest a resuming node waits for the old session's state (the holder may first wait for
/// an attached connection to let go of it, see the server's take-over wait).
pub const RESUME_WAIT: Duration = Duration::from_secs(7);

/// Errors of the cluster handle.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Settings are unusable.
    #[error("invalid cluster settings: {0}")]
    Settings(String),
    /// The NATS client could not be set up.
    #[error("NATS connection: {0}")]
    Connect(String),
    /// NATS refused a subscription (connection closed).
    #[error("NATS subscribe: {0}")]
    Subscribe(String),
    /// NATS refused a publish (connection closed).
    #[error("NATS publish: {0}")]
    Publish(String),
    /// An envelope field exceeds the configured limits.
    #[error("envelope exceeds the cluster limits")]
    TooLarge,
}

/// Counters, for metrics and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Envelopes rejected because their tag did not verify (wrong secret, tampering).
    pub bad_tag: AtomicU64,
    /// Envelopes with a valid tag that did not parse, or of a kind unexpected on the subject.
    pub malformed: AtomicU64,
    /// Inbound envelopes dropped (stanzas: refused with a Busy ack) because the queue was full.
    pub inbound_overflow: AtomicU64,
    /// Stanzas received for an account this node does not hold (hash collision or race).
    pub not_held: AtomicU64,
    /// Times the NATS connection was lost.
    pub disconnects: AtomicU64,
    /// Times the NATS connection was (re-)established.
    pub connects: AtomicU64,
    /// Times the account subscription connection was lost.
    pub subs_disconnects: AtomicU64,
    /// Times the account subscription connection was (re-)established, every account
    /// subscribed.
    pub subs_connects: AtomicU64,
    /// `-ERR` from NATS and protocol violations on the account subscription connection.
    pub subs_protocol_errors: AtomicU64,
    /// Heartbeats of new nodes ignored because the member table was full.
    pub members_overflow: AtomicU64,
}

impl Stats {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

struct Shared {
    client: Client,
    subjects: Subjects,
    keys: Keys,
    limits: Limits,
    node: String,
    /// [`node_tag`] of `node`.
    tag: String,
    admin_address: String,
    started_at: u64,
    request_timeout: Duration,
    subs: AccountSubs,
    members: Mutex<MemberTable>,
    events: broadcast::Sender<MemberEvent>,
    inbound: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    /// Permits for the forwarded BOSH requests being served.
    bosh_slots: Arc<Semaphore>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these short locks cannot leave them inconsistent: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Index of the heartbeat sender in `Inner::tasks`.
const HEARTBEAT_TASK: usize = 1;

struct Inner {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Handle to this node's cluster transport. Cheap to clone; dropping the last clone stops
/// the background tasks (heartbeats stop, so other nodes see this one go down).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Delay before reconnect attempt `attempts`: 0 for the first, then doubling from 100 ms up
/// to 5 s, with up to 25 % jitter so that nodes do not reconnect in lockstep.
pub fn reconnect_backoff(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let base = 100u64.saturating_mul(1u64 << (attempts - 2).min(16)).min(5_000);
    let jitter =
        u64::from(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()))
            % (base / 4 + 1);
    Duration::from_millis(base + jitter)
}

impl Cluster {
    /// Connects to NATS (in the background: the connection is retried forever with backoff,
    /// each disconnect and reconnect logged), subscribes to heartbeats and starts the
    /// heartbeat and dispatch tasks. Returns the handle and the inbound queue the server must
    /// drain (capacity `settings.inbound_capacity`).
    ///
    /// Overflow policy of the inbound queue: a stanza that does not fit is answered with a
    /// Busy ack, so its sender stores it offline (never lost); a Hello/State/Kick that does not
    /// fit is dropped and counted (`Stats::inbound_overflow`): state is re-sent at the next
    /// change. Must be called inside a Tokio runtime.
    pub async fn start(
        settings: Settings,
    ) -> Result<(Cluster, mpsc::Receiver<Inbound>), ClusterError> {
        settings.validate().map_err(ClusterError::Settings)?;
        let keys = Keys::derive(settings.secret.expose());
        let subjects = Subjects::new(&settings.cluster_name, keys.subject_key())
            .ok_or_else(|| ClusterError::Settings("invalid cluster name".into()))?;
        let addrs = settings
            .nats_urls
            .iter()
            .map(|u| {
                u.parse::<ServerAddr>()
                    .map_err(|e| ClusterError::Settings(format!("NATS URL {u:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stats = Arc::new(Stats::default());
        let ev_stats = stats.clone();
        let ev_node = settings.node_name.clone();
        let options = ConnectOptions::new()
            .name(format!("meerkat {}", settings.node_name))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_backoff)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let stats = ev_stats.clone();
                let node = ev_node.clone();
                async move {
                    match event {
                        Event::Connected => {
                            Stats::inc(&stats.connects);
                            tracing::info!(%node, "cluster: connected to NATS");
                        }
                        Event::Disconnected => {
                            Stats::inc(&stats.disconnects);
                            tracing::warn!(%node, "cluster: disconnected from NATS, reconnecting");
                        }
                        Event::SlowConsumer(sid) => {
                            tracing::warn!(%node, sid, "cluster: NATS slow consumer, messages dropped")
                        }
                        other => tracing::warn!(%node, "cluster: NATS event: {other}"),
                    }
                }
            });
        let client =
            options.connect(addrs).await.map_err(|e| ClusterError::Connect(e.to_string()))?;
        let hb_sub = client
            .subscribe(subjects.heartbeat())
            .await
            .map_err(|e| ClusterError::Subscribe(e.to_string()))?;
        let tag = node_tag(&settings.node_name);
        let bosh_sub = client
            .subscribe(subjects.bosh(&tag))
            .await
            .map_err(|e| ClusterError::Subscribe(e.to_string()))?;
        let subs = AccountSubs::new(
            &settings.nats_urls,
            &settings.node_name,
            subjects.clone(),
            &client,
            stats.clone(),
        )
        .map_err(ClusterError::Settings)?;
        let (inbound_tx, inbound_rx) = mpsc::channel(settings.inbound_capacity);
        let (events, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            client,
            subjects,
            keys,
            limits: settings.limits,
            node: settings.node_name.clone(),
            tag,
            admin_address: settings.admin_address.clone(),
            started_at: now_ms(),
            request_timeout: settings.request_timeout,
            subs,
            members: Mutex::new(MemberTable::new(
                &settings.node_name,
                settings.node_timeout,
                settings.max_members,
            )),
            events,
            inbound: inbound_tx,
            stats,
            bosh_slots: Arc::new(Semaphore::new(MAX_BOSH_FORWARDED)),
        });
        // Owned by the handle: aborted when the last clone is dropped.
        let mut tasks = vec![
            tokio::spawn(heartbeats_in(shared.clone(), hb_sub)),
            tokio::spawn(heartbeats_out(shared.clone(), settings.heartbeat)),
            tokio::spawn(bosh_in(shared.clone(), bosh_sub)),
        ];
        debug_assert!(tasks.len() > HEARTBEAT_TASK);
        tasks.extend(shared.subs.spawn(shared.clone()));
        tracing::info!(
            node = %settings.node_name,
            cluster = %settings.cluster_name,
            nats = ?settings.nats_urls,
            "cluster: started"
        );
        Ok((Cluster { inner: Arc::new(Inner { shared, tasks }) }, inbound_rx))
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        &self.shared().node
    }

    /// This node's tag ([`node_tag`]): the suffix of the ids it hands out.
    pub fn node_tag(&self) -> &str {
        &self.shared().tag
    }

    /// Start time of this run (ms since the epoch), as its heartbeats announce it: other
    /// nodes' `NodeDown` names the run that went down by it.
    pub fn started_at(&self) -> u64 {
        self.shared().started_at
    }

    /// Subject names of this cluster.
    pub fn subjects(&self) -> &Subjects {
        &self.shared().subjects
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.shared().stats
    }

    /// Whether both NATS connections are up: the main one and the account subscription one
    /// (every account subscribed again after a reconnect).
    pub fn is_connected(&self) -> bool {
        self.shared().client.connection_state() == async_nats::connection::State::Connected
            && self.shared().subs.is_connected()
    }

    /// Number of accounts this node is subscribed to.
    pub fn account_count(&self) -> usize {
        self.shared().subs.count()
    }

    /// Starts receiving stanzas for `bare` (call at each resource bind; reference counted:
    /// only the first call subscribes on NATS). While connected, the first call returns once
    /// NATS has applied the subscription (a PING/PONG round trip on the subscription
    /// connection), so what this node publishes next (a Hello) cannot be answered before it
    /// can hear the answer. While disconnected it returns at once and the account is
    /// subscribed on reconnect: meanwhile stanzas from other nodes go to offline storage, so
    /// the server should deliver offline messages after this returns (RFC 6121 does so at
    /// initial presence, which follows the bind).
    pub async fn subscribe_account(&self, bare: &str) -> Result<(), ClusterError> {
        self.shared().subs.subscribe(&normalise_bare(bare)).await.map_err(ClusterError::Subscribe)
    }

    /// Releases one reference taken by [`Cluster::subscribe_account`] (call at each resource
    /// unbind); the last one unsubscribes on NATS.
    pub fn unsubscribe_account(&self, bare: &str) {
        self.shared().subs.unsubscribe(&normalise_bare(bare));
    }

    /// Publishes a stanza for `to` (full or bare JID) as a request on the account's subject and
    /// waits for the holder's acknowledgement, at most `request_timeout`. The caller's session
    /// should not await this on its own loop: spawn it (see [`Cluster::spawn_stanza`]).
    pub async fn send_stanza(&self, to: &str, xml: Bytes) -> Result<Delivery, ClusterError> {
        let s = self.shared();
        let env =
            Envelope { sender: s.node.clone(), body: Body::Stanza { to: to.to_owned(), xml } };
        let payload = env.encode(&s.keys, &s.limits).map_err(|_| ClusterError::TooLarge)?;
        let request = async_nats::Request::new().payload(payload).timeout(Some(s.request_timeout));
        let reply = match s.client.send_request(s.subjects.account(to), request).await {
            Ok(m) => m,
            Err(e) => {
                return Ok(match e.kind() {
                    RequestErrorKind::NoResponders => Delivery::NoResponders,
                    RequestErrorKind::TimedOut => Delivery::TimedOut,
                    RequestErrorKind::Other => {
                        tracing::debug!("cluster: request failed: {e}");
                        Delivery::TimedOut
                    }
                });
            }
        };
        Ok(match s.open(&reply.payload) {
            Some(Envelope { sender, body: Body::Ack(AckStatus::Accepted) }) => {
                Delivery::Delivered { by_node: sender }
            }
            Some(Envelope { sender, body: Body::Ack(AckStatus::Busy) }) => {
                Delivery::Refused { by_node: sender }
            }
            Some(_) => {
                Stats::inc(&s.stats.malformed);
                Delivery::TimedOut
            }
            None => Delivery::TimedOut,
        })
    }

    /// Asks the holders of `account` for the session `previd` a client resumes here
    /// (XEP-0198): its serialised state, `None` when no node has it (nobody answered within
    /// [`RESUME_WAIT`], or the owner answered that it is gone).
    pub async fn request_resume(&self, account: &str, previd: &str) -> Option<Bytes> {
        let s = self.shared();
        let env = Envelope {
            sender: s.node.clone(),
            body: Body::Resume { account: account.to_owned(), previd: previd.to_owned() },
        };
        let payload = env.encode(&s.keys, &s.limits).ok()?;
        let request = async_nats::Request::new().payload(payload).timeout(Some(RESUME_WAIT));
        let reply = match s.client.send_request(s.subjects.account(account), request).await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("cluster: resume request: {e}");
                return None;
            }
        };
        match s.open(&reply.payload) {
            Some(Envelope { body: Body::Session { state }, .. }) if !state.is_empty() => {
                Some(state)
            }
            _ => None,
        }
    }

    /// Sends a BOSH request to the node tagged `tag`, which holds session `sid`, and waits for
    /// its answer: at most `wait` (the longest it may hold the request) plus [`BOSH_MARGIN`],
    /// or until that node is seen down. A node that is gone, does not hold the session or does
    /// not answer in time: Unknown.
    pub async fn forward_bosh(
        &self,
        tag: &str,
        sid: &str,
        body: Bytes,
        truncated: bool,
        wait: Duration,
    ) -> BoshOutcome {
        let s = self.shared();
        let wait_ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        let env = Envelope {
            sender: s.node.clone(),
            body: Body::BoshRequest { sid: sid.to_owned(), wait_ms, truncated, body },
        };
        let Ok(payload) = env.encode(&s.keys, &s.limits) else { return BoshOutcome::Unknown };
        let timeout = Duration::from_millis(u64::from(wait_ms)).saturating_add(BOSH_MARGIN);
        let request = async_nats::Request::new().payload(payload).timeout(Some(timeout));
        // A node killed while holding the request never answers, and NATS does not say so:
        // its heartbeats stopping does.
        let mut events = self.member_events();
        let down = async move {
            loop {
                match events.recv().await {
                    Ok(MemberEvent::NodeDown { node, .. }) if node_tag(&node) == tag => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        };
        let reply = tokio::select! {
            r = s.client.send_request(s.subjects.bosh(tag), request) => match r {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(tag, "cluster: BOSH request not answered: {e}");
                    return BoshOutcome::Unknown;
                }
            },
            () = down => {
                tracing::debug!(tag, "cluster: BOSH request's node went down");
                return BoshOutcome::Unknown;
            }
        };
        match s.open(&reply.payload) {
            Some(Envelope { body: Body::BoshAnswer { status, body }, .. }) => match status {
                BoshStatus::Answered => BoshOutcome::Answered(body),
                BoshStatus::Unknown => BoshOutcome::Unknown,
                BoshStatus::Busy => BoshOutcome::Busy,
            },
            Some(_) => {
                Stats::inc(&s.stats.malformed);
                BoshOutcome::Unknown
            }
            None => BoshOutcome::Unknown,
        }
    }

    /// [`Cluster::send_stanza`] in its own task.
    pub fn spawn_stanza(
        &self,
        to: String,
        xml: Bytes,
    ) -> JoinHandle<Result<Delivery, ClusterError>> {
        let this = self.clone();
        tokio::spawn(async move { this.send_stanza(&to, xml).await })
    }

    async fn publish(&self, subject: String, body: Body) -> Result<(), ClusterError> {
        let s = self.shared();
        let env = Envelope { sender: s.node.clone(), body };
        let payload = env.encode(&s.keys, &s.limits).map_err(|_| ClusterError::TooLarge)?;
        s.client.publish(subject, payload).await.map_err(|e| ClusterError::Publish(e.to_string()))
    }

    /// Announces that this node bound its first resource of `state.account` (others holding
    /// the account answer with their state).
    pub async fn publish_hello(&self, state: AccountState) -> Result<(), ClusterError> {
        let subject = self.subjects().account(&state.account);
        self.publish(subject, Body::Hello(state)).await
    }

    /// Publishes this node's current resources of `state.account` (after a presence or
    /// priority change, an unbind, or in answer to a Hello).
    pub async fn publish_state(&self, state: AccountState) -> Result<(), ClusterError> {
        let subject = self.subjects().account(&state.account);
        self.publish(subject, Body::State(state)).await
    }

    /// Asks the node(s) holding `full_jid` to close it if bound before `bound_at`.
    pub async fn kick(&self, full_jid: &str, bound_at: u64) -> Result<(), ClusterError> {
        let subject = self.subjects().account(full_jid);
        self.publish(subject, Body::Kick { full_jid: full_jid.to_owned(), bound_at }).await
    }

    /// Member events (NodeUp/NodeDown). A receiver that falls more than 256 events behind
    /// gets `Lagged` and should resynchronise from [`Cluster::members`].
    pub fn member_events(&self) -> broadcast::Receiver<MemberEvent> {
        self.shared().events.subscribe()
    }

    /// Running and stopped members, this node included once its first heartbeat came back.
    pub fn members(&self) -> Vec<Member> {
        lock(&self.shared().members).snapshot(Instant::now())
    }

    /// Forgets a stopped member (after `remove_from_cluster`).
    pub fn forget_member(&self, node: &str) -> bool {
        lock(&self.shared().members).remove(node)
    }

    /// Writes everything queued so far to the NATS connection. (It does not wait for the
    /// server to process it: a new subscription may take a moment to become effective.)
    pub async fn flush(&self) -> Result<(), ClusterError> {
        self.shared().client.flush().await.map_err(|e| ClusterError::Publish(e.to_string()))
    }

    /// Leaves gracefully: stops heartbeats, tells the others (they see NodeDown at once) and
    /// flushes. Drop the handle afterwards.
    pub async fn shutdown(&self) -> Result<(), ClusterError> {
        if let Some(hb) = self.inner.tasks.get(HEARTBEAT_TASK) {
            hb.abort();
        }
        let hb = self.subjects().heartbeat();
        self.publish(hb, Body::Leave).await?;
        self.shared().client.flush().await.map_err(|e| ClusterError::Publish(e.to_string()))
    }
}

impl Shared {
    /// Verifies and decodes; counts failures.
    fn open(&self, payload: &[u8]) -> Option<Envelope> {
        match Envelope::decode(payload, &self.keys, &self.limits) {
            Ok(e) => Some(e),
            Err(crate::envelope::DecodeError::BadTag)
            | Err(crate::envelope::DecodeError::TooShort) => {
                Stats::inc(&self.stats.bad_tag);
                tracing::debug!("cluster: envelope with a bad tag rejected");
                None
            }
            Err(e) => {
                Stats::inc(&self.stats.malformed);
                tracing::debug!("cluster: malformed envelope rejected: {e}");
                None
            }
        }
    }

    fn holds(&self, jid: &str) -> bool {
        self.subs.holds(&normalise_bare(jid))
    }

    fn emit(&self, events: Vec<MemberEvent>) {
        for e in events {
            match &e {
                MemberEvent::NodeUp { node, .. } => tracing::info!(%node, "cluster: node up"),
                MemberEvent::NodeDown { node, .. } => tracing::warn!(%node, "cluster: node down"),
            }
            // No receiver is not an error.
            let _ = self.events.send(e);
        }
    }

    async fn on_account_message(&self, payload: Bytes, reply: Option<String>) {
        let Some(env) = self.open(&payload) else { return };
        if env.sender == self.node {
            return;
        }
        let from_node = env.sender;
        let item = match env.body {
            Body::Stanza { to, xml } => {
                if !self.holds(&to) {
                    // Hash collision or the account just went: the real holder (if any) answers.
                    Stats::inc(&self.stats.not_held);
                    return;
                }
                let status = match self.inbound.try_send(Inbound::Stanza { from_node, to, xml }) {
                    Ok(()) => AckStatus::Accepted,
                    Err(_) => {
                        Stats::inc(&self.stats.inbound_overflow);
                        AckStatus::Busy
                    }
                };
                if let Some(reply) = reply {
                    let ack = Envelope { sender: self.node.clone(), body: Body::Ack(status) };
                    if let Ok(p) = ack.encode(&self.keys, &self.limits) {
                        if let Err(e) = self.client.publish(reply, p).await {
                            tracing::debug!("cluster: ack not sent: {e}");
                        }
                    }
                }
                return;
            }
            Body::Resume { account, previd } => {
                if !self.holds(&account) {
                    return;
                }
                let Some(reply_to) = reply else { return };
                let (tx, rx) = oneshot::channel();
                let item = Inbound::Resume { from_node, account, previd, reply: Reply(tx) };
                if self.inbound.try_send(item).is_err() {
                    Stats::inc(&self.stats.inbound_overflow);
                    return;
                }
                // Answered from a task of its own: the hand-over may wait for the old
                // connection, and the dispatcher must keep serving every other account.
                let (client, keys, limits, node) =
                    (self.client.clone(), self.keys.clone(), self.limits, self.node.clone());
                tokio::spawn(async move {
                    let Ok(Ok(state)) = tokio::time::timeout(RESUME_WAIT, rx).await else {
                        return;
                    };
                    let env = Envelope { sender: node, body: Body::Session { state } };
                    match env.encode(&keys, &limits) {
                        Ok(p) => {
                            if let Err(e) = client.publish(reply_to, p).await {
                                tracing::debug!("cluster: session state not sent: {e}");
                            }
                        }
                        Err(_) => tracing::warn!("cluster: session state exceeds the limits"),
                    }
                });
                return;
            }
            Body::Hello(state) => Inbound::Hello { from_node, state },
            Body::State(state) => Inbound::State { from_node, state },
            Body::Kick { full_jid, bound_at } => Inbound::Kick { from_node, full_jid, bound_at },
            Body::Ack(_)
            | Body::Heartbeat { .. }
            | Body::Leave
            | Body::Session { .. }
            | Body::BoshRequest { .. }
            | Body::BoshAnswer { .. } => {
                Stats::inc(&self.stats.malformed);
                return;
            }
        };
        if self.inbound.try_send(item).is_err() {
            Stats::inc(&self.stats.inbound_overflow);
        }
    }

    /// A BOSH request for a session of this node: handed to the server, whose answer is sent
    /// back from a task of its own (the request may be held for `wait`). At most
    /// [`MAX_BOSH_FORWARDED`] such tasks at once: beyond, or with the inbound queue full, the
    /// answer is Busy, at once.
    async fn on_bosh_message(&self, msg: Message) {
        let Some(env) = self.open(&msg.payload) else { return };
        let Some(reply_to) = msg.reply else { return };
        let Body::BoshRequest { sid, wait_ms, truncated, body } = env.body else {
            Stats::inc(&self.stats.malformed);
            return;
        };
        let wait = Duration::from_millis(u64::from(wait_ms));
        let (tx, rx) = oneshot::channel();
        let item =
            Inbound::Bosh { from_node: env.sender, sid, wait, truncated, body, reply: Reply(tx) };
        let Ok(permit) = self.bosh_slots.clone().try_acquire_owned() else {
            return self.clone_for_reply().answer_bosh(reply_to, BoshOutcome::Busy).await;
        };
        if self.inbound.try_send(item).is_err() {
            Stats::inc(&self.stats.inbound_overflow);
            return self.clone_for_reply().answer_bosh(reply_to, BoshOutcome::Busy).await;
        }
        let replier = self.clone_for_reply();
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(wait.saturating_add(BOSH_MARGIN), rx).await {
                Ok(Ok(o)) => o,
                _ => BoshOutcome::Unknown,
            };
            replier.answer_bosh(reply_to, outcome).await;
            drop(permit);
        });
    }

    /// What a task answering another node needs of this one.
    fn clone_for_reply(&self) -> Replier {
        Replier {
            client: self.client.clone(),
            keys: self.keys.clone(),
            limits: self.limits,
            node: self.node.clone(),
        }
    }

    fn on_heartbeat_message(&self, msg: Message) {
        let Some(env) = self.open(&msg.payload) else { return };
        let now = Instant::now();
        let events = match env.body {
            Body::Heartbeat { admin_address, started_at } => {
                match lock(&self.members).heartbeat(&env.sender, &admin_address, started_at, now) {
                    Some(ev) => ev,
                    None => {
                        Stats::inc(&self.stats.members_overflow);
                        return;
                    }
                }
            }
            Body::Leave => lock(&self.members).leave(&env.sender).into_iter().collect(),
            _ => {
                Stats::inc(&self.stats.malformed);
                return;
            }
        };
        self.emit(events);
    }
}

/// The part of [`Shared`] a task answering another node's request holds.
struct Replier {
    client: Client,
    keys: Keys,
    limits: Limits,
    node: String,
}

impl Replier {
    async fn answer_bosh(self, reply_to: async_nats::Subject, outcome: BoshOutcome) {
        let (status, body) = match outcome {
            BoshOutcome::Answered(b) => (BoshStatus::Answered, b),
            BoshOutcome::Unknown => (BoshStatus::Unknown, Bytes::new()),
            BoshOutcome::Busy => (BoshStatus::Busy, Bytes::new()),
        };
        let env = Envelope { sender: self.node, body: Body::BoshAnswer { status, body } };
        match env.encode(&self.keys, &self.limits) {
            Ok(p) => {
                if let Err(e) = self.client.publish(reply_to, p).await {
                    tracing::debug!("cluster: BOSH answer not sent: {e}");
                }
            }
            Err(_) => tracing::warn!("cluster: BOSH answer exceeds the envelope limits"),
        }
    }
}

impl Deliver for Shared {
    async fn deliver(&self, payload: Bytes, reply: Option<String>) {
        self.on_account_message(payload, reply).await;
    }
}

async fn heartbeats_in(shared: Arc<Shared>, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        shared.on_heartbeat_message(msg);
    }
}

async fn bosh_in(shared: Arc<Shared>, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        shared.on_bosh_message(msg).await;
    }
}

async fn heartbeats_out(shared: Arc<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let body = Body::Heartbeat {
        admin_address: shared.admin_address.clone(),
        started_at: shared.started_at,
    };
    let env = Envelope { sender: shared.node.clone(), body };
    let Ok(payload) = env.encode(&shared.keys, &shared.limits) else {
        tracing::error!("cluster: heartbeat exceeds the envelope limits; not sending heartbeats");
        return;
    };
    let subject = shared.subjects.heartbeat();
    loop {
        tick.tick().await;
        if let Err(e) = shared.client.publish(subject.clone(), payload.clone()).await {
            tracing::debug!("cluster: heartbeat not sent: {e}");
        }
        let events = lock(&shared.members).sweep(Instant::now());
        shared.emit(events);
    }
}
