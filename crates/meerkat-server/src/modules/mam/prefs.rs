//! Archiving preferences (XEP-0313 §6): `<prefs default='always|never|roster'>` with `<always/>`
//! and `<never/>` JID lists, stored per user and cached in memory for routing.

use super::NS;
use crate::addr::Addr;
use crate::modules::{iq, Me};
use crate::router;
use crate::server::ServerRef;
use dashmap::DashMap;
use meerkat_config::MamDefaultMode;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_storage::{ArchivePrefs, DefaultMode};
use meerkat_xml::Element;
use std::sync::Arc;

/// Preferences of recently seen users, keyed `user@host`; `None` means "set none" (the
/// configured default applies). At most `capacity` users: beyond it an arbitrary entry is
/// evicted. Worst case about `capacity` × (key + 100 bytes) plus the users' lists.
pub struct PrefsCache {
    map: DashMap<String, Option<Arc<ArchivePrefs>>>,
    capacity: usize,
    /// The configured default, shared by every user who set none.
    fallback: std::sync::OnceLock<Arc<ArchivePrefs>>,
}

impl PrefsCache {
    /// An empty cache for at most `capacity` users.
    pub fn new(capacity: usize) -> Self {
        PrefsCache { map: DashMap::new(), capacity, fallback: std::sync::OnceLock::new() }
    }

    fn get(&self, bare: &str) -> Option<Option<Arc<ArchivePrefs>>> {
        self.map.get(bare).map(|e| e.value().clone())
    }

    fn put(&self, bare: String, prefs: Option<Arc<ArchivePrefs>>) {
        if self.map.len() >= self.capacity && !self.map.contains_key(&bare) {
            let victim = self.map.iter().next().map(|e| e.key().clone());
            if let Some(v) = victim {
                self.map.remove(&v);
            }
        }
        self.map.insert(bare, prefs);
    }
}

fn configured_default(server: &ServerRef) -> DefaultMode {
    match server.config.modules.mam.default_mode {
        MamDefaultMode::Always => DefaultMode::Always,
        MamDefaultMode::Never => DefaultMode::Never,
        MamDefaultMode::Roster => DefaultMode::Roster,
    }
}

/// The preferences in force for a user: theirs, or the configured default with empty lists.
pub async fn effective(
    server: &ServerRef,
    node: &str,
    domain: &str,
    bare: &str,
) -> Arc<ArchivePrefs> {
    let stored = match server.mam.prefs.get(bare) {
        Some(p) => p,
        None => match server.storage.archive.get_prefs(domain, node).await {
            Ok(p) => {
                let p = p.map(Arc::new);
                server.mam.prefs.put(bare.to_owned(), p.clone());
                p
            }
            Err(e) => {
                // Archiving by the configured default beats losing the message from history.
                tracing::error!(what = "mam_prefs_read_failed", error = %e);
                None
            }
        },
    };
    stored.unwrap_or_else(|| {
        server
            .mam
            .prefs
            .fallback
            .get_or_init(|| {
                Arc::new(ArchivePrefs {
                    default: configured_default(server),
                    always: vec![],
                    never: vec![],
                })
            })
            .clone()
    })
}

fn to_xml(p: &ArchivePrefs) -> Element {
    let list = |name: &str, jids: &[String]| {
        jids.iter().fold(Element::new(name, NS), |e, j| {
            e.with_child(Element::new("jid", NS).with_text(j.clone()))
        })
    };
    Element::new("prefs", NS)
        .with_attr("default", p.default.as_str())
        .with_child(list("always", &p.always))
        .with_child(list("never", &p.never))
}

/// Parses a `<prefs/>` set request (`Err`: the stanza error to answer).
fn parse(server: &ServerRef, el: &Element) -> Result<ArchivePrefs, StanzaError> {
    let bad = |t: &str| StanzaError::new(SEC::BadRequest).with_text(t.to_owned());
    let default = el
        .attr("default")
        .and_then(DefaultMode::parse)
        .ok_or_else(|| bad("default must be always, never or roster"))?;
    let max = server.config.modules.mam.max_prefs_jids;
    let list = |name: &str| -> Result<Vec<String>, StanzaError> {
        let mut out = Vec::new();
        if let Some(l) = el.get_child(name, NS) {
            for j in l.children() {
                if !j.is("jid", NS) {
                    return Err(bad("only <jid/> elements belong in <always/> and <never/>"));
                }
                let a = Addr::parse(j.text().trim()).ok_or_else(|| {
                    StanzaError::new(SEC::JidMalformed).with_text("not a JID".to_owned())
                })?;
                out.push(a.bare());
                if out.len() > max {
                    return Err(StanzaError::new(SEC::PolicyViolation)
                        .with_text(format!("at most {max} JIDs per list")));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    };
    Ok(ArchivePrefs { default, always: list("always")?, never: list("never")? })
}

/// Serves `<prefs/>` get and set.
pub async fn handle(server: &ServerRef, me: &Me, req: &Element) {
    let reply = match (req.attr("type"), iq::payload(req)) {
        (Some("get"), Some(_)) => {
            let p = effective(server, &me.user, &me.host, &me.bare).await;
            Some(iq::result(req, Some(to_xml(&p))))
        }
        (Some("set"), Some(el)) => match parse(server, el) {
            Ok(p) => match server.storage.archive.set_prefs(&me.host, &me.user, &p).await {
                Ok(()) => {
                    let xml = to_xml(&p);
                    server.mam.prefs.put(me.bare.clone(), Some(Arc::new(p)));
                    Some(iq::result(req, Some(xml)))
                }
                Err(e) => {
                    tracing::error!(what = "mam_prefs_write_failed", error = %e);
                    iq::error(req, StanzaError::new(SEC::InternalServerError))
                }
            },
            Err(err) => iq::error(req, err),
        },
        _ => iq::error(req, StanzaError::new(SEC::BadRequest)),
    };
    if let Some(r) = reply {
        router::route(server, r).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded() {
        let c = PrefsCache::new(2);
        for u in ["a@h", "b@h", "c@h", "d@h"] {
            c.put(u.into(), None);
        }
        assert_eq!(c.map.len(), 2);
        assert!(c.get("d@h").is_some());
    }
}
