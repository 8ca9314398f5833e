//! The Meerkat node: listeners, sessions, router and modules over the protocol, storage and
//! config crates.
//!
//! # Layout
//! - [`server`]: the shared state every task gets ([`server::Server`]).
//! - [`c2s`]: client connections: accept loop, negotiation, bound sessions, and the RFC 7395
//!   WebSocket framing that runs them over WebSocket too.
//! - [`http`]: HTTP listeners for browser clients (XMPP over WebSocket at a configured path).
//! - [`accept`]: the accept loop both kinds of listener share.
//! - [`session`]: the table of bound sessions and their mailboxes.
//! - [`cluster`]: cluster mode over NATS (`[cluster] enabled`).
//! - [`router`]: the one `route(stanza)` entry point (RFC 6120 §10, RFC 6121 §8).
//! - [`modules`]: roster, presence, offline, disco, ping, version, time, last, register.
//! - [`admin_ops`]: the admin operations behind the HTTP API and the CLI.
//! - [`tls`], [`auth_limits`], [`addr`]: certificates, login throttling, JID helpers.

pub mod accept;
pub mod addr;
pub mod admin_ops;
pub mod auth_limits;
pub mod c2s;
pub mod cluster;
pub mod components;
pub mod http;
pub mod metrics;
pub mod modules;
pub mod pg_storage;
pub mod router;
pub mod server;
pub mod session;
pub mod tls;

use anyhow::Context;
use meerkat_config::{Backend, Config};
use server::{Server, ServerRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for sessions to close before giving up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a node's shared state from its configuration: data directory, storage, TLS. Nothing
/// listens yet (benchmarks and tests drive the router directly).
pub async fn build(config: Config) -> anyhow::Result<ServerRef> {
    build_with_admin(config, None).await
}

/// [`build`], given the admin API's bound address (announced to other cluster nodes).
pub async fn build_with_admin(
    config: Config,
    admin_bound: Option<std::net::SocketAddr>,
) -> anyhow::Result<ServerRef> {
    let data_dir = config.general.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let storage = match config.storage.backend {
        Backend::Sqlite => {
            let path = data_dir.join(&config.storage.sqlite_path);
            meerkat_storage::sqlite::open(&path)
                .await
                .with_context(|| format!("opening SQLite database {}", path.display()))?
        }
        Backend::Postgres => pg_storage::open(&config.storage, &data_dir).await?,
    };
    let tls = tls::setup(&config)?;
    let admin_address = admin_bound
        .unwrap_or_else(|| std::net::SocketAddr::new(config.admin.ip_address, config.admin.port))
        .to_string();
    let (cluster, cluster_pending) = match cluster::start(&config, &admin_address).await? {
        Some((c, p)) => (Some(c), Some(p)),
        None => (None, None),
    };
    let mam_max_id = storage.archive.max_id().await.context("reading the highest archive id")?;
    let mam_id_slot = if config.modules.mam.enabled {
        storage.archive.claim_id_slot().await.context("claiming an archive id slot")?
    } else {
        Default::default()
    };
    let server = Arc::new(Server {
        mam: modules::mam::MamState::new(mam_max_id, config.modules.mam.prefs_cache_entries)
            .with_id_slot(mam_id_slot),
        auth_failures: auth_limits::FailureLimiter::new(config.auth.max_failures_per_minute),
        caps: modules::caps::CapsState::new(),
        pep: modules::pep::PepState::new(&config.modules.pep, config.cluster.enabled),
        components: components::Components::new(&config),
        config,
        storage,
        sessions: Default::default(),
        tls,
        started: Instant::now(),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
        listeners: Default::default(),
        sm_registry: Default::default(),
        bosh: Default::default(),
        misc: Default::default(),
        last_activity: Default::default(),
        cluster,
        membership: Default::default(),
    });
    modules::mam::start(&server);
    modules::last_writer::spawn(&server);
    if let Some(p) = cluster_pending {
        cluster::spawn(&server, p);
        cluster::membership::start(&server, &admin_address).await?;
    }
    Ok(server)
}

/// Runs a node until it is stopped (SIGINT, SIGTERM or the admin `stop`).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let data_dir = config.general.data_dir.clone();
    let prometheus = metrics::install()?;
    // Bound before the node is built: cluster members announce the real admin address.
    let admin_addr = std::net::SocketAddr::new(config.admin.ip_address, config.admin.port);
    let admin_listener = tokio::net::TcpListener::bind(admin_addr)
        .await
        .with_context(|| format!("binding admin API {admin_addr}"))?;
    let admin_bound = admin_listener.local_addr()?;
    let server = build_with_admin(config, Some(admin_bound)).await?;
    // The token exists before any port answers, so a caller that sees the node listening can
    // always authenticate.
    let token = meerkat_admin::token::create(&data_dir)
        .with_context(|| format!("writing admin token in {}", data_dir.display()))?;
    for l in server.config.listen.c2s.clone() {
        let listener = c2s::listener::bind(&l)
            .with_context(|| format!("binding c2s listener {}:{}", l.ip_address, l.port))?;
        let desc = format!("c2s {} {:?}", listener.local_addr()?, l.tls_mode).to_lowercase();
        tracing::info!(what = "listening", listener = %desc);
        if let Ok(mut v) = server.listeners.lock() {
            v.push(desc);
        }
        server.tasks.spawn(c2s::listener::serve(server.clone(), listener, l));
    }
    for l in server.config.listen.http.clone() {
        let listener = http::bind(&l)
            .with_context(|| format!("binding http listener {}:{}", l.ip_address, l.port))?;
        let scheme = if l.tls { "https" } else { "http" };
        let desc = format!("http {scheme}://{}{}", listener.local_addr()?, l.websocket_path);
        tracing::info!(what = "listening", listener = %desc);
        if let Ok(mut v) = server.listeners.lock() {
            v.push(desc);
        }
        server.tasks.spawn(http::serve(server.clone(), listener, l));
    }
    // With `port = 0` the CLI cannot learn the port from the config: it reads this file.
    meerkat_admin::endpoint::write(&data_dir, admin_bound)
        .with_context(|| format!("writing admin address in {}", data_dir.display()))?;
    let ops: Arc<dyn meerkat_admin::AdminOps> =
        Arc::new(admin_ops::NodeAdmin { server: server.clone() });
    let token = cluster::membership::admin_tokens(&server, token)?;
    let stop = server.shutdown.clone();
    server.tasks.spawn(async move {
        let s = stop.clone();
        if let Err(e) =
            meerkat_admin::http::serve(
                admin_listener,
                ops,
                token,
                async move { s.cancelled().await },
            )
            .await
        {
            tracing::error!(what = "admin_api_failed", error = %e);
        }
    });
    if server.config.metrics.enabled {
        let addr =
            std::net::SocketAddr::new(server.config.metrics.ip_address, server.config.metrics.port);
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding metrics endpoint {addr}"))?;
        let bound = l.local_addr()?;
        tracing::info!(what = "metrics_listening", addr = %bound);
        if let Ok(mut v) = server.listeners.lock() {
            v.push(format!("metrics http://{bound}/metrics"));
        }
        server.tasks.spawn(metrics::serve(server.clone(), l, prometheus));
    }
    tracing::info!(what = "node_started", node = %server.config.general.node_name, admin = %admin_bound,
        hosts = ?server.config.general.hosts);
    wait_for_stop(&server).await;
    tracing::info!(what = "node_stopping", sessions = server.sessions.len());
    // Bound sessions are told through their mailboxes (no per-session shutdown waiter: that
    // would cost memory in every idle session); listeners and negotiations watch the token.
    for e in server.sessions.all() {
        e.mailbox.close_with(meerkat_proto::error::StreamError::new(
            meerkat_proto::error::StreamErrorCondition::SystemShutdown,
        ));
    }
    server.shutdown.cancel();
    if let Some(c) = server.cluster() {
        // Other nodes see this one leave at once instead of after node_timeout_ms.
        if let Err(e) = c.shutdown().await {
            tracing::warn!(what = "cluster_leave_not_sent", error = %e);
        }
    }
    server.tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, server.tasks.wait()).await.is_err() {
        tracing::warn!(what = "drain_timeout", "some connections did not close in time");
    }
    server.last_activity.flush(server.storage.last.as_ref()).await;
    cluster::membership::stop(&server).await;
    tracing::info!(what = "node_stopped");
    Ok(())
}

async fn wait_for_stop(server: &ServerRef) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(what = "no_sigterm_handler", error = %e);
            server.shutdown.cancelled().await;
            return;
        }
    };
    tokio::select! {
        _ = server.shutdown.cancelled() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
