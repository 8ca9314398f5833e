//! HTTP File Upload (XEP-0363 §5-§6): the PUT that stores a slot's file and the GET/HEAD
//! that serve it, at `<path_prefix>/<id>/<filename>` on every HTTP listener, with CORS so
//! browser clients can PUT from another origin (an `OPTIONS` preflight is answered).
//!
//! # PUT
//! Checked from the URL alone (see [`crate::components::upload::slot`]): a bad or missing
//! signature is `403`, an expired slot `403`. The body must be announced with
//! `Content-Length`: none is `411`, more than the slot's size `413` and less `400`, all
//! answered before a byte of the body is read. The body is then streamed to a temporary file,
//! counting: past the announced size the upload stops (`413`), a stream that ends short is
//! `400`. Only a complete file is recorded in storage (quota checked atomically again: `413`
//! when over it) and renamed into place; a second PUT to the same slot gets `409`. A body that
//! stalls for [`BODY_IDLE_TIMEOUT`] is abandoned. Worst-case memory per upload: one body
//! chunk (hyper reads at most its buffer, a few tens of KiB).
//!
//! # GET and HEAD
//! The file is served from this node's disk with its content type, length,
//! `Content-Disposition` (inline for images, attachment otherwise: an uploaded HTML page must
//! not run in this origin), `X-Content-Type-Options: nosniff` and a CSP that forbids scripts.
//! A file stored by another node of a cluster is `404` here: its URL names that node.

use crate::components::upload::slot::{self, Slot};
use crate::components::upload::Service;
use crate::server::ServerRef;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use meerkat_storage::{StorageError, UploadedFile};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a PUT body may stall (no bytes arriving) before the upload is abandoned.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from disk at a time when serving a file.
const READ_CHUNK_BYTES: usize = 64 * 1024;

struct Endpoint {
    server: ServerRef,
    service: Arc<Service>,
}

/// The upload routes, or none when the node offers no upload service.
pub fn routes(server: &ServerRef) -> axum::Router {
    let Some(service) = server.components.upload().cloned() else {
        return axum::Router::new();
    };
    service.start_sweeper(server);
    let path = format!("{}/{{id}}/{{filename}}", service.config.path_prefix);
    let endpoint = Arc::new(Endpoint { server: server.clone(), service });
    axum::Router::new().route(
        &path,
        axum::routing::get(get_file).put(put_file).options(preflight).with_state(endpoint),
    )
}

/// Adds the headers every upload response carries.
fn with_cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// A short plain-text answer.
fn status(code: StatusCode, text: &'static str) -> Response {
    with_cors((code, format!("{text}\n")).into_response())
}

/// Serves `OPTIONS`: the CORS preflight of a browser's cross-origin PUT.
async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, PUT, OPTIONS"),
    );
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    with_cors(r)
}

/// Serves `PUT <prefix>/<id>/<filename>?<slot>`: stores the slot's file.
async fn put_file(
    State(ep): State<Arc<Endpoint>>,
    Path((id, filename)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let service = &ep.service;
    let verified = slot::valid_id(&id)
        .then(|| Slot::from_request(&id, &filename, query.as_deref().unwrap_or_default()))
        .flatten()
        .filter(|(s, sig)| service.key.verify(s, sig));
    let Some((slot, _)) = verified else {
        return status(StatusCode::FORBIDDEN, "bad or missing slot signature");
    };
    let now_s = chrono::Utc::now().timestamp().max(0) as u64;
    if now_s > slot.expires_s {
        return status(StatusCode::FORBIDDEN, "slot expired");
    }
    let length: u64 = match headers.get(header::CONTENT_LENGTH).map(|v| v.to_str().map(str::parse))
    {
        Some(Ok(Ok(n))) => n,
        None => return status(StatusCode::LENGTH_REQUIRED, "Content-Length is required"),
        Some(_) => return status(StatusCode::BAD_REQUEST, "bad Content-Length"),
    };
    if length > slot.size_bytes {
        return status(StatusCode::PAYLOAD_TOO_LARGE, "larger than the slot's size");
    }
    if length < slot.size_bytes {
        return status(StatusCode::BAD_REQUEST, "Content-Length differs from the slot's size");
    }
    if !slot.content_type.is_empty() {
        let sent = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|t| t.eq_ignore_ascii_case(&slot.content_type)) {
            return status(StatusCode::BAD_REQUEST, "Content-Type differs from the slot's");
        }
    }
    let Some((username, host)) = slot.owner.split_once('@') else {
        return status(StatusCode::FORBIDDEN, "bad slot owner");
    };
    let Some(_in_progress) = service.begin_put(&slot.id) else {
        return status(StatusCode::CONFLICT, "an upload to this slot is in progress");
    };
    let final_path = service.file_path(&slot.id);
    if tokio::fs::try_exists(&final_path).await.unwrap_or(true) {
        return status(StatusCode::CONFLICT, "this slot has been used");
    }
    let storage = &ep.server.storage.upload;
    match storage.get_file(&slot.id).await {
        Ok(None) => {}
        Ok(Some(_)) => return status(StatusCode::CONFLICT, "this slot has been used"),
        Err(e) => return internal("upload_storage_failed", &e.to_string()),
    }
    // Refused before the body is read when the quota is already too small (the slot was
    // granted earlier and other files may have been stored since).
    let quota = service.config.quota_bytes_per_user;
    match storage.used_bytes(host, username).await {
        Ok(used) if used.saturating_add(slot.size_bytes) > quota => {
            return status(StatusCode::PAYLOAD_TOO_LARGE, "quota exceeded");
        }
        Ok(_) => {}
        Err(e) => return internal("upload_storage_failed", &e.to_string()),
    }
    let temp = service.temp_path(&slot.id);
    if let Err(r) = receive(body, &temp, slot.size_bytes).await {
        let _ = tokio::fs::remove_file(&temp).await;
        return r;
    }
    let file = UploadedFile {
        id: slot.id.clone(),
        host: host.to_owned(),
        username: username.to_owned(),
        node: service.node.clone(),
        filename: slot.filename.clone(),
        content_type: slot.content_type.clone(),
        size_bytes: slot.size_bytes,
        created_s: chrono::Utc::now().timestamp(),
    };
    let refused = match storage.add_file(&file, quota).await {
        Ok(()) => None,
        Err(StorageError::AlreadyExists) => {
            Some(status(StatusCode::CONFLICT, "this slot has been used"))
        }
        Err(StorageError::LimitReached { .. }) => {
            Some(status(StatusCode::PAYLOAD_TOO_LARGE, "quota exceeded"))
        }
        Err(e) => Some(internal("upload_storage_failed", &e.to_string())),
    };
    if let Some(r) = refused {
        let _ = tokio::fs::remove_file(&temp).await;
        return r;
    }
    let placed = async {
        if let Some(dir) = final_path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(&temp, &final_path).await
    };
    if let Err(e) = placed.await {
        let _ = storage.remove_file(&slot.id).await;
        let _ = tokio::fs::remove_file(&temp).await;
        return internal("upload_store_failed", &e.to_string());
    }
    tracing::info!(what = "upload_stored", id = %slot.id, bytes = slot.size_bytes);
    status(StatusCode::CREATED, "stored")
}

/// Streams the body into `temp`, refusing more than `size` bytes; `Err` is the response.
async fn receive(body: Body, temp: &std::path::Path, size: u64) -> Result<(), Response> {
    let io_failed = |e: std::io::Error| internal("upload_write_failed", &e.to_string());
    if let Some(dir) = temp.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io_failed)?;
    }
    let mut out = tokio::fs::File::create(temp).await.map_err(io_failed)?;
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(BODY_IDLE_TIMEOUT, stream.next()).await {
            Err(_) => return Err(status(StatusCode::REQUEST_TIMEOUT, "upload stalled")),
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(status(StatusCode::BAD_REQUEST, "the body ended early"));
            }
            Ok(Some(Ok(c))) => c,
        };
        received = received.saturating_add(chunk.len() as u64);
        if received > size {
            return Err(status(StatusCode::PAYLOAD_TOO_LARGE, "larger than the slot's size"));
        }
        out.write_all(&chunk).await.map_err(io_failed)?;
    }
    if received != size {
        return Err(status(StatusCode::BAD_REQUEST, "the body ended early"));
    }
    out.flush().await.map_err(io_failed)?;
    // On disk before the storage row says the file exists.
    out.sync_data().await.map_err(io_failed)?;
    Ok(())
}

fn internal(what: &'static str, error: &str) -> Response {
    tracing::warn!(what, error);
    status(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Serves `GET` and `HEAD <prefix>/<id>/<filename>`: the stored file.
async fn get_file(
    State(ep): State<Arc<Endpoint>>,
    Path((id, filename)): Path<(String, String)>,
    method: Method,
) -> Response {
    let not_found = || status(StatusCode::NOT_FOUND, "no such file");
    if !slot::valid_id(&id) {
        return not_found();
    }
    let row = match ep.server.storage.upload.get_file(&id).await {
        Ok(Some(f)) if f.node == ep.service.node && f.filename == filename => f,
        Ok(_) => return not_found(),
        Err(e) => return internal("upload_storage_failed", &e.to_string()),
    };
    let file = match tokio::fs::File::open(ep.service.file_path(&id)).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return not_found(),
        Err(e) => return internal("upload_read_failed", &e.to_string()),
    };
    let body = if method == Method::HEAD { Body::empty() } else { file_body(file) };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    let content_type = if row.content_type.is_empty() {
        "application/octet-stream"
    } else {
        row.content_type.as_str()
    };
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(row.size_bytes));
    if let Ok(v) = HeaderValue::from_str(&disposition(&row)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    with_cors(r)
}

/// `inline` for images a browser shows as such (not SVG, which can carry scripts),
/// `attachment` otherwise; the name in RFC 6266/8187 form.
fn disposition(f: &UploadedFile) -> String {
    let ct = f.content_type.to_ascii_lowercase();
    let inline = ct.starts_with("image/") && !ct.starts_with("image/svg");
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename*=UTF-8''{}", slot::pct_encode(&f.filename))
}

/// The file as a body, read a chunk at a time.
fn file_body(file: tokio::fs::File) -> Body {
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            // Ends the stream after the error (hyper aborts the response on it).
            Err(e) => Some((Err::<bytes::Bytes, _>(e), None)),
        }
    });
    Body::from_stream(stream)
}
