//! Entity Capabilities (XEP-0115).
//!
//! Client caps: an available broadcast presence carrying `<c hash node ver/>` is looked up as
//! `node#ver` in a bounded in-memory cache. Unknown, the server asks the client's full JID
//! for disco#info at `node#ver`, verifies the answer against `ver` (§5.4, with
//! [`meerkat_proto::caps`]) and caches the feature set only when it verifies. A bad hash (or
//! legacy caps without `hash`) is never cached, but the answer still serves that one session.
//! Each session keeps its features as a shared `Option<Arc<CapsFeatures>>` in its table entry
//! (one pointer; sessions with the same caps share one allocation).
//!
//! When a session's features become known (from the cache or a verified answer), PEP sends it
//! the last items of the nodes it has `+notify` interest in ([`crate::modules::pep`]).
//!
//! Server caps: the server's `<c/>` (§6.3) in stream features, its `ver` computed once from
//! the disco module's answer for the domain, and disco#info at `node#ver` answered like the
//! plain disco#info.

use super::Me;
use crate::router;
use crate::server::ServerRef;
use crate::session::SessionId;
use meerkat_proto::ns;
use meerkat_xml::Element;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The `node` of the server's own caps.
pub const SERVER_NODE: &str = "https://github.com/meerkat-xmpp/meerkat";

/// Features of one client, shared by every session with the same caps.
#[derive(Debug, PartialEq, Eq)]
pub struct CapsFeatures {
    /// `node#ver` this set was learned for.
    pub key: String,
    /// Features, sorted.
    pub features: Box<[String]>,
}

impl CapsFeatures {
    /// True when the client announced `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.binary_search_by(|f| f.as_str().cmp(feature)).is_ok()
    }

    /// True when the client wants notifications of `node` (`node+notify`, XEP-0163 §4).
    pub fn notify(&self, node: &str) -> bool {
        self.has(&format!("{node}+notify"))
    }

    /// Nodes with `+notify` interest.
    pub fn notify_nodes(&self) -> impl Iterator<Item = &str> {
        self.features.iter().filter_map(|f| f.strip_suffix("+notify"))
    }
}

/// Caps announced in one presence.
#[derive(Debug)]
pub struct ClientCaps {
    node: String,
    ver: String,
    hash: Option<String>,
}

struct Pending {
    bare: String,
    full: String,
    sid: SessionId,
    caps: ClientCaps,
    sent: Instant,
}

/// The node-wide caps state.
pub struct CapsState {
    cache: Mutex<HashMap<String, Arc<CapsFeatures>>>,
    pending: Mutex<HashMap<String, Pending>>,
    next_id: AtomicU64,
}

impl CapsState {
    /// Empty state.
    pub fn new() -> Self {
        CapsState {
            cache: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    fn cached(&self, key: &str) -> Option<Arc<CapsFeatures>> {
        self.cache.lock().ok()?.get(key).cloned()
    }

    /// Number of cached `node#ver` entries (for tests and metrics).
    pub fn cached_len(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }
}

impl Default for CapsState {
    fn default() -> Self {
        Self::new()
    }
}

/// The caps of a client presence that must be processed after it is broadcast: available,
/// not directed, with `<c/>`. Cheap when there is none (no allocation).
pub fn from_presence(server: &ServerRef, presence: &Element) -> Option<Box<ClientCaps>> {
    if !server.config.modules.caps.enabled
        || presence.attr("to").is_some()
        || presence.attr("type").is_some()
    {
        return None;
    }
    let c = presence.get_child("c", ns::CAPS)?;
    let (node, ver) = (c.attr("node")?, c.attr("ver")?);
    if node.is_empty() || ver.is_empty() || node.len() + ver.len() > 1024 {
        return None;
    }
    Some(Box::new(ClientCaps {
        node: node.to_owned(),
        ver: ver.to_owned(),
        hash: c.attr("hash").map(str::to_owned),
    }))
}

/// Applies a client's announced caps to its session: from the cache, or by asking the client.
pub async fn apply(server: &ServerRef, me: &Me, caps: Box<ClientCaps>) {
    let key = format!("{}#{}", caps.node, caps.ver);
    let current = server.sessions.get(&me.bare, &me.resource).and_then(|e| e.caps);
    if current.as_ref().is_some_and(|c| c.key == key) {
        return;
    }
    if let Some(features) = server.caps.cached(&key) {
        learned(server, &me.bare, &me.full(), me.sid, features).await;
        return;
    }
    let cfg = &server.config.modules.caps;
    let id = format!("caps-{}", server.caps.next_id.fetch_add(1, Ordering::Relaxed));
    {
        let Ok(mut pending) = server.caps.pending.lock() else { return };
        if pending.len() >= cfg.max_pending_queries {
            let timeout = Duration::from_millis(cfg.query_timeout_ms);
            pending.retain(|_, p| p.sent.elapsed() < timeout);
            if pending.len() >= cfg.max_pending_queries {
                tracing::warn!(what = "caps_pending_full", jid = %me.full());
                return;
            }
        }
        pending.insert(
            id.clone(),
            Pending {
                bare: me.bare.clone(),
                full: me.full(),
                sid: me.sid,
                caps: *caps,
                sent: Instant::now(),
            },
        );
    }
    let q = Element::new("iq", ns::CLIENT)
        .with_attr("from", me.host.clone())
        .with_attr("to", me.full())
        .with_attr("type", "get")
        .with_attr("id", id)
        .with_child(Element::new("query", ns::DISCO_INFO).with_attr("node", key));
    router::route(server, q).await;
}

/// Handles an IQ result or error addressed to the server: true when it answered one of our
/// caps queries.
pub async fn on_response(server: &ServerRef, stanza: &Element) -> bool {
    if stanza.name != "iq" || !matches!(stanza.attr("type"), Some("result" | "error")) {
        return false;
    }
    let Some(id) = stanza.attr("id").filter(|i| i.starts_with("caps-")) else { return false };
    let Some(p) = server.caps.pending.lock().ok().and_then(|mut m| m.remove(id)) else {
        return false;
    };
    // Only the queried entity may answer (anyone could send a result with a guessed id).
    if stanza.attr("from") != Some(p.full.as_str()) || stanza.attr("type") != Some("result") {
        return true;
    }
    let Some(query) = stanza.get_child("query", ns::DISCO_INFO) else { return true };
    let cfg = &server.config.modules.caps;
    let mut features: Vec<String> = query
        .children()
        .filter(|f| f.is("feature", ns::DISCO_INFO))
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect();
    if features.len() > cfg.max_features {
        tracing::warn!(what = "caps_too_many_features", jid = %p.full, count = features.len());
        return true;
    }
    features.sort();
    features.dedup();
    let key = format!("{}#{}", p.caps.node, p.caps.ver);
    let verified =
        p.caps.hash.as_deref().is_some_and(|h| meerkat_proto::caps::verify(h, &p.caps.ver, query));
    let set = Arc::new(CapsFeatures { key: key.clone(), features: features.into_boxed_slice() });
    if verified {
        if let Ok(mut cache) = server.caps.cache.lock() {
            if cache.len() >= cfg.cache_entries {
                if let Some(k) = cache.keys().next().cloned() {
                    cache.remove(&k);
                }
            }
            cache.insert(key, set.clone());
        }
    } else {
        tracing::info!(what = "caps_not_verified", jid = %p.full, key = %key);
    }
    learned(server, &p.bare, &p.full, p.sid, set).await;
    true
}

/// A session's features are now known: keep them and let PEP send what it is interested in.
async fn learned(
    server: &ServerRef,
    bare: &str,
    full: &str,
    sid: SessionId,
    features: Arc<CapsFeatures>,
) {
    if !server.sessions.set_caps(bare, sid, Some(features.clone())) {
        return;
    }
    crate::modules::pep::interest_learned(server, bare, full, &features).await;
}

/// The server's disco#info query, answered by the same path as a client's query (the ad-hoc
/// module adds the features of the modules enabled in the configuration).
fn server_info(server: &ServerRef) -> Option<Element> {
    let req = Element::new("iq", ns::CLIENT)
        .with_attr("type", "get")
        .with_attr("id", "caps")
        .with_child(Element::new("query", ns::DISCO_INFO));
    let reply = super::adhoc::server_disco(server, &req)?;
    reply.get_child("query", ns::DISCO_INFO).cloned()
}

/// The server's `<c/>` for stream features (`None` when caps are disabled).
pub fn server_caps(server: &ServerRef) -> Option<Element> {
    if !server.config.modules.caps.enabled {
        return None;
    }
    static CAPS: OnceLock<Option<Element>> = OnceLock::new();
    CAPS.get_or_init(|| meerkat_proto::caps::caps_element(SERVER_NODE, &server_info(server)?))
        .clone()
}

/// disco#info of the server at its caps `node#ver` (XEP-0115 §6.2): the plain answer with the
/// node echoed. `None` for any other request.
pub fn server_node_info(server: &ServerRef, req: &Element) -> Option<Element> {
    let q = req.get_child("query", ns::DISCO_INFO)?;
    let node = q.attr("node")?;
    let c = server_caps(server)?;
    if req.attr("type") != Some("get")
        || Some(node) != c.attr("ver").map(|v| format!("{SERVER_NODE}#{v}")).as_deref()
    {
        return None;
    }
    let mut info = server_info(server)?;
    info.set_attr("node", node);
    Some(crate::modules::iq::result(req, Some(info)))
}
