//! The blocking client of the admin API, used by the `meerkat` admin commands.
//!
//! It is blocking (ureq) so the CLI needs no async runtime to send one request. Each method
//! mirrors one [`crate::AdminOps`] method and one endpoint of [`crate::http`]. Errors keep apart
//! what the CLI reports differently: no node listening ([`ClientError::NotRunning`], the CLI's
//! exit code 3), a wrong token, a refused operation, and anything else.

use crate::http::{
    ErrorBody, KickRequest, KickResponse, PasswordRequest, RegisterRequest, RemoveNodeRequest,
    API_PREFIX,
};
use crate::{AdminError, ClusterSettings, ClusterStatus, NodeStatus, RemovedNode};
use serde::de::DeserializeOwned;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use ureq::http::{Method, Request, Response, StatusCode};
use ureq::Body;

/// Time allowed for one request unless [`Client::with_timeout`] says otherwise. Admin operations
/// are short; a node that takes longer is reported rather than waited for.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer read (the user list of a big host is the largest).
const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a call to the admin API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the admin address: the node is not running.
    #[error("no node answers on the admin address (connection refused)")]
    NotRunning,
    /// The node refused the token (stale `admin.token`, or a different node on that port).
    #[error("the node refused the admin token")]
    Unauthorized,
    /// The node refused or failed the operation.
    #[error("{0}")]
    Admin(AdminError),
    /// Anything else: timeout, unexpected answer, connection dropped.
    #[error("{0}")]
    Other(String),
}

/// A client of one node's admin API.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the admin API at `addr`, authenticating with `token`.
    pub fn new(addr: SocketAddr, token: String) -> Self {
        Client { addr, token, agent: agent(DEFAULT_TIMEOUT) }
    }

    /// The same client with another time limit per request.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Client { agent: agent(timeout), ..self }
    }

    /// The admin address this client calls.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET /status`: the node's status.
    pub fn status(&self) -> Result<NodeStatus, ClientError> {
        let response = self.call(Method::GET, "/status", None)?;
        read_json(response)
    }

    /// `POST /users`: creates an account.
    pub fn register(&self, user: &str, host: &str, password: &str) -> Result<(), ClientError> {
        let body = RegisterRequest {
            user: user.to_string(),
            host: host.to_string(),
            password: password.to_string(),
        };
        self.call(Method::POST, "/users", json(&body)?).map(drop)
    }

    /// `DELETE /users/{host}/{user}`: deletes an account.
    pub fn unregister(&self, user: &str, host: &str) -> Result<(), ClientError> {
        let path = format!("/users/{}/{}", segment(host), segment(user));
        self.call(Method::DELETE, &path, None).map(drop)
    }

    /// `PUT /users/{host}/{user}/password`: changes a password.
    pub fn change_password(
        &self,
        user: &str,
        host: &str,
        password: &str,
    ) -> Result<(), ClientError> {
        let path = format!("/users/{}/{}/password", segment(host), segment(user));
        let body = PasswordRequest { password: password.to_string() };
        self.call(Method::PUT, &path, json(&body)?).map(drop)
    }

    /// `GET /users/{host}`: the usernames of a host, sorted.
    pub fn registered_users(&self, host: &str) -> Result<Vec<String>, ClientError> {
        let response = self.call(Method::GET, &format!("/users/{}", segment(host)), None)?;
        read_json(response)
    }

    /// `GET /sessions`: full JIDs of bound sessions, sorted.
    pub fn sessions(&self) -> Result<Vec<String>, ClientError> {
        let response = self.call(Method::GET, "/sessions", None)?;
        read_json(response)
    }

    /// `POST /kick`: closes the sessions of a full or bare JID; returns how many.
    pub fn kick(&self, jid: &str, reason: &str) -> Result<usize, ClientError> {
        let body = KickRequest { jid: jid.to_string(), reason: reason.to_string() };
        let response = self.call(Method::POST, "/kick", json(&body)?)?;
        read_json::<KickResponse>(response).map(|r| r.kicked)
    }

    /// `POST /stop`: asks the node to stop gracefully; returns once the node has accepted.
    pub fn stop(&self) -> Result<(), ClientError> {
        self.call(Method::POST, "/stop", None).map(drop)
    }

    /// `GET /cluster/status`: running and stopped members.
    pub fn cluster_status(&self) -> Result<ClusterStatus, ClientError> {
        read_json(self.call(Method::GET, "/cluster/status", None)?)
    }

    /// `GET /cluster/settings`: what a joining node adopts.
    pub fn cluster_settings(&self) -> Result<ClusterSettings, ClientError> {
        read_json(self.call(Method::GET, "/cluster/settings", None)?)
    }

    /// `POST /leave_cluster`: the node deletes its membership at its next stop.
    pub fn leave_cluster(&self) -> Result<(), ClientError> {
        self.call(Method::POST, "/leave_cluster", None).map(drop)
    }

    /// `POST /cluster/remove`: removes a stopped member.
    pub fn remove_node(&self, node: &str) -> Result<RemovedNode, ClientError> {
        let body = RemoveNodeRequest { node: node.to_string() };
        read_json(self.call(Method::POST, "/cluster/remove", json(&body)?)?)
    }

    /// Sends one request; returns the response if its status is a success.
    fn call(
        &self,
        method: Method,
        path: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<Response<Body>, ClientError> {
        let uri = format!("http://{}{API_PREFIX}{path}", self.addr);
        let builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {}", self.token));
        let sent = match json_body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(body)
                .map(|request| self.agent.run(request)),
            // GET, DELETE and bodiless POSTs send no body at all, not an empty one.
            None => builder.body(()).map(|request| self.agent.run(request)),
        };
        let response =
            sent.map_err(|e| ClientError::Other(e.to_string()))?.map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized);
        }
        match read_json::<ErrorBody>(response) {
            Ok(body) => Err(ClientError::Admin(body.error)),
            Err(_) => Err(ClientError::Other(format!("admin API answered {status}"))),
        }
    }
}

/// An agent that never uses a proxy (the `http_proxy` environment variable must not send
/// loopback admin calls elsewhere), keeps no idle connections (the CLI sends a request or two,
/// and a pooled connection would hold up the node's graceful shutdown), and hands non-2xx
/// answers back instead of turning them into errors.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn json(body: &impl serde::Serialize) -> Result<Option<Vec<u8>>, ClientError> {
    serde_json::to_vec(body).map(Some).map_err(|e| ClientError::Other(e.to_string()))
}

fn read_json<T: DeserializeOwned>(mut response: Response<Body>) -> Result<T, ClientError> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_json()
        .map_err(|e| ClientError::Other(format!("unexpected answer from the admin API: {e}")))
}

fn transport_error(error: ureq::Error) -> ClientError {
    match error {
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning
        }
        ureq::Error::Timeout(_) => {
            ClientError::Other("the admin API did not answer in time".into())
        }
        other => ClientError::Other(format!("admin API: {other}")),
    }
}

/// Percent-encodes a path segment: everything but RFC 3986 unreserved characters, so a
/// username with `/`, `%` or `?` still names one segment.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_encodes_everything_but_unreserved() {
        assert_eq!(segment("alice"), "alice");
        assert_eq!(segment("a/b c%d"), "a%2Fb%20c%25d");
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(segment("x.y-z_~"), "x.y-z_~");
    }

    #[test]
    fn connection_refused_means_not_running() {
        // Bind then drop to find a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let client = Client::new(SocketAddr::from(([127, 0, 0, 1], port)), "t".into());
        assert!(matches!(client.status(), Err(ClientError::NotRunning)));
    }
}
