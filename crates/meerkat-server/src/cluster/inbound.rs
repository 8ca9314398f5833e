//! What other nodes send: stanzas (parsed with limits: the envelope is authenticated, but the
//! XML inside came from a client of another node), their resources of accounts held here
//! (Hello/State), conflict kicks, and requests of the BOSH sessions held here.

use super::workers::{Work, Workers};
use super::{ClusterNode, ClusterRef};
use crate::addr::Addr;
use crate::router::Origin;
use crate::server::ServerRef;
use meerkat_cluster::{AccountState, Inbound, MemberEvent};
use meerkat_proto::error::{StreamError, StreamErrorCondition};
use meerkat_proto::ns;
use meerkat_xml::{Element, StreamEvent, StreamParser};
use tokio::sync::{broadcast, mpsc};

/// How long the inbound queue is still drained once the node stops.
const DRAIN_AFTER_STOP: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts the inbound reader and the member-event watcher.
pub fn spawn(
    server: &ServerRef,
    cluster: &ClusterRef,
    rx: mpsc::Receiver<Inbound>,
    workers: Workers,
) {
    server.tasks.spawn(run(server.clone(), cluster.clone(), rx, workers));
    server.tasks.spawn(watch_members(server.clone(), cluster.member_events()));
}

async fn run(
    server: ServerRef,
    cluster: ClusterRef,
    mut rx: mpsc::Receiver<Inbound>,
    workers: Workers,
) {
    // Stanzas in the queue were acknowledged already: at shutdown, keep handling them (the
    // sessions are closing, so they go to offline storage) while the accounts' subjects are
    // released, for at most DRAIN_AFTER_STOP.
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let item = match deadline {
            None => tokio::select! {
                item = rx.recv() => item,
                _ = server.shutdown.cancelled() => {
                    deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_STOP);
                    continue;
                }
            },
            Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok().flatten(),
        };
        let Some(item) = item else { break };
        match item {
            Inbound::Stanza { from_node, to, xml } => {
                let limit = server.config.limits.max_stanza_bytes;
                // Served hosts, and component domains (a MUC room homed on this node).
                let ours = |d: &str| server.serves(d) || server.components.get(d).is_some();
                let Some((stanza, to)) = parse(limit, ours, &to, &xml) else {
                    tracing::warn!(what = "cluster_bad_stanza", %from_node, bytes = xml.len());
                    continue;
                };
                crate::metrics::get().cluster_received.increment(1);
                if !workers.send(Work { stanza, to, origin: Origin::Cluster }).await {
                    break;
                }
            }
            Inbound::Hello { from_node, state } => {
                if let Some(bare) = account(&state) {
                    if cluster.views.set_remote(&bare, &from_node, state.resources) {
                        answer_hello(&server, &cluster, &bare).await;
                    }
                }
            }
            Inbound::State { from_node, state } => {
                if let Some(bare) = account(&state) {
                    cluster.views.set_remote(&bare, &from_node, state.resources);
                }
            }
            Inbound::Kick { from_node, full_jid, bound_at } => {
                kick(&server, &cluster, &from_node, &full_jid, bound_at);
            }
            Inbound::Resume { from_node: _, account, previd, reply } => {
                // In a task of its own: the take-over may wait for the old connection.
                let s = server.clone();
                server.tasks.spawn(async move {
                    super::resume::answer(&s, &account, &previd, reply).await;
                });
            }
            Inbound::Bosh { from_node: _, sid, wait, truncated, body, reply } => {
                // In a task of its own: the request may be held for `wait`. Their number is
                // bounded by the transport (MAX_BOSH_FORWARDED).
                let s = server.clone();
                server.tasks.spawn(async move {
                    let outcome =
                        crate::http::bosh::forward::answer(&s, &sid, wait, truncated, body).await;
                    let _ = reply.0.send(outcome);
                });
            }
        }
    }
}

/// The account of a Hello/State, normalised as the session table keys it.
fn account(state: &AccountState) -> Option<String> {
    let a = Addr::parse(&state.account)?;
    a.node.as_ref()?;
    Some(a.bare())
}

async fn answer_hello(server: &ServerRef, cluster: &ClusterNode, bare: &str) {
    let sessions = server.sessions.resources(bare);
    let state = AccountState {
        account: bare.to_owned(),
        resources: cluster.views.local_state(bare, &sessions),
    };
    if let Err(e) = super::bind::limited(cluster.publish_state(state)).await {
        tracing::warn!(what = "cluster_state_not_sent", error = %e);
    }
}

/// Closes the local session bound to `full_jid` when the other node's bind is the newer one
/// (ties go to the node whose name sorts last, so exactly one of two survives).
fn kick(server: &ServerRef, cluster: &ClusterNode, from_node: &str, full_jid: &str, bound_at: u64) {
    let Some(a) = Addr::parse(full_jid) else { return };
    let (Some(_), Some(resource)) = (&a.node, &a.resource) else { return };
    let bare = a.bare();
    let Some((sid, ours)) = cluster.views.bound_at(&bare, resource) else { return };
    if (ours, cluster.node_name()) >= (bound_at, from_node) {
        return;
    }
    let Some(entry) = server.sessions.get(&bare, resource) else { return };
    if entry.sid != sid {
        return;
    }
    tracing::info!(what = "cluster_conflict", jid = %full_jid, newer_on = %from_node);
    entry.mailbox.close_with(StreamError::with_text(
        StreamErrorCondition::Conflict,
        "Replaced by new connection",
    ));
}

/// Parses one stanza sent by another node: a `jabber:client` message, presence or IQ addressed
/// (by its own `to`) to the account it was routed to, within this node's stanza size limit.
fn parse(
    limit: usize,
    serves: impl Fn(&str) -> bool,
    routed_to: &str,
    xml: &[u8],
) -> Option<(Element, Addr)> {
    // The sending node added a few attributes (from, stanza-id) to a stanza within the limit.
    if xml.len() > limit.saturating_mul(2) {
        return None;
    }
    let mut p = StreamParser::new(meerkat_xml::Limits {
        max_stanza_bytes: limit.saturating_mul(2),
        ..meerkat_xml::Limits::default()
    });
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(xml);
    let el = loop {
        match p.next_event() {
            Ok(Some(StreamEvent::Stanza(el))) => break el,
            Ok(Some(StreamEvent::Open(_))) => continue,
            _ => return None,
        }
    };
    if el.ns != ns::CLIENT || !matches!(el.name.as_str(), "message" | "presence" | "iq") {
        return None;
    }
    el.attr("from").and_then(Addr::parse)?;
    let to = el.attr("to").and_then(Addr::parse)?;
    let routed = Addr::parse(routed_to)?;
    if to.node.is_none() || to.bare() != routed.bare() || !serves(&to.domain) {
        return None;
    }
    Some((el, to))
}

/// Forgets the resources of nodes that went down, so bare-JID routing stops counting on them.
async fn watch_members(server: ServerRef, mut events: broadcast::Receiver<MemberEvent>) {
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = server.shutdown.cancelled() => return,
        };
        match ev {
            Ok(MemberEvent::NodeDown { node, .. }) => {
                if let Some(c) = server.cluster() {
                    c.views.forget_node(&node);
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn p(routed: &str, xml: &str) -> Option<String> {
        parse(1000, |d| d == "x.example", routed, xml.as_bytes()).map(|(el, to)| {
            assert_eq!(el.attr("to").and_then(super::Addr::parse), Some(to.clone()));
            to.full()
        })
    }

    #[test]
    fn stanzas_from_other_nodes_are_checked() {
        let ok = "<message from='a@x.example/r' to='b@x.example/s'><body>hi</body></message>";
        assert_eq!(p("b@x.example", ok).as_deref(), Some("b@x.example/s"));
        assert_eq!(p("b@x.example/s", ok).as_deref(), Some("b@x.example/s"));
        // Routed to another account than the stanza says, or a domain not served.
        assert!(p("c@x.example", ok).is_none());
        let other = "<message from='a@x.example/r' to='b@y.example'/>";
        assert!(p("b@y.example", other).is_none());
        // No from, no node, not a client stanza, not XML, two stanzas' worth of bytes.
        assert!(p("b@x.example", "<message to='b@x.example'/>").is_none());
        assert!(
            p("x.example", "<iq from='a@x.example' to='x.example' type='get' id='1'/>").is_none()
        );
        assert!(p("b@x.example", "<foo from='a@x.example' to='b@x.example'/>").is_none());
        let wrong_ns = "<message xmlns='jabber:server' from='a@x.example' to='b@x.example'/>";
        assert!(p("b@x.example", wrong_ns).is_none());
        assert!(p("b@x.example", "<message from='a@x.example' to='b@x.example'>").is_none());
        assert!(p("b@x.example", "not xml").is_none());
        let big = format!(
            "<message from='a@x.example' to='b@x.example'><body>{}</body></message>",
            "x".repeat(2100)
        );
        assert!(p("b@x.example", &big).is_none());
    }
}
