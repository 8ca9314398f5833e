//! BOSH in a cluster: any node takes a session's requests; the node holding the session
//! answers them.
//!
//! A sid created on a cluster member ends with that node's tag
//! ([`meerkat_cluster::subjects::node_tag`]), so the node a request reaches knows at once
//! where the session lives, with no table to look up or keep in sync. A request for another
//! node's sid is sent there over NATS (on that node's BOSH subject, which only it subscribes
//! to), processed there as if it had arrived there, and its answer is this node's HTTP
//! response. The body's size limit is applied here first: the holder never sees more than
//! a node may read. No answer (the node is gone, or holds no such session) is
//! `item-not-found`, as for an unknown sid.
//!
//! ```text
//! client -> node B: <body sid='…<tag of A>'/>   B: not mine, tag is A's
//! B -> A: BoshRequest (sid, body, B's longest hold)   A: registry, rid window, hold …
//! A -> B: BoshAnswer (the <body/> A would have sent)  B -> client: that body
//! ```

use super::session::{terminate, Session};
use super::{respond, xml, Endpoint};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use meerkat_cluster::BoshOutcome;
use meerkat_stream::bosh::{parse_body, Condition};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Hex digits of the random part of a sid.
const RANDOM_LEN: usize = 32;
/// Hex digits of the node tag after it.
const TAG_LEN: usize = 8;

/// Largest answer that can travel back in a cluster envelope (with room for the envelope).
fn max_answer() -> usize {
    meerkat_cluster::Limits::default().max_payload.saturating_sub(4096)
}

/// A fresh sid: on a cluster member it ends with this node's tag.
pub fn new_sid(server: &crate::server::ServerRef) -> String {
    let sid = super::registry::new_sid();
    match server.cluster() {
        Some(c) => format!("{sid}{}", c.node_tag()),
        None => sid,
    }
}

/// The node tag a cluster member's sid ends with.
fn tag_of(sid: &str) -> Option<&str> {
    if sid.len() != RANDOM_LEN + TAG_LEN || !sid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    sid.get(RANDOM_LEN..)
}

/// The tag of the node holding `sid`, when that is another node of this cluster.
fn holder<'a>(server: &crate::server::ServerRef, sid: &'a str) -> Option<&'a str> {
    let own = server.cluster()?.node_tag();
    tag_of(sid).filter(|t| *t != own)
}

/// The BOSH endpoints of this node (one per HTTP listener serving BOSH). Weak: the endpoints
/// hold the server.
#[derive(Default)]
pub struct Endpoints(Mutex<Vec<Weak<Endpoint>>>);

impl Endpoints {
    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Endpoint>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn register(&self, ep: &Arc<Endpoint>) {
        let mut list = self.list();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(ep));
    }

    fn find(&self, sid: &str) -> Option<(Arc<Endpoint>, Arc<Session>)> {
        self.list().iter().filter_map(Weak::upgrade).find_map(|ep| {
            let s = ep.registry.get(sid)?;
            Some((ep, s))
        })
    }
}

/// Sends a request for another node's session there and answers with what it answers; `None`
/// when `sid` is no other node's (the caller answers as for an unknown sid). `truncated`: the
/// body was over the size limit and `body` is its first part.
pub(super) async fn to_holder(
    ep: &Endpoint,
    sid: Option<&str>,
    body: &Bytes,
    truncated: bool,
) -> Option<Response> {
    let sid = sid?;
    let tag = holder(&ep.server, sid)?;
    let cluster = ep.server.cluster()?;
    crate::metrics::get().bosh_forwarded.increment(1);
    // The holder holds the request at most this long, whatever the session's `wait`: this
    // node's cap, which the holder's session cannot exceed when the nodes share their
    // configuration, and which bounds the wait here when they do not.
    let wait = Duration::from_secs(ep.caps.max_wait_s);
    let outcome = tokio::select! {
        o = cluster.forward_bosh(tag, sid, body.clone(), truncated, wait) => o,
        // This node stops, not the session: the client repeats the request elsewhere, and the
        // holder hands the repeat whatever it answers (XEP-0124 §14.3).
        _ = ep.server.shutdown.cancelled() => BoshOutcome::Busy,
    };
    Some(match outcome {
        BoshOutcome::Answered(b) => xml(b),
        BoshOutcome::Unknown => {
            tracing::debug!(what = "bosh_unknown_sid", holder = tag);
            xml(terminate(Some(Condition::ItemNotFound)))
        }
        // Not a terminal condition: the session lives on, the client may repeat the request.
        BoshOutcome::Busy => {
            let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
            super::cors(r.headers_mut());
            r
        }
    })
}

/// Holder: processes a request another node forwarded exactly as one that arrives here,
/// holding it at most `wait`.
pub async fn answer(
    server: &crate::server::ServerRef,
    sid: &str,
    wait: Duration,
    truncated: bool,
    body: Bytes,
) -> BoshOutcome {
    let Some((ep, session)) = server.bosh.find(sid) else { return BoshOutcome::Unknown };
    crate::metrics::get().bosh_forwarded_in.increment(1);
    if truncated {
        session.terminate(Condition::PolicyViolation, "body_too_large");
        return BoshOutcome::Answered(terminate(Some(Condition::PolicyViolation)).into());
    }
    let parsed = match parse_body(&body, ep.body_limits) {
        Ok(b) => b,
        Err(c) => {
            session.terminate(c, "bad_body");
            return BoshOutcome::Answered(terminate(Some(c)).into());
        }
    };
    if parsed.sid.as_deref() != Some(sid) {
        return BoshOutcome::Unknown;
    }
    let reply = session.request(parsed, body.len());
    drop(body);
    let out = respond(&ep.server, &session, reply, wait).await;
    if out.len() > max_answer() {
        // Rare (a client far behind on up to 1 MiB of output), and the answer cannot travel:
        // ending the session is the bounded way out; its stanzas are re-routed as for any end.
        session.terminate(Condition::PolicyViolation, "answer_too_large_to_forward");
        return BoshOutcome::Answered(terminate(Some(Condition::PolicyViolation)).into());
    }
    BoshOutcome::Answered(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_sid_is_a_plain_sid_then_a_node_tag() {
        let plain = super::super::registry::new_sid();
        let tag = meerkat_cluster::subjects::node_tag("node1");
        assert_eq!(tag_of(&format!("{plain}{tag}")), Some(tag.as_str()));
        // Standalone sids, and anything else a client may send, name no node.
        assert_eq!(tag_of(&plain), None);
        for bad in [
            format!("{plain}{}", &tag[1..]),
            format!("{plain}{tag}0"),
            format!("{plain}zzzzzzzz"),
            format!("{}-{tag}", &plain[1..]),
            format!("{}é{tag}", &plain[2..]),
            String::new(),
        ] {
            assert_eq!(tag_of(&bad), None, "{bad}");
        }
    }
}
