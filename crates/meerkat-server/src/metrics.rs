//! Prometheus metrics (`GET /metrics` on the `[metrics]` listener).
//!
//! Handles are registered once at start-up and kept in a static, so the hot path pays an atomic
//! add per event and no registry lookup. Before [`install`] (unit tests) every handle is a no-op.
//! Histograms are drained by an upkeep task every few seconds, so their memory stays bounded
//! whether or not anyone scrapes.

use crate::server::ServerRef;
use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Every metric the node exports.
pub struct Metrics {
    /// Successful SASL logins.
    pub logins: Counter,
    /// Failed SASL attempts.
    pub login_failures: Counter,
    /// Accepted TCP connections.
    pub connections: Counter,
    /// Accept errors (EMFILE and others).
    pub accept_errors: Counter,
    /// Accepted HTTP connections (HTTP listeners).
    pub http_connections: Counter,
    /// XMPP-over-WebSocket connections upgraded (RFC 7395).
    pub websocket_connections: Counter,
    /// XMPP-over-WebSocket connections open now.
    pub websocket_open: Gauge,
    /// BOSH sessions created (XEP-0124).
    pub bosh_sessions: Counter,
    /// BOSH sessions open now.
    pub bosh_open: Gauge,
    /// BOSH requests answered again from a kept response (repeated rid, XEP-0124 §14.3).
    pub bosh_retransmissions: Counter,
    /// BOSH sessions ended by the server for a client's fault (bad rid, oversized body, ...).
    pub bosh_terminated: Counter,
    /// BOSH requests sent to the cluster node holding their session.
    pub bosh_forwarded: Counter,
    /// BOSH requests another cluster node forwarded here, for a session held here.
    pub bosh_forwarded_in: Counter,
    /// Stanzas received from clients, by kind.
    pub stanzas_in: [Counter; 3],
    /// Stanzas written to clients, by kind.
    pub stanzas_out: [Counter; 3],
    /// Bytes read from client sockets.
    pub bytes_in: Counter,
    /// Bytes written to client sockets.
    pub bytes_out: Counter,
    /// Time spent routing one client stanza (parse done to handed to every recipient).
    pub route_seconds: Histogram,
    /// Sessions closed because their outgoing queue was full (slow readers).
    pub queue_overflows: Counter,
    /// Messages stored offline.
    pub offline_stored: Counter,
    /// Bound sessions.
    pub sessions: Gauge,
    /// Stream Management resumptions that succeeded (XEP-0198).
    pub sm_resumed: Counter,
    /// Stream Management resumptions refused (unknown, expired, other user's id).
    pub sm_resume_failed: Counter,
    /// Resumable sessions waiting detached for their client.
    pub sm_detached: Gauge,
    /// Stanzas another cluster node acknowledged.
    pub cluster_sent: Counter,
    /// Stanzas received from other cluster nodes.
    pub cluster_received: Counter,
    /// Stanzas no other node took (no responder, timeout, refused), handled here by the
    /// single-node rules (offline storage, errors).
    pub cluster_fallbacks: Counter,
    /// 1 while the NATS connection is up (cluster mode only).
    pub cluster_connected: Gauge,
    /// Accounts this node is subscribed to (those with a resource bound here).
    pub cluster_accounts: Gauge,
}

const KINDS: [&str; 3] = ["message", "presence", "iq"];

/// Index of a stanza kind in the by-kind arrays (`iq` for anything else).
pub fn kind_index(name: &str) -> usize {
    match name {
        "message" => 0,
        "presence" => 1,
        _ => 2,
    }
}

impl Metrics {
    fn register() -> Metrics {
        Metrics {
            logins: metrics::counter!("meerkat_logins_total"),
            login_failures: metrics::counter!("meerkat_login_failures_total"),
            connections: metrics::counter!("meerkat_c2s_connections_total"),
            accept_errors: metrics::counter!("meerkat_c2s_accept_errors_total"),
            http_connections: metrics::counter!("meerkat_http_connections_total"),
            websocket_connections: metrics::counter!("meerkat_websocket_connections_total"),
            websocket_open: metrics::gauge!("meerkat_websocket_connections"),
            bosh_sessions: metrics::counter!("meerkat_bosh_sessions_total"),
            bosh_open: metrics::gauge!("meerkat_bosh_sessions"),
            bosh_retransmissions: metrics::counter!("meerkat_bosh_retransmissions_total"),
            bosh_terminated: metrics::counter!("meerkat_bosh_terminated_total"),
            bosh_forwarded: metrics::counter!("meerkat_bosh_forwarded_total"),
            bosh_forwarded_in: metrics::counter!("meerkat_bosh_forwarded_in_total"),
            stanzas_in: KINDS.map(|k| metrics::counter!("meerkat_stanzas_in_total", "kind" => k)),
            stanzas_out: KINDS.map(|k| metrics::counter!("meerkat_stanzas_out_total", "kind" => k)),
            bytes_in: metrics::counter!("meerkat_c2s_bytes_in_total"),
            bytes_out: metrics::counter!("meerkat_c2s_bytes_out_total"),
            route_seconds: metrics::histogram!("meerkat_route_duration_seconds"),
            queue_overflows: metrics::counter!("meerkat_session_queue_overflows_total"),
            offline_stored: metrics::counter!("meerkat_offline_messages_stored_total"),
            sessions: metrics::gauge!("meerkat_sessions"),
            sm_resumed: metrics::counter!("meerkat_sm_resumptions_total"),
            sm_resume_failed: metrics::counter!("meerkat_sm_resumption_failures_total"),
            sm_detached: metrics::gauge!("meerkat_sm_detached_sessions"),
            cluster_sent: metrics::counter!("meerkat_cluster_stanzas_sent_total"),
            cluster_received: metrics::counter!("meerkat_cluster_stanzas_received_total"),
            cluster_fallbacks: metrics::counter!("meerkat_cluster_offline_fallbacks_total"),
            cluster_connected: metrics::gauge!("meerkat_cluster_connected"),
            cluster_accounts: metrics::gauge!("meerkat_cluster_accounts"),
        }
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The metric handles (no-ops until [`install`]).
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(Metrics::register)
}

/// Installs the Prometheus recorder and registers the handles. Call once, before any traffic.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let buckets = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
            &buckets,
        )?
        .install_recorder()?;
    describe();
    let _ = get();
    Ok(handle)
}

fn describe() {
    metrics::describe_counter!("meerkat_logins_total", "Successful SASL logins");
    metrics::describe_counter!("meerkat_login_failures_total", "Failed SASL attempts");
    metrics::describe_counter!("meerkat_c2s_connections_total", "Accepted client connections");
    metrics::describe_counter!("meerkat_c2s_accept_errors_total", "Failed accepts (EMFILE, ...)");
    metrics::describe_counter!("meerkat_http_connections_total", "Accepted HTTP connections");
    metrics::describe_counter!(
        "meerkat_websocket_connections_total",
        "XMPP-over-WebSocket connections upgraded"
    );
    metrics::describe_gauge!(
        "meerkat_websocket_connections",
        "Open XMPP-over-WebSocket connections"
    );
    metrics::describe_counter!("meerkat_bosh_sessions_total", "BOSH sessions created");
    metrics::describe_gauge!("meerkat_bosh_sessions", "Open BOSH sessions");
    metrics::describe_counter!(
        "meerkat_bosh_retransmissions_total",
        "BOSH responses sent again for a repeated rid"
    );
    metrics::describe_counter!(
        "meerkat_bosh_terminated_total",
        "BOSH sessions ended for a client's fault (rid, size, overactivity)"
    );
    metrics::describe_counter!(
        "meerkat_bosh_forwarded_total",
        "BOSH requests sent to the cluster node holding their session"
    );
    metrics::describe_counter!(
        "meerkat_bosh_forwarded_in_total",
        "BOSH requests forwarded here by another cluster node for a session held here"
    );
    metrics::describe_counter!("meerkat_stanzas_in_total", "Stanzas received from clients");
    metrics::describe_counter!("meerkat_stanzas_out_total", "Stanzas written to clients");
    metrics::describe_counter!("meerkat_c2s_bytes_in_total", "Bytes read from clients");
    metrics::describe_counter!("meerkat_c2s_bytes_out_total", "Bytes written to clients");
    metrics::describe_histogram!(
        "meerkat_route_duration_seconds",
        metrics::Unit::Seconds,
        "Time to route one client stanza to every recipient"
    );
    metrics::describe_counter!(
        "meerkat_session_queue_overflows_total",
        "Sessions closed because they did not read their stanzas"
    );
    metrics::describe_counter!("meerkat_offline_messages_stored_total", "Messages stored offline");
    metrics::describe_gauge!("meerkat_sessions", "Bound client sessions");
    metrics::describe_counter!("meerkat_sm_resumptions_total", "Stream Management resumptions");
    metrics::describe_counter!(
        "meerkat_sm_resumption_failures_total",
        "Refused Stream Management resumptions"
    );
    metrics::describe_gauge!(
        "meerkat_sm_detached_sessions",
        "Resumable sessions waiting for their client to resume"
    );
    metrics::describe_counter!(
        "meerkat_cluster_stanzas_sent_total",
        "Stanzas another cluster node acknowledged"
    );
    metrics::describe_counter!(
        "meerkat_cluster_stanzas_received_total",
        "Stanzas received from other cluster nodes"
    );
    metrics::describe_counter!(
        "meerkat_cluster_offline_fallbacks_total",
        "Stanzas no cluster node took, handled by the offline rules on the sending node"
    );
    metrics::describe_gauge!("meerkat_cluster_connected", "1 while connected to NATS");
    metrics::describe_gauge!(
        "meerkat_cluster_accounts",
        "Accounts with a resource bound here (NATS subscriptions)"
    );
}

/// Serves `GET /metrics` until shutdown, and drains histograms periodically.
pub async fn serve(server: ServerRef, listener: tokio::net::TcpListener, handle: PrometheusHandle) {
    let upkeep = handle.clone();
    let stop = server.shutdown.clone();
    server.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => upkeep.run_upkeep(),
                _ = stop.cancelled() => return,
            }
        }
    });
    let s = server.clone();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let s = s.clone();
            let handle = handle.clone();
            async move {
                get().sessions.set(s.sessions.len() as f64);
                if let Some(c) = s.cluster() {
                    get().cluster_connected.set(if c.is_connected() { 1.0 } else { 0.0 });
                    get().cluster_accounts.set(c.account_count() as f64);
                }
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
            }
        }),
    );
    let stop = server.shutdown.clone();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    {
        tracing::error!(what = "metrics_endpoint_failed", error = %e);
    }
}
