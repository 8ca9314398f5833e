//! A population of simulated users in one process: ramped logins, idle sessions, and the
//! "Scaling a Mongoose" chat behaviour (one short timestamped message to a random online user
//! every period, first one at a uniformly random offset so the load is flat, not bursty).
//!
//! Each user is one tokio task owning its connection: no per-user channel or buffer besides the
//! stream's own. The scenario drives all tasks at once through a `watch` channel of [`Phase`]s.
//! Recipients are drawn from the users online in this process; with worker processes each worker
//! is its own population, so messages stay within a worker (the server's routing work is the
//! same whichever local session a message goes to).

use crate::stats::{body_timestamp, latency_us, unix_nanos, Stats};
use crate::xmpp::client::{self, AuthMech, ClientConfig, ClientCtx};
use crate::xmpp::keycache::KeyCache;
use crate::xmpp::stream::{connect_tcp, escape, Event, XmppStream};
use meerkat_xml::Element;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// How many login failures are printed with their reason before only counting them.
const FAILURES_PRINTED: u64 = 10;

/// Everything a process needs to run users; also the first message to a worker process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserConfig {
    /// Server address (checked to be loopback).
    pub target: SocketAddr,
    /// Nodes of one cluster (`--cluster`): user `i` connects to `cluster[i % len]` instead of
    /// `target`. Empty otherwise.
    #[serde(default)]
    pub cluster: Vec<SocketAddr>,
    /// Source addresses, used round-robin by user index; empty: the kernel chooses.
    pub source_ips: Vec<IpAddr>,
    /// XMPP domain.
    pub domain: String,
    /// Negotiate STARTTLS.
    pub starttls: bool,
    /// SASL mechanism.
    pub mech: AuthMech,
    /// Resource bound by every session.
    pub resource: String,
    /// Username prefix: user `i` is `{prefix}{i}`.
    pub prefix: String,
    /// Password of every user.
    pub password: String,
    /// Deadline for connect + login of one user.
    pub login_timeout_ms: u64,
    /// SCRAM key cache file.
    pub key_cache: Option<PathBuf>,
    /// Logins in progress at once; the ramp waits when this many are pending.
    pub max_pending_logins: usize,
    /// Chat period per user; `None`: sessions stay idle.
    pub chat_period_ms: Option<u64>,
    /// When the run started (Unix ns): messages timestamped earlier are counted as stale.
    #[serde(default)]
    pub run_started_ns: u64,
    /// XMPP over WebSocket (RFC 7395) at this path of each server address instead of TCP.
    #[serde(default)]
    pub websocket_path: Option<String>,
    /// Users join rooms and send groupchat messages there (the `muc` scenario).
    #[serde(default)]
    pub muc: Option<MucUsers>,
}

/// Rooms of the `muc` scenario: users `first..` fill rooms of `room_size` in order (user
/// `idx` is in room `(idx - 1) / room_size`), with nick `u<idx>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MucUsers {
    /// The MUC service (`conference.<domain>`).
    pub service: String,
    /// Occupants per room.
    pub room_size: u64,
}

impl MucUsers {
    /// Bare JID of user `idx`'s room.
    pub fn room_of(&self, idx: u64) -> String {
        format!("loadroom{}@{}", idx.saturating_sub(1) / self.room_size.max(1), self.service)
    }
}

/// A user's place in its room, while the `muc` scenario runs.
struct Seat {
    /// `room@service/nick`, escaped for attributes.
    occupant_esc: String,
    /// `room@service`, escaped.
    room_esc: String,
    /// `room@service/nick` as the server writes it in `from`.
    occupant: String,
    /// `room@service/`.
    room_prefix: String,
    /// Other occupants present, by nick hash (a set: presence updates repeat).
    others: std::collections::HashSet<u64>,
    joined: bool,
}

const NS_MUC: &str = "http://jabber.org/protocol/muc";

impl Seat {
    fn new(m: &MucUsers, idx: u64) -> Self {
        let room = m.room_of(idx);
        let occupant = format!("{room}/u{idx}");
        Seat {
            occupant_esc: escape(&occupant),
            room_esc: escape(&room),
            room_prefix: format!("{room}/"),
            occupant,
            others: Default::default(),
            joined: false,
        }
    }

    async fn join(&self, s: &mut XmppStream) -> Result<(), crate::xmpp::stream::StreamError> {
        let join = format!(
            "<presence to='{}'><x xmlns='{NS_MUC}'><history maxstanzas='0'/></x></presence>",
            self.occupant_esc
        );
        s.send_raw(join.as_bytes()).await
    }

    /// Handles a stanza from the room: occupant presence (the count of others, our own
    /// join, the instant-room form for a room we created) or our own groupchat echo. True when
    /// the stanza is consumed (not to be counted as a received message).
    async fn on_stanza(&mut self, s: &mut XmppStream, el: &Element) -> bool {
        let Some(from) = el.attr("from") else { return false };
        let Some(nick) = from.strip_prefix(&self.room_prefix) else { return false };
        if el.name == "message" {
            return from == self.occupant;
        }
        if el.name != "presence" {
            return false;
        }
        let t = el.attr("type");
        if from == self.occupant {
            if t == Some("error") {
                // Locked (being created by its first occupant) or busy: try again shortly.
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = self.join(s).await;
                return true;
            }
            self.joined = t.is_none();
            let created =
                el.get_child("x", "http://jabber.org/protocol/muc#user").is_some_and(|x| {
                    x.children().any(|c| c.name == "status" && c.attr("code") == Some("201"))
                });
            if created {
                // XEP-0045 §10.1.2: accept the default configuration (an instant room).
                let iq = format!(
                    "<iq type='set' to='{}' id='create'><query xmlns='{NS_MUC}#owner'>\
                     <x xmlns='jabber:x:data' type='submit'/></query></iq>",
                    self.room_esc
                );
                let _ = s.send_raw(iq.as_bytes()).await;
            }
            return true;
        }
        let h = nick_hash(nick);
        if t == Some("unavailable") {
            self.others.remove(&h);
        } else if t.is_none() {
            self.others.insert(h);
        }
        true
    }
}

fn nick_hash(nick: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    nick.hash(&mut h);
    h.finish()
}

impl UserConfig {
    /// The server user `idx` logs in to.
    pub fn target_of(&self, idx: u64) -> SocketAddr {
        if self.cluster.is_empty() {
            return self.target;
        }
        let i = usize::try_from(idx % self.cluster.len() as u64).unwrap_or(0);
        self.cluster.get(i).copied().unwrap_or(self.target)
    }

    /// The client context (TLS connector, key cache) for these settings.
    pub fn client_ctx(&self) -> anyhow::Result<ClientCtx> {
        let keys = match &self.key_cache {
            Some(p) => KeyCache::with_file(p)?,
            None => KeyCache::in_memory(),
        };
        Ok(ClientCtx {
            cfg: ClientConfig {
                domain: self.domain.clone(),
                starttls: self.starttls,
                mech: self.mech,
                resource: self.resource.clone(),
            },
            tls: if self.starttls { Some(crate::xmpp::tls::connector()?) } else { None },
            keys,
        })
    }

    /// Connects user `idx` to its server: TCP, or a WebSocket with `--websocket`.
    pub async fn connect(&self, idx: u64) -> anyhow::Result<XmppStream> {
        let target = self.target_of(idx);
        let tcp = connect_tcp(target, self.source_ip(idx)).await?;
        Ok(match &self.websocket_path {
            Some(path) => XmppStream::websocket(tcp, &format!("ws://{target}{path}")).await?,
            None => XmppStream::new(tcp),
        })
    }

    /// Username of user `idx`.
    pub fn username(&self, idx: u64) -> String {
        format!("{}{}", self.prefix, idx)
    }

    /// Source address for user `idx`.
    pub fn source_ip(&self, idx: u64) -> Option<IpAddr> {
        if self.source_ips.is_empty() {
            return None;
        }
        // Users of one target are `idx ≡ t (mod targets)`: stepping by that stride spreads
        // each target's connections over every source address, not over a fixed few of them.
        let stride = self.cluster.len().max(1) as u64;
        let i = usize::try_from((idx / stride) % self.source_ips.len() as u64).unwrap_or(0);
        self.source_ips.get(i).copied()
    }
}

/// What every user task should be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Log in and (with chat) send.
    Run,
    /// Stop sending, keep receiving (the grace period before counting losses).
    StopSending,
    /// Close every session.
    Close,
}

/// Users online in this process, for picking recipients.
#[derive(Default)]
struct Online {
    // Read on every send, written on login and disconnect; std lock, never held across await.
    users: RwLock<Vec<u64>>,
}

impl Online {
    fn add(&self, idx: u64) {
        if let Ok(mut u) = self.users.write() {
            u.push(idx);
        }
    }

    fn remove(&self, idx: u64) {
        if let Ok(mut u) = self.users.write() {
            if let Some(pos) = u.iter().position(|&x| x == idx) {
                u.swap_remove(pos);
            }
        }
    }

    /// A random online user other than `me`.
    fn random_other(&self, me: u64) -> Option<u64> {
        let u = self.users.read().ok()?;
        if u.len() < 2 {
            return None;
        }
        let mut rng = rand::thread_rng();
        loop {
            let pick = *u.get(rng.gen_range(0..u.len()))?;
            if pick != me {
                return Some(pick);
            }
        }
    }
}

/// Counts down the logins of one ramp batch.
struct Batch {
    remaining: AtomicUsize,
    done: Notify,
}

impl Batch {
    fn resolved(&self) {
        if self.remaining.fetch_sub(1, Relaxed) == 1 {
            self.done.notify_waiters();
        }
    }

    async fn wait(&self) {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.remaining.load(Relaxed) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct Shared {
    cfg: UserConfig,
    ctx: ClientCtx,
    stats: Arc<Stats>,
    online: Online,
    phase: watch::Sender<Phase>,
    pending: Semaphore,
    tasks: TaskTracker,
    next_msg_id: AtomicU64,
    failures_printed: AtomicU64,
    /// `{prefix}` and `@{domain}` escaped once, for building `to` attributes without escaping
    /// per message.
    prefix_esc: String,
    at_domain_esc: String,
}

/// The users of one process. Cheap to clone: all clones drive the same users.
#[derive(Clone)]
pub struct Population {
    shared: Arc<Shared>,
}

impl Population {
    /// A population with no users yet.
    pub fn new(cfg: UserConfig, stats: Arc<Stats>) -> anyhow::Result<Self> {
        let ctx = cfg.client_ctx()?;
        let (phase, _) = watch::channel(Phase::Run);
        let pending = Semaphore::new(cfg.max_pending_logins.max(1));
        Ok(Population {
            shared: Arc::new(Shared {
                prefix_esc: escape(&cfg.prefix),
                at_domain_esc: format!("@{}", escape(&cfg.domain)),
                cfg,
                ctx,
                stats,
                online: Online::default(),
                phase,
                pending,
                tasks: TaskTracker::new(),
                next_msg_id: AtomicU64::new(0),
                failures_printed: AtomicU64::new(0),
            }),
        })
    }

    /// Logs in users `first..first+count` at `rate` logins per second and returns when every
    /// one of them has logged in or failed.
    pub async fn add_users(&self, first: u64, count: u64, rate: f64) {
        if count == 0 {
            return;
        }
        let batch = Arc::new(Batch {
            remaining: AtomicUsize::new(usize::try_from(count).unwrap_or(usize::MAX)),
            done: Notify::new(),
        });
        let start = Instant::now();
        let rate = if rate > 0.0 { rate } else { f64::MAX };
        for k in 0..count {
            if *self.shared.phase.borrow() == Phase::Close {
                // Logins never started still count as resolved, so waiters return.
                for _ in k..count {
                    batch.resolved();
                }
                break;
            }
            let due = start + Duration::from_secs_f64((k as f64 / rate).min(1e9));
            tokio::time::sleep_until(due).await;
            let permit = match self.shared.pending.acquire().await {
                Ok(p) => p,
                Err(_) => break,
            };
            permit.forget();
            let shared = self.shared.clone();
            let batch = batch.clone();
            self.shared.tasks.spawn(run_user(shared, first + k, batch));
        }
        batch.wait().await;
    }

    /// Moves every user to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.shared.phase.send_replace(phase);
    }

    /// Closes every session and waits for the tasks to end.
    pub async fn close(&self) {
        self.set_phase(Phase::Close);
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }

    /// Connects and logs in user `idx` within the login timeout.
    pub async fn connect_user(&self, idx: u64) -> anyhow::Result<XmppStream> {
        connect_and_login(&self.shared, idx).await
    }

    /// Statistics sink.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.shared.stats
    }

    /// A receiver of phase changes.
    pub fn phase(&self) -> watch::Receiver<Phase> {
        self.shared.phase.subscribe()
    }

    /// Handles one incoming stanza as every simulated client does (records latencies, answers
    /// IQs); returns the number of timestamped messages it held (0 or 1).
    pub async fn handle_stanza(&self, s: &mut XmppStream, el: &Element) -> u64 {
        handle_stanza(&self.shared, s, el).await
    }

    /// Writes a chat message with a timestamped body to user `to_idx`.
    pub async fn send_message(&self, s: &mut XmppStream, to_idx: u64) -> anyhow::Result<()> {
        send_message(&self.shared, s, to_idx).await
    }
}

async fn connect_and_login(shared: &Shared, idx: u64) -> anyhow::Result<XmppStream> {
    let user = shared.cfg.username(idx);
    let timeout = Duration::from_millis(shared.cfg.login_timeout_ms);
    let attempt = async {
        let mut s = shared.cfg.connect(idx).await?;
        client::login(&shared.ctx, &mut s, &user, &shared.cfg.password).await?;
        anyhow::Ok(s)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r.map_err(|e| anyhow::anyhow!("{user}: {e}")),
        Err(_) => Err(anyhow::anyhow!("{user}: login timed out after {timeout:?}")),
    }
}

async fn run_user(shared: Arc<Shared>, idx: u64, batch: Arc<Batch>) {
    let started = std::time::Instant::now();
    let result = connect_and_login(&shared, idx).await;
    let login_us = started.elapsed().as_micros() as u64;
    shared.pending.add_permits(1);
    batch.resolved();
    let mut s = match result {
        Ok(s) => s,
        Err(e) => {
            shared.stats.login_failed();
            if shared.failures_printed.fetch_add(1, Relaxed) < FAILURES_PRINTED {
                eprintln!("login failed: {e:#}");
            }
            return;
        }
    };
    shared.stats.login_ok_after(login_us);
    let unexpected = session_loop(&shared, idx, &mut s).await;
    if unexpected {
        // Only a session lost mid-run leaves the recipient list: on close nobody sends any
        // more, and skipping the O(n) removal keeps closing 18000 sessions cheap.
        shared.online.remove(idx);
    }
    shared.stats.session_ended(unexpected);
}

/// How long a session waits for the server to echo its initial presence before it becomes a
/// recipient anyway (a server that does not echo it).
const ANNOUNCE_FALLBACK: Duration = Duration::from_secs(2);

/// Runs a logged-in session until the scenario closes it (false) or the server does (true).
///
/// The user becomes a recipient for others once the server has echoed its initial presence
/// (RFC 6121 §4.2.2): a message routed before the server processed that presence finds no
/// available resource and is stored offline (RFC 6121 §8.5.2.2), which the run would count
/// as lost.
async fn session_loop(shared: &Shared, idx: u64, s: &mut XmppStream) -> bool {
    let own_jid = format!("{}@{}/", shared.cfg.username(idx), shared.cfg.domain);
    let mut announced = false;
    let announce_fallback = tokio::time::sleep(ANNOUNCE_FALLBACK);
    tokio::pin!(announce_fallback);
    let mut seat = shared.cfg.muc.as_ref().map(|m| Seat::new(m, idx));
    if let Some(seat) = &seat {
        if seat.join(s).await.is_err() {
            return true;
        }
    }
    let mut phase = shared.phase.subscribe();
    let initial = *phase.borrow_and_update();
    if initial == Phase::Close {
        // The run closed while this login was in flight: no change will be signalled.
        s.close().await;
        return false;
    }
    let period = shared.cfg.chat_period_ms.map(Duration::from_millis);
    let mut sending = period.is_some() && initial == Phase::Run;
    let period = period.unwrap_or(Duration::from_secs(3600));
    let offset = period.mul_f64(rand::thread_rng().gen::<f64>());
    let mut next_send = Instant::now() + offset;
    let timer = tokio::time::sleep_until(next_send);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Close };
                match now {
                    Phase::Run => {}
                    Phase::StopSending => sending = false,
                    Phase::Close => {
                        s.close().await;
                        return false;
                    }
                }
            }
            () = &mut announce_fallback, if !announced => {
                announced = true;
                shared.online.add(idx);
            }
            ev = s.next_event() => match ev {
                Ok(Event::Stanza(el)) => {
                    if !announced
                        && el.name == "presence"
                        && el.attr("from").is_some_and(|f| f.starts_with(&own_jid))
                    {
                        announced = true;
                        shared.online.add(idx);
                    }
                    if let Some(seat) = seat.as_mut() {
                        if seat.on_stanza(s, &el).await {
                            continue;
                        }
                    }
                    handle_stanza(shared, s, &el).await;
                }
                Ok(Event::Open) => {}
                Ok(Event::Close | Event::Eof) | Err(_) => return true,
            },
            () = &mut timer, if sending => {
                if let Some(seat) = &seat {
                    if seat.joined && send_groupchat(shared, s, seat).await.is_err() {
                        return true;
                    }
                } else if let Some(to) = shared.online.random_other(idx) {
                    if send_message(shared, s, to).await.is_err() {
                        return true;
                    }
                }
                next_send += period;
                // After a stall, skip the missed sends rather than bursting to catch up.
                let now = Instant::now();
                if next_send < now {
                    next_send = now + period;
                }
                timer.as_mut().reset(next_send);
            }
        }
    }
}

async fn send_message(shared: &Shared, s: &mut XmppStream, to_idx: u64) -> anyhow::Result<()> {
    let id = shared.next_msg_id.fetch_add(1, Relaxed);
    let t = unix_nanos();
    s.send_with(|b| {
        // Writes into a Vec cannot fail.
        let _ = write!(
            b,
            "<message to='{}{}{}' type='chat'><body>t={} id={}</body></message>",
            shared.prefix_esc, to_idx, shared.at_domain_esc, t, id
        );
    })
    .await?;
    shared.stats.sent();
    Ok(())
}

async fn send_groupchat(shared: &Shared, s: &mut XmppStream, seat: &Seat) -> anyhow::Result<()> {
    let id = shared.next_msg_id.fetch_add(1, Relaxed);
    let t = unix_nanos();
    s.send_with(|b| {
        // Writes into a Vec cannot fail.
        let _ = write!(
            b,
            "<message to='{}' type='groupchat'><body>t={} id={}</body></message>",
            seat.room_esc, t, id
        );
    })
    .await?;
    shared.stats.sent_to_room(seat.others.len() as u64);
    Ok(())
}

async fn handle_stanza(shared: &Shared, s: &mut XmppStream, el: &Element) -> u64 {
    const NS_CLIENT: &str = "jabber:client";
    match el.name.as_str() {
        "message" => {
            if el.attr("type") == Some("error") {
                shared.stats.message_error();
                return 0;
            }
            let Some(body) = el.get_child("body", NS_CLIENT) else { return 0 };
            let Some(sent) = body_timestamp(&body.text()) else { return 0 };
            if sent < shared.cfg.run_started_ns {
                shared.stats.stale();
                return 0;
            }
            shared.stats.received(latency_us(sent, unix_nanos()));
            1
        }
        "iq" if matches!(el.attr("type"), Some("get" | "set")) => {
            // Answer so servers that ping idle clients (XEP-0199) do not drop them; anything
            // else is politely refused.
            let id = escape(el.attr("id").unwrap_or(""));
            let to = el.attr("from").map(|f| format!(" to='{}'", escape(f))).unwrap_or_default();
            let reply = if el.has_child("ping", "urn:xmpp:ping") {
                format!("<iq type='result' id='{id}'{to}/>")
            } else {
                format!(
                    "<iq type='error' id='{id}'{to}><error type='cancel'><service-unavailable \
                     xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                )
            };
            let _ = s.send_raw(reply.as_bytes()).await;
            0
        }
        _ => 0,
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::*;

    #[test]
    fn muc_users_fill_rooms_in_order() {
        let m = MucUsers { service: "conference.d".into(), room_size: 10 };
        assert_eq!(m.room_of(1), "loadroom0@conference.d");
        assert_eq!(m.room_of(10), "loadroom0@conference.d");
        assert_eq!(m.room_of(11), "loadroom1@conference.d");
        let seat = Seat::new(&m, 11);
        assert_eq!(seat.occupant, "loadroom1@conference.d/u11");
    }

    #[test]
    fn users_of_a_cluster_go_round_robin_over_its_nodes() {
        let node = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut cfg: UserConfig = serde_json::from_value(serde_json::json!({
            "target": "127.0.0.1:1", "source_ips": [], "domain": "d", "starttls": false,
            "mech": "Plain", "resource": "r", "prefix": "u", "password": "p",
            "login_timeout_ms": 1, "key_cache": null, "max_pending_logins": 1,
            "chat_period_ms": null
        }))
        .expect("config without the cluster field (older workers' format)");
        assert_eq!(cfg.target_of(7), node(1));
        cfg.cluster = vec![node(2), node(3), node(4)];
        let got: Vec<u16> = (0..6).map(|i| cfg.target_of(i).port()).collect();
        assert_eq!(got, vec![2, 3, 4, 2, 3, 4]);
    }

    #[test]
    fn each_node_gets_users_from_every_source_address() {
        let mut cfg: UserConfig = serde_json::from_value(serde_json::json!({
            "target": "127.0.0.1:1", "source_ips": ["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4"],
            "domain": "d", "starttls": false, "mech": "Plain", "resource": "r", "prefix": "u",
            "password": "p", "login_timeout_ms": 1, "key_cache": null, "max_pending_logins": 1,
            "chat_period_ms": null
        }))
        .expect("config");
        cfg.cluster = (2..4).map(|p| SocketAddr::from(([127, 0, 0, 1], p))).collect();
        // Two nodes, four sources: with `idx % 4` node 2 would see only .1 and .3.
        let mut pairs = std::collections::HashSet::new();
        for i in 0..8 {
            pairs.insert((cfg.target_of(i).port(), cfg.source_ip(i).map(|ip| ip.to_string())));
        }
        assert_eq!(pairs.len(), 8, "every (node, source) pair is used: {pairs:?}");
    }
}
