//! What a bind, a presence change and an unbind tell the cluster: the account's subject is
//! subscribed before the bind is answered, the other nodes holding the account learn this
//! node's resources (Hello, then State on each change), and an older session with the same
//! full JID elsewhere is closed (Kick).

use super::ClusterNode;
use crate::modules::Me;
use crate::server::ServerRef;
use meerkat_cluster::AccountState;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest a bind, presence change or unbind waits on the NATS client: during an outage its
/// buffer fills and publishing waits; the session goes on without telling the cluster (other
/// nodes then store stanzas for it offline, as for any unreachable node).
const CALL_LIMIT: Duration = Duration::from_secs(1);

/// `f` within [`CALL_LIMIT`]; a timeout is reported as an error string.
pub(super) async fn limited<T, E: std::fmt::Display>(
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_LIMIT, f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("NATS client busy (timed out)".into()),
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn state(server: &ServerRef, c: &ClusterNode, bare: &str) -> AccountState {
    let sessions = server.sessions.resources(bare);
    AccountState { account: bare.to_owned(), resources: c.views.local_state(bare, &sessions) }
}

/// Called once the session is in the local table and before the bind result is written, so
/// a stanza another node sends once the client knows its JID finds a subscriber.
pub async fn on_bind(server: &ServerRef, me: &Me) {
    let Some(c) = server.cluster() else { return };
    let bound_at = now_ms();
    let first = c.views.bind_local(&me.bare, me.sid, &me.resource, bound_at);
    if let Err(e) = limited(c.subscribe_account(&me.bare)).await {
        // NATS is down: stanzas from other nodes go to offline storage until it is back.
        tracing::warn!(what = "cluster_subscribe_failed", jid = %me.full(), error = %e);
    }
    let shared = c.views.must_publish(&me.bare);
    let published = if first {
        limited(c.publish_hello(state(server, c, &me.bare))).await
    } else if shared {
        limited(c.publish_state(state(server, c, &me.bare))).await
    } else {
        Ok(())
    };
    if let Err(e) = published {
        tracing::warn!(what = "cluster_state_not_sent", jid = %me.full(), error = %e);
    }
    // Only a node holding the account can hold the same full JID: when the view says no other
    // node does, there is nobody to tell.
    if first || shared {
        if let Err(e) = limited(c.kick(&me.full(), bound_at)).await {
            tracing::warn!(what = "cluster_kick_not_sent", jid = %me.full(), error = %e);
        }
    }
    // While disconnected there is nothing to flush to: do not make the bind wait.
    if first && c.is_connected() {
        if let Err(e) = limited(c.flush()).await {
            tracing::debug!(what = "cluster_flush_failed", error = %e);
        }
    }
}

/// Called after the session's presence or priority changed (its entry already updated).
pub async fn on_presence_change(server: &ServerRef, me: &Me) {
    let Some(c) = server.cluster() else { return };
    if !c.views.must_publish(&me.bare) {
        return;
    }
    if let Err(e) = limited(c.publish_state(state(server, c, &me.bare))).await {
        tracing::warn!(what = "cluster_state_not_sent", jid = %me.full(), error = %e);
    }
}

/// Called after the session left the local table: other holders drop the resource, and the
/// last local resource releases the account's subject.
pub async fn on_unbind(server: &ServerRef, me: &Me) {
    let Some(c) = server.cluster() else { return };
    let Some(shared) = c.views.unbind_local(&me.bare, me.sid) else { return };
    if shared {
        if let Err(e) = limited(c.publish_state(state(server, c, &me.bare))).await {
            tracing::warn!(what = "cluster_state_not_sent", jid = %me.full(), error = %e);
        }
    }
    c.unsubscribe_account(&me.bare);
}
