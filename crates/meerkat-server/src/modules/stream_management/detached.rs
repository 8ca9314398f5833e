//! A resumable session whose connection broke (XEP-0198 §5): it stays bound and available,
//! collects what is routed to it, and either moves to a resuming connection or, at the
//! timeout, ends like any session. Also the end of every session's unsent stanzas.

use super::{Detached, StreamExt};
use crate::modules::Me;
use crate::router;
use crate::server::ServerRef;
use crate::session::Mail;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;
use std::time::Duration;
use tokio::time::Instant;

/// Mailbox stanzas moved into the unacked queue per wake-up.
const DRAIN_BATCH: usize = 64;

/// Waits detached until a resuming connection takes the session (`None`) or the session must
/// end (`Some`: timeout, unacked queue full, kicked or replaced, shutdown). With
/// `takeover_now`, a resumer is already waiting (the session was attached when it asked).
///
/// Stanzas routed meanwhile go from the mailbox into the unacked queue, counted as sent: the
/// resumed connection retransmits them, and an ending session re-routes them.
pub async fn wait(
    server: &ServerRef,
    d: Box<Detached>,
    takeover_now: bool,
) -> Option<Box<Detached>> {
    let Some((id, secs)) = d.sm.resumable().map(|(id, s)| (id.to_owned(), s)) else {
        return Some(d);
    };
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs));
    let m = crate::metrics::get();
    m.sm_detached.increment(1.0);
    tracing::info!(what = "session_detached", jid = %d.me.full(), resume_s = secs);
    let mut d = d;
    let mut takeover = takeover_now;
    let mut batch: Vec<Element> = Vec::new();
    let result = loop {
        if std::mem::take(&mut takeover) {
            if let Some(tx) = server.sm_registry.claim(&id) {
                match tx.send(d) {
                    Ok(()) => break None,
                    // The resumer gave up: keep waiting.
                    Err(back) => d = back,
                }
            }
        }
        let mail = tokio::select! {
            mail = d.mailbox.recv(&mut batch, DRAIN_BATCH) => Some(mail),
            _ = tokio::time::sleep_until(deadline) => None,
        };
        match mail {
            Some(Mail::Stanzas) => {
                let now = std::time::Instant::now();
                for el in batch.drain(..) {
                    d.sm.on_outbound(el, now);
                }
                batch = Vec::new();
                if d.sm.overflowed() {
                    tracing::info!(what = "detached_queue_full", jid = %d.me.full());
                    break Some(d);
                }
            }
            Some(Mail::Takeover) => takeover = true,
            Some(Mail::Close(_)) | Some(Mail::Overflow) => break Some(d),
            None => {
                tracing::info!(what = "resume_timeout", jid = %d.me.full());
                break Some(d);
            }
        }
    };
    m.sm_detached.decrement(1.0);
    result
}

/// The stanzas a session leaves unsent when it ends, oldest first: SM's unacknowledged ones,
/// then those CSI held back. Forgets the resumption id.
pub fn leftovers(server: &ServerRef, ext: Option<Box<StreamExt>>) -> Vec<Element> {
    let Some(ext) = ext else { return Vec::new() };
    let StreamExt { sm, csi } = *ext;
    let mut out = Vec::new();
    if let Some(mut sm) = sm {
        if let Some((id, _)) = sm.resumable() {
            server.sm_registry.remove(id);
        }
        out.extend(sm.take_unacked());
    }
    if let Some(csi) = csi {
        out.extend(csi.into_held());
    }
    out
}

/// Re-routes what an ended session never delivered (RFC 6120 §10 and XEP-0198 §5: treat as not
/// delivered): messages go to the bare JID (another resource or offline storage), IQ requests
/// are answered with `service-unavailable`, the rest (presence, IQ results, errors) is dropped
/// since it only described the session that ended.
pub async fn reroute(server: &ServerRef, me: &Me, stanzas: impl IntoIterator<Item = Element>) {
    for mut el in stanzas {
        let kind = el.attr("type").unwrap_or_default().to_owned();
        match el.name.as_str() {
            "message" if kind != "error" => {
                el.set_attr("to", me.bare.clone());
                router::route(server, el).await;
            }
            "iq" if kind == "get" || kind == "set" => {
                router::bounce(server, &el, StanzaError::new(SEC::ServiceUnavailable)).await;
            }
            _ => {}
        }
    }
}
