//! A bound client session: the loop that reads the client's stanzas, writes what others route
//! to it, pings it when silent, and cleans up when it ends.

use super::conn::{Conn, ConnEnd};
use super::negotiate::Authenticated;
use crate::addr::{self, Addr};
use crate::modules::presence::{self, SessionPresence};
use crate::modules::{iq, Me};
use crate::router;
use crate::server::ServerRef;
use crate::session::{Mail, Mailbox, SessionEntry};
use meerkat_proto::error::{
    StanzaError, StanzaErrorCondition as SEC, StreamError, StreamErrorCondition as C,
};
use meerkat_proto::ns;
use meerkat_storage::LastActivity;
use meerkat_xml::{Element, StreamEvent};
use std::time::Duration;
use tokio::time::Instant;

/// Mailbox messages written per wake-up before yielding, so one busy session cannot starve the
/// socket reads of its own connection.
const DRAIN_BATCH: usize = 64;

/// What binding produced: the session's identity and the receiving end of its mailbox.
struct Bound {
    me: Me,
    mailbox: Mailbox,
}

/// Binds the resource asked for in `auth.bind_iq` and runs the session until it ends.
///
/// The connection is borrowed, not moved: a moved argument is kept twice in an async state
/// machine, and this future lives as long as the session does.
pub async fn run(server: ServerRef, conn: &mut Conn, auth: Box<Authenticated>) {
    let Some(Bound { me, mailbox }) = Box::pin(bind(&server, conn, auth)).await else {
        return;
    };
    let mut state = SessionPresence::default();
    let end = serve(&server, conn, &me, &mut state, &mailbox).await;
    Box::pin(async {
        match end {
            End::Error(e) => conn.fail(e, &me.host).await,
            End::Closed => conn.close().await,
            End::Gone => {}
        }
        cleanup(&server, &me, state, &mailbox).await;
    })
    .await;
    tracing::info!(what = "session_closed", jid = %me.full());
}

/// Answers the bind request: registers the session (replacing one with the same full JID).
async fn bind(server: &ServerRef, conn: &mut Conn, auth: Box<Authenticated>) -> Option<Bound> {
    let Authenticated { user, host, bind_iq } = *auth;
    let asked = bind_iq
        .get_child("bind", ns::BIND)
        .and_then(|b| b.get_child("resource", ns::BIND))
        .map(|r| r.text())
        .filter(|r| !r.trim().is_empty());
    let resource = match asked {
        Some(r) => match addr::normalize_resource(&r) {
            Some(r) => r,
            None => {
                if let Some(e) = iq::error(&bind_iq, StanzaError::new(SEC::BadRequest)) {
                    let _ = conn.send(&e).await;
                }
                conn.close().await;
                return None;
            }
        },
        None => format!("meerkat-{}", &super::conn::new_stream_id()[..12]),
    };
    let bare = format!("{user}@{host}");
    let me = Me {
        user,
        host,
        bare: bare.clone(),
        resource: resource.clone(),
        sid: server.sessions.next_sid(),
    };
    let mailbox = Mailbox::new(server.config.limits.session_queue_stanzas);
    let entry = SessionEntry {
        sid: me.sid,
        resource,
        mailbox: mailbox.clone(),
        presence: None,
        priority: 0,
        interested: false,
        blocklist_interested: false,
    };
    server.sessions.bind(&bare, entry);
    crate::modules::blocking::on_bind(server, &me).await;
    let bound = Element::new("bind", ns::BIND)
        .with_child(Element::new("jid", ns::BIND).with_text(me.full()));
    let mut reply = iq::result(&bind_iq, Some(bound));
    reply.remove_attr("to");
    reply.remove_attr("from");
    tracing::info!(what = "session_opened", jid = %me.full(), peer = %conn.peer);
    if conn.send(&reply).await.is_err() {
        cleanup(server, &me, SessionPresence::default(), &mailbox).await;
        return None;
    }
    Some(Bound { me, mailbox })
}

/// Leaves the session table, tells contacts, records last activity and re-routes messages that
/// were queued but never written.
async fn cleanup(server: &ServerRef, me: &Me, mut state: SessionPresence, mailbox: &Mailbox) {
    // Leave the table first so nothing new is routed here, then tell contacts.
    server.sessions.unbind(&me.bare, &me.resource, me.sid);
    crate::modules::blocking::on_unbind(server, &me.bare);
    let leftovers = mailbox.close_receiver();
    if state.available || !state.directed.is_empty() {
        presence::broadcast_unavailable(server, me, &mut state, None).await;
    }
    let last =
        LastActivity { seconds: chrono::Utc::now().timestamp(), status: state.last_status.clone() };
    if let Err(e) = server.storage.last.set_last(&me.host, &me.user, &last).await {
        tracing::error!(what = "last_activity_write_failed", error = %e);
    }
    // Messages queued but never written go back through the router: to another resource, or
    // to offline storage. Nothing accepted is dropped silently.
    for el in leftovers {
        if el.name == "message" && el.attr("type") != Some("error") {
            let mut el = el;
            el.set_attr("to", me.bare.clone());
            router::route(server, el).await;
        }
    }
}

enum End {
    /// Close with this stream error.
    Error(StreamError),
    /// The client closed its stream: close ours.
    Closed,
    /// The transport is gone.
    Gone,
}

async fn serve(
    server: &ServerRef,
    conn: &mut Conn,
    me: &Me,
    state: &mut SessionPresence,
    mailbox: &Mailbox,
) -> End {
    let ping = &server.config.modules.ping;
    let interval = (ping.interval_ms > 0).then(|| Duration::from_millis(ping.interval_ms));
    let ping_timeout = Duration::from_millis(ping.timeout_ms.max(1));
    let mut last_in = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut batch: Vec<Element> = Vec::new();
    loop {
        let wake = match (interval, ping_sent) {
            (_, Some(sent)) => Some(sent + ping_timeout),
            (Some(i), None) => Some(last_in + i),
            (None, None) => None,
        };
        tokio::select! {
            biased;
            mail = mailbox.recv(&mut batch, DRAIN_BATCH) => {
                match mail {
                    Mail::Stanzas => {
                        for el in &batch {
                            conn.queue(el);
                        }
                        // Freed, not cleared: an idle session keeps no batch buffer.
                        batch = Vec::new();
                        if conn.flush().await.is_err() {
                            return End::Gone;
                        }
                    }
                    Mail::Close(err) => return End::Error(err),
                    Mail::Overflow => {
                        return End::Error(StreamError::with_text(
                            C::PolicyViolation,
                            "Too many stanzas queued for this client",
                        ));
                    }
                }
            }
            r = conn.read_some() => {
                match r {
                    Ok(()) => {}
                    Err(ConnEnd::Eof) | Err(ConnEnd::Io(_)) => return End::Gone,
                    Err(e) => return e.stream_error().map(End::Error).unwrap_or(End::Gone),
                }
                last_in = Instant::now();
                ping_sent = None;
                loop {
                    match conn.parser.next_event() {
                        Ok(None) => break,
                        Ok(Some(StreamEvent::Stanza(el))) => {
                            // Boxed for the same reason as negotiation: the idle session's
                            // task must not carry the largest stanza handler's state.
                            if let Some(end) = Box::pin(handle(server, conn, me, state, el)).await {
                                return end;
                            }
                        }
                        Ok(Some(StreamEvent::Close)) => return End::Closed,
                        Ok(Some(StreamEvent::Open(_))) => return End::Error(StreamError::new(C::NotWellFormed)),
                        Err(e) => return ConnEnd::Xml(e).stream_error().map(End::Error).unwrap_or(End::Gone),
                    }
                }
                // Nothing half-received: hand the read buffer back while the client is quiet.
                conn.parser.release_memory();
                if conn.flush().await.is_err() {
                    return End::Gone;
                }
            }
            _ = sleep_until_opt(wake) => {
                if ping_sent.is_some() {
                    tracing::info!(what = "ping_timeout", jid = %me.full());
                    return End::Error(StreamError::new(C::ConnectionTimeout));
                }
                let p = Element::new("iq", ns::CLIENT)
                    .with_attr("from", me.host.clone())
                    .with_attr("to", me.full())
                    .with_attr("type", "get")
                    .with_attr("id", format!("ping-{}", &super::conn::new_stream_id()[..8]))
                    .with_child(Element::new("ping", ns::PING));
                if conn.send(&p).await.is_err() {
                    return End::Gone;
                }
                ping_sent = Some(Instant::now());
            }
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Handles one stanza from the client. Returns `Some` when the stream must end.
async fn handle(
    server: &ServerRef,
    conn: &mut Conn,
    me: &Me,
    state: &mut SessionPresence,
    el: Element,
) -> Option<End> {
    if el.ns != ns::CLIENT || !matches!(el.name.as_str(), "message" | "presence" | "iq") {
        return Some(End::Error(StreamError::new(C::UnsupportedStanzaType)));
    }
    let started = std::time::Instant::now();
    crate::metrics::get().stanzas_in[crate::metrics::kind_index(&el.name)].increment(1);
    let end = handle_stanza(server, conn, me, state, el).await;
    crate::metrics::get().route_seconds.record(started.elapsed().as_secs_f64());
    end
}

async fn handle_stanza(
    server: &ServerRef,
    conn: &mut Conn,
    me: &Me,
    state: &mut SessionPresence,
    mut el: Element,
) -> Option<End> {
    // RFC 6120 §8.1.2.1: the server stamps the sender's full JID, whatever the client claimed.
    el.set_attr("from", me.full());
    let to = match el.attr("to") {
        None => None,
        Some(t) => match Addr::parse(t) {
            Some(a) => Some(a),
            None => {
                if let Some(e) = iq_or_stanza_error(&el, SEC::JidMalformed) {
                    conn.queue(&e);
                }
                return None;
            }
        },
    };
    match el.name.as_str() {
        "iq" => {
            if el.attr("id").is_none() || el.attr("type").is_none() {
                if let Some(e) = iq_or_stanza_error(&el, SEC::BadRequest) {
                    conn.queue(&e);
                }
                return None;
            }
            let own = to.as_ref().is_none_or(|t| {
                t.node.as_deref() == Some(me.user.as_str())
                    && t.domain == me.host
                    && t.resource.is_none()
            });
            if is_session_iq(&el) {
                let mut r = iq::result(&el, None);
                r.remove_attr("from");
                conn.queue(&r);
            } else if own {
                crate::modules::own_iq(server, me, el).await;
            } else {
                router::route(server, el).await;
            }
        }
        "presence" => {
            let (msgs, ack) = presence::from_client(server, me, state, el).await;
            if !msgs.is_empty() {
                for m in &msgs {
                    conn.queue(m);
                }
                if conn.flush().await.is_err() {
                    return Some(End::Gone);
                }
                if let Some(id) = ack {
                    if let Err(e) =
                        server.storage.offline.remove_up_to(&me.host, &me.user, id).await
                    {
                        tracing::error!(what = "offline_ack_failed", error = %e);
                    }
                }
            }
        }
        _ => {
            if to.is_none() {
                el.set_attr("to", me.bare.clone());
            }
            router::route(server, el).await;
        }
    }
    None
}

/// Legacy session establishment (RFC 3921 §3): accepted and answered, it does nothing.
fn is_session_iq(el: &Element) -> bool {
    el.attr("type") == Some("set") && el.has_child("session", ns::SESSION)
}

fn iq_or_stanza_error(el: &Element, c: SEC) -> Option<Element> {
    let mut e = meerkat_proto::error::error_reply(el, &StanzaError::new(c))?;
    e.remove_attr("from");
    Some(e)
}
