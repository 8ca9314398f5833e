use super::mailbox::Mailbox;
use dashmap::DashMap;
use meerkat_proto::error::StreamError;
use meerkat_xml::Element;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Process-unique id of one session, so a replaced session cannot unregister its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u64);

/// One bound resource.
#[derive(Debug, Clone)]
pub struct SessionEntry {
    /// Session id.
    pub sid: SessionId,
    /// Resourcepart of the full JID.
    pub resource: String,
    /// Mailbox of the connection task.
    pub mailbox: Mailbox,
    /// Last broadcast available presence, without `from`/`to` (see [`Self::presence_from`]);
    /// `None` while the session has not sent initial presence or became unavailable (RFC 6121
    /// §4.1: not an "available resource"). A plain `<presence/>` is one shared value
    /// ([`plain_presence`]), so idle sessions pay nothing for it.
    pub presence: Option<Arc<Element>>,
    /// Priority of the last available presence.
    pub priority: i8,
    /// The resource asked for the roster, so it gets roster pushes (RFC 6121 §2.1.6).
    pub interested: bool,
    /// The resource enabled message carbons (XEP-0280).
    pub carbons: bool,
    /// The resource asked for the blocklist, so it gets block/unblock pushes (XEP-0191 §3.2).
    pub blocklist_interested: bool,
    /// Features from the session's entity capabilities (XEP-0115), shared between sessions
    /// with the same caps; `None` until learned.
    pub caps: Option<Arc<crate::modules::caps::CapsFeatures>>,
}

/// The shared `<presence/>` with no payload.
pub fn plain_presence() -> Arc<Element> {
    static PLAIN: OnceLock<Arc<Element>> = OnceLock::new();
    PLAIN.get_or_init(|| Arc::new(Element::new("presence", meerkat_proto::ns::CLIENT))).clone()
}

impl SessionEntry {
    /// The session's current presence as sent to others: `from` its full JID.
    pub fn presence_from(&self, bare: &str) -> Option<Element> {
        let mut p = (**self.presence.as_ref()?).clone();
        p.set_attr("from", format!("{bare}/{}", self.resource));
        Some(p)
    }

    /// Available and not negative: eligible for messages to the bare JID (RFC 6121 §8.5.2.1).
    pub fn accepts_bare_messages(&self) -> bool {
        self.presence.is_some() && self.priority >= 0
    }
}

/// Result of binding a resource.
pub enum BindOutcome {
    /// Bound; the replaced session (same full JID), if any, was told to close with `conflict`.
    Bound {
        /// True when an older session with the same full JID was replaced.
        replaced: bool,
    },
}

/// All sessions bound on this node, keyed by bare JID (`user@host`, normalised).
#[derive(Default)]
pub struct SessionTable {
    by_bare: DashMap<String, Vec<SessionEntry>>,
    next_sid: AtomicU64,
    count: std::sync::atomic::AtomicUsize,
}

impl SessionTable {
    /// A fresh id for a new connection.
    pub fn next_sid(&self) -> SessionId {
        SessionId(self.next_sid.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Number of bound sessions.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Binds `entry` under `bare`. A session already bound to the same full JID is removed from
    /// the table and told to close with `conflict` (RFC 6120 §7.7.2.2, "override" policy).
    pub fn bind(&self, bare: &str, entry: SessionEntry) -> BindOutcome {
        let mut replaced = None;
        {
            // Most accounts have one resource: no room reserved for more.
            let mut list =
                self.by_bare.entry(bare.to_owned()).or_insert_with(|| Vec::with_capacity(1));
            if let Some(pos) = list.iter().position(|e| e.resource == entry.resource) {
                replaced = Some(list.remove(pos));
            } else {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            list.push(entry);
        }
        if let Some(old) = &replaced {
            let err = StreamError::with_text(
                meerkat_proto::error::StreamErrorCondition::Conflict,
                "Replaced by new connection",
            );
            old.mailbox.close_with(err);
        }
        BindOutcome::Bound { replaced: replaced.is_some() }
    }

    /// Removes a session if it is still the one bound (a replaced session must not remove its
    /// successor). Returns the removed entry.
    pub fn unbind(&self, bare: &str, resource: &str, sid: SessionId) -> Option<SessionEntry> {
        let mut removed = None;
        let mut now_empty = false;
        if let Some(mut list) = self.by_bare.get_mut(bare) {
            if let Some(pos) = list.iter().position(|e| e.resource == resource && e.sid == sid) {
                removed = Some(list.remove(pos));
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            now_empty = list.is_empty();
        }
        if now_empty {
            self.by_bare.remove_if(bare, |_, l| l.is_empty());
        }
        removed
    }

    /// Snapshot of the resources of a bare JID.
    pub fn resources(&self, bare: &str) -> Vec<SessionEntry> {
        self.by_bare.get(bare).map(|l| l.clone()).unwrap_or_default()
    }

    /// The session bound to a full JID.
    pub fn get(&self, bare: &str, resource: &str) -> Option<SessionEntry> {
        self.by_bare.get(bare).and_then(|l| l.iter().find(|e| e.resource == resource).cloned())
    }

    /// Updates presence state of a session; returns false when it is not bound (any more).
    pub fn set_presence(
        &self,
        bare: &str,
        sid: SessionId,
        presence: Option<Arc<Element>>,
        priority: i8,
    ) -> bool {
        self.update(bare, sid, |e| {
            e.presence = presence;
            e.priority = priority;
        })
    }

    /// Marks a session as interested in roster pushes.
    pub fn set_interested(&self, bare: &str, sid: SessionId) -> bool {
        self.update(bare, sid, |e| e.interested = true)
    }

    /// Enables or disables message carbons for a session (XEP-0280).
    pub fn set_carbons(&self, bare: &str, sid: SessionId, on: bool) -> bool {
        self.update(bare, sid, |e| e.carbons = on)
    }

    /// The sessions of `bare` other than `except` with carbons enabled (no allocation when
    /// there are none).
    pub fn carbons_enabled(&self, bare: &str, except: SessionId) -> Vec<SessionEntry> {
        self.by_bare
            .get(bare)
            .map(|l| l.iter().filter(|e| e.carbons && e.sid != except).cloned().collect())
            .unwrap_or_default()
    }

    /// Sets the features learned from the session's caps.
    pub fn set_caps(
        &self,
        bare: &str,
        sid: SessionId,
        caps: Option<Arc<crate::modules::caps::CapsFeatures>>,
    ) -> bool {
        self.update(bare, sid, |e| e.caps = caps)
    }

    /// Marks a session as interested in blocklist pushes.
    pub fn set_blocklist_interested(&self, bare: &str, sid: SessionId) -> bool {
        self.update(bare, sid, |e| e.blocklist_interested = true)
    }

    fn update(&self, bare: &str, sid: SessionId, f: impl FnOnce(&mut SessionEntry)) -> bool {
        if let Some(mut list) = self.by_bare.get_mut(bare) {
            if let Some(e) = list.iter_mut().find(|e| e.sid == sid) {
                f(e);
                return true;
            }
        }
        false
    }

    /// Full JIDs of every bound session, sorted.
    pub fn all_full_jids(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .by_bare
            .iter()
            .flat_map(|kv| {
                let bare = kv.key().clone();
                kv.value()
                    .iter()
                    .map(move |e| format!("{}/{}", bare, e.resource))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }

    /// Every bound session (for shutdown).
    pub fn all(&self) -> Vec<SessionEntry> {
        self.by_bare.iter().flat_map(|kv| kv.value().clone()).collect()
    }
}
