//! The admin HTTP API: [`AdminOps`] as JSON REST on loopback, behind a bearer token.
//!
//! # Endpoints (all under `/api/v1`)
//! | method and path                     | body                        | success                     |
//! |-------------------------------------|-----------------------------|-----------------------------|
//! | `GET /status`                       |                             | 200 [`NodeStatus`]          |
//! | `POST /users`                       | [`RegisterRequest`]         | 201, empty                  |
//! | `GET /users/{host}`                 |                             | 200 `["alice", ...]`        |
//! | `DELETE /users/{host}/{user}`       |                             | 204                         |
//! | `PUT /users/{host}/{user}/password` | [`PasswordRequest`]         | 204                         |
//! | `GET /sessions`                     |                             | 200 `["alice@h/res", ...]`  |
//! | `POST /kick`                        | [`KickRequest`]             | 200 [`KickResponse`]        |
//! | `POST /stop`                        |                             | 202, empty                  |
//! | `GET /cluster/status`               |                             | 200 [`ClusterStatus`]       |
//! | `GET /cluster/settings`             |                             | 200 [`ClusterSettings`]     |
//! | `POST /cluster/remove`              | [`RemoveNodeRequest`]       | 200 [`RemovedNode`]         |
//! | `POST /leave_cluster`               |                             | 204 (admin token only)      |
//!
//! Every request must carry `Authorization: Bearer <token>` (the token of
//! [`crate::token`]); anything else gets 401, before any body is read. The `/cluster/…`
//! endpoints also accept the cluster token ([`Tokens::cluster`], derived from the cluster
//! secret), so another member or a joining node can call them: the cluster secret is the
//! Erlang cookie's analogue. The token comparison runs
//! in constant time so response timing does not reveal how much of a guess was right.
//!
//! Failures answer with an [`ErrorBody`]: [`AdminError::NotFound`] gives 404,
//! [`AdminError::AlreadyExists`] 409, [`AdminError::BadRequest`] 400 (413 for a body above
//! [`MAX_BODY_BYTES`], 415 for a missing JSON content type, 422 for JSON of the wrong shape) and
//! [`AdminError::Internal`] 500. Unknown paths get a 404 with an [`ErrorBody`] too.
//!
//! Passwords and the token are never logged; operations are logged at info with user and host.

use crate::{AdminError, AdminOps, ClusterSettings, ClusterStatus, NodeStatus, RemovedNode};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Prefix of every endpoint.
pub const API_PREFIX: &str = "/api/v1";

/// Largest request body accepted (413 beyond). Admin requests are a few short strings, so this
/// only bounds what a confused or hostile local client can make the node buffer.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Body of `POST /api/v1/users`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Localpart of the new account.
    pub user: String,
    /// Host (domain) of the new account; one of the node's hosts.
    pub host: String,
    /// Initial password.
    pub password: String,
}

/// Redacts the password, so a request can be debug-printed or logged safely.
impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("user", &self.user)
            .field("host", &self.host)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Body of `PUT /api/v1/users/{host}/{user}/password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The new password.
    pub password: String,
}

/// Redacts the password.
impl std::fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRequest").field("password", &"<redacted>").finish()
    }
}

/// Body of `POST /api/v1/kick`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KickRequest {
    /// Full JID (one session) or bare JID (all its sessions).
    pub jid: String,
    /// Text sent to the kicked client.
    #[serde(default)]
    pub reason: String,
}

/// Answer of `POST /api/v1/kick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KickResponse {
    /// Sessions closed.
    pub kicked: usize,
}

/// Body of `POST /api/v1/cluster/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveNodeRequest {
    /// Name of the stopped member.
    pub node: String,
}

/// The bearer tokens a node accepts.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// This node's admin token (every endpoint).
    pub admin: String,
    /// The cluster token (the `/cluster/…` endpoints only); `None` on a standalone node.
    pub cluster: Option<String>,
}

impl From<String> for Tokens {
    fn from(admin: String) -> Self {
        Tokens { admin, cluster: None }
    }
}

/// Body of every error answer except 401.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error, as the client rebuilds it.
    pub error: AdminError,
    /// The error for people (`curl` users).
    pub message: String,
}

/// Body of a 401 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnauthorizedBody {
    /// Why the request was refused.
    pub message: String,
}

/// Builds the router serving [`AdminOps`] under [`API_PREFIX`], requiring `token` on every
/// request. An empty `token` refuses every request, as no caller could have meant it.
pub fn router(ops: Arc<dyn AdminOps>, tokens: impl Into<Tokens>) -> Router {
    let api = Router::new()
        .route("/status", get(status))
        .route("/users", post(register))
        .route("/users/{host}", get(registered_users))
        .route("/users/{host}/{user}", axum::routing::delete(unregister))
        .route("/users/{host}/{user}/password", put(change_password))
        .route("/sessions", get(sessions))
        .route("/kick", post(kick))
        .route("/stop", post(stop))
        .route("/cluster/status", get(cluster_status))
        .route("/cluster/settings", get(cluster_settings))
        .route("/cluster/remove", post(remove_node))
        .route("/leave_cluster", post(leave_cluster));
    Router::new()
        .nest(API_PREFIX, api)
        .fallback(no_such_endpoint)
        .with_state(ops)
        // The token check wraps everything, the fallback included, so an unauthenticated caller
        // cannot even learn which paths exist.
        .layer(middleware::from_fn_with_state(Arc::new(tokens.into()), require_token))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Serves the admin API on `listener` until `shutdown` completes, then finishes the requests in
/// flight and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ops: Arc<dyn AdminOps>,
    tokens: impl Into<Tokens>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(what = "admin_api_listening", %addr, "admin API listening on {addr}");
    axum::serve(listener, router(ops, tokens)).with_graceful_shutdown(shutdown).await?;
    tracing::info!(what = "admin_api_stopped", %addr, "admin API stopped");
    Ok(())
}

/// Refuses requests without the right bearer token with 401.
async fn require_token(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Response {
    let cluster_path = request.uri().path().starts_with(&format!("{API_PREFIX}/cluster/"));
    let cluster_ok = cluster_path
        && tokens.cluster.as_deref().is_some_and(|t| bearer_matches(request.headers(), t));
    if cluster_ok || bearer_matches(request.headers(), &tokens.admin) {
        return next.run(request).await;
    }
    // Path only: the header itself may hold a near-miss of the token.
    tracing::warn!(
        what = "admin_unauthorized",
        path = %request.uri().path(),
        "admin API request without a valid token"
    );
    let body = UnauthorizedBody { message: "missing or wrong admin token".into() };
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(body)).into_response()
}

fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    // The scheme is case-insensitive (RFC 9110 section 11.1); the token is not.
    scheme.eq_ignore_ascii_case("bearer")
        && bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
}

/// An error answer: a status and the [`AdminError`] in an [`ErrorBody`].
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    error: AdminError,
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        let status = match error {
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::AlreadyExists(_) => StatusCode::CONFLICT,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError { status, error }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError {
            status: rejection.status(),
            error: AdminError::BadRequest(rejection.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError {
            status: rejection.status(),
            error: AdminError::BadRequest(rejection.body_text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(what = "admin_failed", error = %self.error, "admin operation failed");
        }
        let body = ErrorBody { message: self.error.to_string(), error: self.error };
        (self.status, Json(body)).into_response()
    }
}

type Ops = State<Arc<dyn AdminOps>>;

/// Serves `GET /status`: the node's status.
async fn status(State(ops): Ops) -> Json<NodeStatus> {
    Json(ops.status().await)
}

/// Serves `POST /users`: creates an account.
async fn register(
    State(ops): Ops,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    ops.register(&request.user, &request.host, &request.password).await?;
    tracing::info!(
        what = "admin_register",
        user = %request.user,
        host = %request.host,
        "account registered"
    );
    Ok(StatusCode::CREATED)
}

/// Serves `GET /users/{host}`: the usernames of a host.
async fn registered_users(
    State(ops): Ops,
    host: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<String>>, ApiError> {
    let Path(host) = host?;
    Ok(Json(ops.registered_users(&host).await?))
}

/// Serves `DELETE /users/{host}/{user}`: deletes an account.
async fn unregister(
    State(ops): Ops,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((host, user)) = path?;
    ops.unregister(&user, &host).await?;
    tracing::info!(what = "admin_unregister", %user, %host, "account deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Serves `PUT /users/{host}/{user}/password`: changes a password.
async fn change_password(
    State(ops): Ops,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<PasswordRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((host, user)) = path?;
    let Json(request) = body?;
    ops.change_password(&user, &host, &request.password).await?;
    tracing::info!(what = "admin_change_password", %user, %host, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Serves `GET /sessions`: the full JIDs of bound sessions.
async fn sessions(State(ops): Ops) -> Json<Vec<String>> {
    Json(ops.sessions().await)
}

/// Serves `POST /kick`: closes the sessions of a JID.
async fn kick(
    State(ops): Ops,
    body: Result<Json<KickRequest>, JsonRejection>,
) -> Result<Json<KickResponse>, ApiError> {
    let Json(request) = body?;
    let kicked = ops.kick(&request.jid, &request.reason).await?;
    tracing::info!(what = "admin_kick", jid = %request.jid, kicked, "sessions kicked");
    Ok(Json(KickResponse { kicked }))
}

/// Serves `POST /stop`: starts a graceful stop and answers at once.
async fn stop(State(ops): Ops) -> StatusCode {
    tracing::info!(what = "admin_stop", "stop requested through the admin API");
    ops.stop().await;
    StatusCode::ACCEPTED
}

/// Serves `GET /cluster/status`.
async fn cluster_status(State(ops): Ops) -> Result<Json<ClusterStatus>, ApiError> {
    Ok(Json(ops.cluster_status().await?))
}

/// Serves `GET /cluster/settings`: what a joining node adopts.
async fn cluster_settings(State(ops): Ops) -> Result<Json<ClusterSettings>, ApiError> {
    let settings = ops.cluster_settings().await?;
    tracing::info!(what = "admin_cluster_settings", "cluster settings handed out");
    Ok(Json(settings))
}

/// Serves `POST /cluster/remove`: removes a stopped member.
async fn remove_node(
    State(ops): Ops,
    body: Result<Json<RemoveNodeRequest>, JsonRejection>,
) -> Result<Json<RemovedNode>, ApiError> {
    let Json(request) = body?;
    let removed = ops.remove_node(&request.node).await?;
    tracing::info!(what = "admin_remove_node", node = %removed.node, sessions = removed.sessions);
    Ok(Json(removed))
}

/// Serves `POST /leave_cluster` (outside `/cluster/`: only the node's own admin may ask).
async fn leave_cluster(State(ops): Ops) -> Result<StatusCode, ApiError> {
    ops.leave_cluster().await?;
    tracing::info!(what = "admin_leave_cluster", "node leaves the cluster at its next stop");
    Ok(StatusCode::NO_CONTENT)
}

/// Answers unknown paths with a JSON 404.
async fn no_such_endpoint(request: Request) -> ApiError {
    AdminError::NotFound(format!("no endpoint {} {}", request.method(), request.uri().path()))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        map
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        assert!(bearer_matches(&headers("Bearer abc"), "abc"));
        assert!(bearer_matches(&headers("bearer abc"), "abc"));
        assert!(!bearer_matches(&headers("Bearer abd"), "abc"));
        assert!(!bearer_matches(&headers("Bearer ab"), "abc"));
        assert!(!bearer_matches(&headers("Bearer abcd"), "abc"));
        assert!(!bearer_matches(&headers("Basic abc"), "abc"));
        assert!(!bearer_matches(&headers("abc"), "abc"));
        assert!(!bearer_matches(&HeaderMap::new(), "abc"));
    }

    #[test]
    fn empty_token_refuses_everything() {
        assert!(!bearer_matches(&headers("Bearer "), ""));
        assert!(!bearer_matches(&headers("Bearer x"), ""));
    }

    #[test]
    fn admin_errors_map_to_statuses() {
        let status = |e| ApiError::from(e).status;
        assert_eq!(status(AdminError::NotFound("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(status(AdminError::AlreadyExists("x".into())), StatusCode::CONFLICT);
        assert_eq!(status(AdminError::BadRequest("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(status(AdminError::Internal("x".into())), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn password_requests_redact_debug_output() {
        let request =
            RegisterRequest { user: "a".into(), host: "h".into(), password: "secret".into() };
        assert!(!format!("{request:?}").contains("secret"));
        let request = PasswordRequest { password: "secret".into() };
        assert!(!format!("{request:?}").contains("secret"));
    }
}
