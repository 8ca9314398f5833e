//! A bound client session: the loop that reads the client's stanzas, writes what others route
//! to it, pings it when silent, and cleans up when it ends.

use super::conn::{Conn, ConnEnd};
use super::negotiate::Authenticated;
use crate::addr::{self, Addr};
use crate::modules::presence::{self, SessionPresence};
use crate::modules::stream_management::{self as sm, session::Outcome};
use crate::modules::{csi, iq, Me};
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
    state: SessionPresence,
}

/// Binds the resource asked for in `auth.bind_iq` and runs the session until it ends.
///
/// The connection is borrowed, not moved: a moved argument is kept twice in an async state
/// machine, and this future lives as long as the session does.
pub async fn run(server: ServerRef, conn: &mut Conn, auth: Box<Authenticated>) {
    let Some(Bound { me, mailbox, mut state }) = Box::pin(start(&server, conn, auth)).await else {
        return;
    };
    let end = serve(&server, conn, &me, &mut state, &mailbox).await;
    Box::pin(finish(&server, conn, me, state, mailbox, end)).await;
}

/// Binds a resource, or takes over the session the client resumes (XEP-0198 §5).
async fn start(server: &ServerRef, conn: &mut Conn, mut auth: Box<Authenticated>) -> Option<Bound> {
    match auth.resumed.take() {
        Some(r) => resume(server, conn, r).await,
        None => bind(server, conn, auth).await,
    }
}

/// Takes over a session for `<resume/>` (XEP-0198 §5).
async fn resume(
    server: &ServerRef,
    conn: &mut Conn,
    r: Box<super::negotiate::Resumed>,
) -> Option<Bound> {
    let super::negotiate::Resumed { session, previd, h } = *r;
    let (me, state, mailbox, ok) = sm::resume(conn, *session, &previd, h);
    if ok {
        // A failed write shows up as the first read of the session loop.
        let _ = conn.flush().await;
        return Some(Bound { me, mailbox, state });
    }
    conn.close().await;
    let extra = sm::detached::leftovers(server, conn.ext.take());
    cleanup(server, &me, state, &mailbox, extra).await;
    None
}

/// Ends the session after its loop: a resumable one whose connection broke (or that another
/// connection resumes) waits detached (XEP-0198 §5); the rest close and clean up.
async fn finish(
    server: &ServerRef,
    conn: &mut Conn,
    me: Me,
    state: SessionPresence,
    mailbox: Mailbox,
    end: End,
) {
    let detach = match &end {
        End::Takeover | End::Gone => true,
        End::Error(e) => e.condition == C::ConnectionTimeout,
        End::Closed => false,
    };
    let takeover = matches!(end, End::Takeover);
    let resumed_elsewhere =
        || StreamError::with_text(C::Conflict, "Session resumed on another connection");
    let (me, state, mailbox) = if detach && sm::session::resumable(conn) {
        let host = me.host.clone();
        if let End::Error(e) = end {
            conn.fail(e, &host).await;
        }
        match sm::detach(conn, me, state, mailbox) {
            Ok(d) => {
                if !takeover {
                    // The broken socket is not needed while detached.
                    conn.io = super::transport::Transport::Detached;
                }
                let waited = sm::detached::wait(server, d, takeover).await;
                if takeover {
                    conn.fail(resumed_elsewhere(), &host).await;
                }
                let Some(d) = waited else { return };
                let sm::Detached { me, presence, mailbox, sm } = *d;
                conn.ext = Some(Box::new(sm::StreamExt { sm: Some(sm), csi: None }));
                (me, presence, mailbox)
            }
            Err(kept) => *kept,
        }
    } else {
        match end {
            End::Error(e) => conn.fail(e, &me.host).await,
            End::Closed => conn.close().await,
            End::Takeover => conn.fail(resumed_elsewhere(), &me.host).await,
            End::Gone => {}
        }
        (me, state, mailbox)
    };
    let extra = sm::detached::leftovers(server, conn.ext.take());
    cleanup(server, &me, state, &mailbox, extra).await;
    tracing::info!(what = "session_closed", jid = %me.full());
}

/// Answers the bind request: registers the session (replacing one with the same full JID).
async fn bind(server: &ServerRef, conn: &mut Conn, auth: Box<Authenticated>) -> Option<Bound> {
    let Authenticated { user, host, bind_iq, .. } = *auth;
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
        carbons: false,
        caps: None,
        blocklist_interested: false,
    };
    server.sessions.bind(&bare, entry);
    crate::cluster::on_bind(server, &me).await;
    crate::cluster::membership::on_bind(server, me.full()).await;
    crate::modules::blocking::on_bind(server, &me).await;
    let bound = Element::new("bind", ns::BIND)
        .with_child(Element::new("jid", ns::BIND).with_text(me.full()));
    let mut reply = iq::result(&bind_iq, Some(bound));
    reply.remove_attr("to");
    reply.remove_attr("from");
    tracing::info!(what = "session_opened", jid = %me.full(), peer = %conn.peer);
    if conn.send(&reply).await.is_err() {
        cleanup(server, &me, SessionPresence::default(), &mailbox, Vec::new()).await;
        return None;
    }
    Some(Bound { me, mailbox, state: SessionPresence::default() })
}

/// Leaves the session table, tells contacts, records last activity and re-routes messages that
/// were queued but never written.
pub(crate) async fn cleanup(
    server: &ServerRef,
    me: &Me,
    mut state: SessionPresence,
    mailbox: &Mailbox,
    unsent: Vec<Element>,
) {
    // Leave the table first so nothing new is routed here, then tell contacts.
    server.sessions.unbind(&me.bare, &me.resource, me.sid);
    crate::modules::blocking::on_unbind(server, &me.bare);
    let leftovers = mailbox.close_receiver();
    if state.available || !state.directed.is_empty() {
        presence::broadcast_unavailable(server, me, &mut state, None).await;
    }
    // After the broadcast, which still reaches the user's resources on other nodes; before
    // re-routing leftovers, which must not find this node subscribed.
    crate::cluster::on_unbind(server, me).await;
    crate::cluster::membership::on_unbind(server, me).await;
    let last =
        LastActivity { seconds: chrono::Utc::now().timestamp(), status: state.last_status.clone() };
    server.last_activity.record(server.storage.last.as_ref(), &me.host, &me.user, last).await;
    // Messages queued but never written (or written but not acknowledged, XEP-0198) go back
    // through the router: to another resource, or to offline storage; IQ requests bounce.
    // Nothing accepted is dropped silently.
    sm::detached::reroute(server, me, unsent.into_iter().chain(leftovers)).await;
}

enum End {
    /// Another connection resumes this session (XEP-0198): hand it over.
    Takeover,
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
        // XEP-0198: the server's time-based ack request shares the timer.
        let wake = match (
            ping_wake(interval, ping_timeout, ping_sent, last_in),
            sm::session::deadline(conn),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            mail = mailbox.recv(&mut batch, DRAIN_BATCH) => {
                match mail {
                    Mail::Stanzas => {
                        for el in batch.drain(..) {
                            // Held back while the client is inactive (XEP-0352).
                            csi::deliver(conn, el, server.config.modules.csi.max_buffered_stanzas);
                        }
                        // Freed, not cleared: an idle session keeps no batch buffer.
                        batch = Vec::new();
                        if let Some(e) = sm::session::after_write(conn) {
                            return End::Error(e);
                        }
                        if conn.flush().await.is_err() {
                            return End::Gone;
                        }
                    }
                    Mail::Takeover => {
                        if sm::session::takeover_wanted(server, conn) {
                            return End::Takeover;
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
                    match conn.next_parsed() {
                        Ok(None) => break,
                        Ok(Some(StreamEvent::Stanza(el))) if el.ns != ns::CLIENT => {
                            // Nonzas: Stream Management (XEP-0198) and CSI (XEP-0352).
                            match sm::session::nonza(server, conn, me, mailbox, &el) {
                                Outcome::Continue => {}
                                Outcome::Fail(e) => return End::Error(e),
                                Outcome::Close => return End::Closed,
                            }
                        }
                        Ok(Some(StreamEvent::Stanza(el))) => {
                            // Boxed for the same reason as negotiation: the idle session's
                            // task must not carry the largest stanza handler's state.
                            if let Some(end) = Box::pin(handle(server, conn, me, state, el)).await {
                                return end;
                            }
                            sm::session::on_inbound(conn);
                        }
                        Ok(Some(StreamEvent::Close)) => return End::Closed,
                        Ok(Some(StreamEvent::Open(_))) => return End::Error(StreamError::new(C::NotWellFormed)),
                        Err(e) => return ConnEnd::Xml(e).stream_error().map(End::Error).unwrap_or(End::Gone),
                    }
                }
                // Nothing half-received: hand the read buffer back while the client is quiet.
                conn.parser.release_memory();
                if let Some(e) = sm::session::after_write(conn) {
                    return End::Error(e);
                }
                if conn.flush().await.is_err() {
                    return End::Gone;
                }
            }
            _ = sleep_until_opt(wake) => {
                if let Some(e) = sm::session::after_write(conn) {
                    return End::Error(e);
                }
                if conn.flush().await.is_err() {
                    return End::Gone;
                }
                // Woken for an SM ack request only: the ping is not due yet.
                let ping_due = ping_wake(interval, ping_timeout, ping_sent, last_in);
                if ping_due.is_none_or(|w| Instant::now() < w) {
                    continue;
                }
                if ping_sent.is_some() {
                    tracing::info!(what = "ping_timeout", jid = %me.full());
                    return End::Error(StreamError::new(C::ConnectionTimeout));
                }
                // A WebSocket is kept alive by its own Ping, which browsers answer by themselves.
                match conn.send_transport_ping().await {
                    Ok(true) => {
                        ping_sent = Some(Instant::now());
                        continue;
                    }
                    Ok(false) => {}
                    Err(_) => return End::Gone,
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

/// When the ping timer fires: the answer's deadline while a ping is out, else `interval` after
/// the last input (a plain function, so the idle session's future keeps no closure).
fn ping_wake(
    interval: Option<Duration>,
    ping_timeout: Duration,
    ping_sent: Option<Instant>,
    last_in: Instant,
) -> Option<Instant> {
    match (interval, ping_sent) {
        (_, Some(sent)) => Some(sent + ping_timeout),
        (Some(i), None) => Some(last_in + i),
        (None, None) => None,
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
            let caps = crate::modules::caps::from_presence(server, &el);
            let broadcast =
                to.is_none() && matches!(el.attr("type"), None | Some("available" | "unavailable"));
            let (msgs, ack) = presence::from_client(server, me, state, el).await;
            if broadcast {
                crate::cluster::on_presence_change(server, me).await;
            }
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
            if let Some(caps) = caps {
                crate::modules::caps::apply(server, me, caps).await;
            }
        }
        _ => {
            if to.is_none() {
                el.set_attr("to", me.bare.clone());
            }
            if let Err(err) = crate::modules::chat::from_client(server, me, &mut el).await {
                if let Some(mut e) = meerkat_proto::error::error_reply(&el, &err) {
                    e.remove_attr("from");
                    conn.queue(&e);
                }
                return None;
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
