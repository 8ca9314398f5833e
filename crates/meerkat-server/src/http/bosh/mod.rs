//! The BOSH endpoint (XEP-0124 1.11, XEP-0206) at `bosh_path` of an HTTP listener.
//!
//! `POST` carries one `<body/>`: without `sid` it creates a session (a new c2s connection whose
//! transport is [`crate::c2s::bosh`], so negotiation, SASL, bind and every module run as on
//! TCP); with `sid` it goes to that session ([`session`]), which holds it until there is
//! output, `wait` passes, or a newer request needs its place. `GET` answers a short text;
//! `OPTIONS` answers CORS preflights, and every answer allows any origin, so browser clients
//! served from another origin (Converse.js) can use the endpoint.
//!
//! Errors follow XEP-0124 1.11 §17: HTTP 200 with `<body type='terminate' condition=.../>`:
//! unknown sid and rid outside the window: `item-not-found`; unparsable body: `bad-request`;
//! unserved `to`: `host-unknown`; body over `bosh_max_body_bytes`, too many requests, a pause
//! above `maxpause`: `policy-violation`. An oversized body is refused from its
//! `Content-Length` before any of it is read, or once the limit is read when the length is not
//! declared; at most `bosh_max_body_bytes` (plus one read chunk) is ever buffered per request.
//! The session an oversized body names is ended.
//!
//! # Layout
//! - this file: the route, reading and parsing the request, session creation.
//! - [`session`]: one session's held requests, rid window, output and timers.
//! - [`registry`]: the listener's sessions by sid.
//! - [`forward`]: in a cluster, requests for a session another node holds go to that node.

pub mod forward;
pub mod registry;
pub mod session;

use super::ConnInfo;
use crate::c2s::bosh::BoshIo;
use crate::c2s::conn::{new_stream_id, Conn};
use crate::c2s::transport::Transport;
use crate::c2s::{listener, negotiate};
use crate::server::ServerRef;
use axum::body::Body as HttpBody;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use meerkat_config::{HttpListener, TlsMode};
use meerkat_stream::bosh::{parse_body, sniff_sid, Body, Caps, Condition, Params};
use meerkat_xml::{Limits, StreamParser};
use registry::Registry;
use session::{terminate, Reply, Session};
use std::sync::Arc;
use std::time::Duration;

/// What the endpoint needs, built once per listener.
struct Endpoint {
    server: ServerRef,
    /// Negotiation settings for sessions created over plain HTTP.
    plain: Arc<meerkat_stream::c2s::Config>,
    /// Negotiation settings for sessions created over HTTPS.
    tls: Arc<meerkat_stream::c2s::Config>,
    caps: Caps,
    max_body_bytes: usize,
    /// Parser limits for one body: the stanza limits, the body limit as the element limit.
    body_limits: Limits,
    registry: Registry,
}

/// The route serving the endpoint.
pub fn route(server: &ServerRef, cfg: &HttpListener) -> axum::routing::MethodRouter {
    let body_limits =
        Limits { max_stanza_bytes: cfg.bosh_max_body_bytes, ..listener::parser_limits(server) };
    let endpoint = Arc::new(Endpoint {
        server: server.clone(),
        // STARTTLS does not exist over HTTP: the request is HTTPS or it is not.
        plain: negotiate::config(server, TlsMode::None),
        tls: negotiate::config(server, TlsMode::Tls),
        caps: Caps {
            max_wait_s: cfg.bosh_max_wait_s,
            max_hold: cfg.bosh_max_hold,
            max_requests: cfg.bosh_max_requests,
            max_inactivity_s: cfg.bosh_max_inactivity_s,
            polling_s: cfg.bosh_polling_s,
            max_pause_s: cfg.bosh_max_pause_s,
        },
        max_body_bytes: cfg.bosh_max_body_bytes,
        body_limits,
        registry: Registry::new(cfg.max_connections),
    });
    server.bosh.register(&endpoint);
    axum::routing::post(request).get(info).options(preflight).with_state(endpoint)
}

/// Serves `GET <bosh_path>`: says what the endpoint is (browsers and curious operators).
async fn info() -> Response {
    let text = "Meerkat BOSH endpoint (XEP-0124/XEP-0206): POST a <body/> here.\n";
    let mut r = (StatusCode::OK, text).into_response();
    cors(r.headers_mut());
    r
}

/// Serves `OPTIONS <bosh_path>`: the CORS preflight of cross-origin `POST`s with a
/// `Content-Type` of `text/xml`.
async fn preflight() -> Response {
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    cors(h);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

fn cors(h: &mut HeaderMap) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
}

/// A `<body/>` answer.
fn xml(body: impl Into<HttpBody>) -> Response {
    let body: HttpBody = body.into();
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    // A held answer must never come from a cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    cors(h);
    r
}

/// Why a request body could not be read.
enum ReadError {
    /// Larger than the limit: the bytes read up to it.
    TooBig(Vec<u8>),
    /// The connection failed or was too slow.
    Gone,
}

/// Reads a request body of at most `max` bytes; stops reading at the limit.
async fn read_limited(body: HttpBody, max: usize, timeout: Duration) -> Result<Vec<u8>, ReadError> {
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| ReadError::Gone)?;
            let room = max.saturating_sub(buf.len());
            if chunk.len() > room {
                buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
                return Err(ReadError::TooBig(buf));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Err(ReadError::Gone))
}

/// Serves `POST <bosh_path>`: one request of a session, or a session creation.
async fn request(
    State(ep): State<Arc<Endpoint>>,
    Extension(info): Extension<ConnInfo>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ep.max_body_bytes as u64) {
        // Refused before reading: the sid, if any, is in the unread part's first bytes, but
        // reading them would mean accepting part of what is refused.
        tracing::debug!(what = "bosh_body_too_large", peer = %info.peer, declared);
        crate::metrics::get().bosh_terminated.increment(1);
        return xml(terminate(Some(Condition::PolicyViolation)));
    }
    let timeout = Duration::from_millis(ep.server.config.limits.negotiation_timeout_ms);
    // A body naming a session of another node goes there as read (up to the limit), where
    // it is judged as if it had arrived there: the size, the XML and the rid alike.
    let bytes = match read_limited(body, ep.max_body_bytes, timeout).await {
        Ok(b) => Bytes::from(b),
        Err(ReadError::TooBig(prefix)) => {
            tracing::debug!(what = "bosh_body_too_large", peer = %info.peer);
            let prefix = Bytes::from(prefix);
            let sid = sniff_sid(&prefix);
            if let Some(s) = sid.and_then(|sid| ep.registry.get(sid)) {
                s.terminate(Condition::PolicyViolation, "body_too_large");
            } else if let Some(r) = forward::to_holder(&ep, sid, &prefix, true).await {
                return r;
            } else {
                crate::metrics::get().bosh_terminated.increment(1);
            }
            return xml(terminate(Some(Condition::PolicyViolation)));
        }
        Err(ReadError::Gone) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let parsed = match parse_body(&bytes, ep.body_limits) {
        Ok(b) => b,
        Err(c) => {
            tracing::debug!(what = "bosh_bad_body", peer = %info.peer, condition = c.as_str());
            let sid = sniff_sid(&bytes);
            if let Some(s) = sid.and_then(|sid| ep.registry.get(sid)) {
                s.terminate(c, "bad_body");
            } else if let Some(r) = forward::to_holder(&ep, sid, &bytes, false).await {
                return r;
            } else {
                crate::metrics::get().bosh_terminated.increment(1);
            }
            return xml(terminate(Some(c)));
        }
    };
    let (session, reply) = match parsed.sid.as_deref() {
        None => match create(&ep, &info, parsed) {
            Ok(created) => created,
            Err(body) => return xml(body),
        },
        Some(sid) => match ep.registry.get(sid) {
            Some(s) => {
                let reply = s.request(parsed, bytes.len());
                (s, reply)
            }
            None => {
                if let Some(r) = forward::to_holder(&ep, Some(sid), &bytes, false).await {
                    return r;
                }
                tracing::debug!(what = "bosh_unknown_sid", peer = %info.peer);
                return xml(terminate(Some(Condition::ItemNotFound)));
            }
        },
    };
    drop(bytes);
    xml(respond(&ep.server, &session, reply, Duration::MAX).await)
}

/// The answer to a request: at once, or once its hold ends (at most `max_wait`).
async fn respond(
    server: &ServerRef,
    session: &Session,
    reply: Reply,
    max_wait: Duration,
) -> Vec<u8> {
    match reply {
        Reply::Now(body) => body,
        Reply::Held(rid, rx) => hold(server, session, rid, rx, max_wait).await,
    }
}

/// Waits for a held request's answer: output, hold overflow, the session's end, or `wait`
/// (or `max_wait`, when shorter).
async fn hold(
    server: &ServerRef,
    session: &Session,
    rid: u64,
    mut rx: tokio::sync::oneshot::Receiver<Vec<u8>>,
    max_wait: Duration,
) -> Vec<u8> {
    let wait = Duration::from_secs(session.params.wait_s).min(max_wait);
    tokio::select! {
        r = tokio::time::timeout(wait, &mut rx) => match r {
            Ok(Ok(body)) => return body,
            // A repeated request took this rid over: this connection was given up by the
            // client, whatever it gets.
            Ok(Err(_)) => return terminate(None),
            Err(_) => session.expire(rid),
        },
        _ = server.shutdown.cancelled() => {
            session.terminate(Condition::SystemShutdown, "shutdown");
        }
    }
    rx.await.unwrap_or_else(|_| terminate(None))
}

/// Creates a session for a request without `sid` (XEP-0124 §7.1, XEP-0206 §3): checks the
/// host, registers the session, and starts its c2s task. The creation request is held until
/// the stream's features are written.
fn create(
    ep: &Arc<Endpoint>,
    info: &ConnInfo,
    body: Body,
) -> Result<(Arc<Session>, Reply), Vec<u8>> {
    let Some(to) = body.to.as_deref() else {
        return Err(terminate(Some(Condition::BadRequest)));
    };
    let host = to.to_ascii_lowercase();
    if !ep.server.config.general.hosts.contains(&host) {
        return Err(terminate(Some(Condition::HostUnknown)));
    }
    let params = Params::negotiate(&body, &ep.caps);
    let authid = new_stream_id();
    let (session, rx) =
        Session::create(forward::new_sid(&ep.server), params, host, info.tls, &authid, &body);
    let session = Arc::new(session);
    if !ep.registry.insert(session.clone()) {
        tracing::warn!(what = "bosh_sessions_full", peer = %info.peer);
        return Err(terminate(Some(Condition::PolicyViolation)));
    }
    let m = crate::metrics::get();
    m.bosh_sessions.increment(1);
    m.bosh_open.increment(1.0);
    tracing::debug!(what = "bosh_session_created", sid = %session.sid, peer = %info.peer);
    let ep2 = ep.clone();
    let s = session.clone();
    let peer = info.peer;
    ep.server.tasks.spawn(async move {
        let server = ep2.server.clone();
        let negotiation = if s.tls { ep2.tls.clone() } else { ep2.plain.clone() };
        let io = Transport::Bosh(Box::new(BoshIo::new(s.clone())));
        let parser = StreamParser::new(listener::parser_limits(&server));
        let mut conn = Conn::new(io, parser, peer);
        listener::run_conn(server, &mut conn, negotiation).await;
        s.close();
        ep2.registry.remove(&s.sid);
        crate::metrics::get().bosh_open.decrement(1.0);
        tracing::debug!(what = "bosh_session_ended", sid = %s.sid, reason = s.end_reason());
    });
    Ok((session, Reply::Held(body.rid, rx)))
}
