//! The node's implementation of the admin operations shared by the HTTP API and the CLI.

use crate::addr::{self, Addr};
use crate::server::ServerRef;
use meerkat_admin::{AdminError, AdminOps, NodeStatus};
use meerkat_proto::error::{StreamError, StreamErrorCondition as C};
use meerkat_proto::sasl::StoredCredentials;
use meerkat_storage::StorageError;

/// [`AdminOps`] over a running node.
pub struct NodeAdmin {
    /// The node.
    pub server: ServerRef,
}

fn internal(e: StorageError) -> AdminError {
    AdminError::Internal(e.to_string())
}

impl NodeAdmin {
    /// SCRAM keys for a new password given on the admin API.
    async fn credentials(&self, password: &str) -> Result<StoredCredentials, AdminError> {
        if password.is_empty() {
            return Err(AdminError::BadRequest("empty password".into()));
        }
        crate::modules::register::derive(&self.server, password.to_owned())
            .await
            .ok_or_else(|| AdminError::Internal("key derivation failed".into()))
    }

    fn account(&self, user: &str, host: &str) -> Result<(String, String), AdminError> {
        if !self.server.serves(host) {
            return Err(AdminError::BadRequest(format!("host {host} is not served by this node")));
        }
        let user = addr::normalize_node(user)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| AdminError::BadRequest(format!("invalid username {user:?}")))?;
        Ok((user, host.to_owned()))
    }
}

/// Closes every session of an account with `reason`; returns how many.
fn close_sessions(
    server: &ServerRef,
    bare: &str,
    resource: Option<&str>,
    err: StreamError,
) -> usize {
    let mut n = 0;
    for e in server.sessions.resources(bare) {
        if resource.is_some_and(|r| r != e.resource) {
            continue;
        }
        e.mailbox.close_with(err.clone());
        n += 1;
    }
    n
}

/// Deletes an account and its data and closes its sessions (admin `unregister`, XEP-0077
/// `<remove/>`).
pub async fn remove_account(
    server: &ServerRef,
    user: &str,
    host: &str,
) -> Result<(), StorageError> {
    server.storage.users.remove_user(host, user).await?;
    // Storage dropped the account's PEP nodes; forget the cached snapshot too.
    server.pep.core.cache.invalidate(&format!("{user}@{host}"));
    let err = StreamError::with_text(C::NotAuthorized, "Account removed");
    close_sessions(server, &format!("{user}@{host}"), None, err);
    tracing::info!(what = "user_removed", user = %user, host = %host);
    Ok(())
}

#[async_trait::async_trait]
impl AdminOps for NodeAdmin {
    async fn status(&self) -> NodeStatus {
        let s = &self.server;
        NodeStatus {
            node: s.config.general.node_name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: s.started.elapsed().as_secs(),
            hosts: s.config.general.hosts.clone(),
            sessions: s.sessions.len(),
            listeners: s.listeners.lock().map(|l| l.clone()).unwrap_or_default(),
            pid: std::process::id(),
        }
    }

    async fn register(&self, user: &str, host: &str, password: &str) -> Result<(), AdminError> {
        let (user, host) = self.account(user, host)?;
        let creds = self.credentials(password).await?;
        match self.server.storage.users.create_user(&host, &user, &creds).await {
            Ok(()) => {
                tracing::info!(what = "user_registered", user = %user, host = %host, via = "admin");
                Ok(())
            }
            Err(StorageError::AlreadyExists) => {
                Err(AdminError::AlreadyExists(format!("{user}@{host}")))
            }
            Err(e) => Err(internal(e)),
        }
    }

    async fn unregister(&self, user: &str, host: &str) -> Result<(), AdminError> {
        let (user, host) = self.account(user, host)?;
        match remove_account(&self.server, &user, &host).await {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound) => Err(AdminError::NotFound(format!("{user}@{host}"))),
            Err(e) => Err(internal(e)),
        }
    }

    async fn change_password(
        &self,
        user: &str,
        host: &str,
        password: &str,
    ) -> Result<(), AdminError> {
        let (user, host) = self.account(user, host)?;
        let creds = self.credentials(password).await?;
        match self.server.storage.users.set_credentials(&host, &user, &creds).await {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound) => Err(AdminError::NotFound(format!("{user}@{host}"))),
            Err(e) => Err(internal(e)),
        }
    }

    async fn registered_users(&self, host: &str) -> Result<Vec<String>, AdminError> {
        if !self.server.serves(host) {
            return Err(AdminError::BadRequest(format!("host {host} is not served by this node")));
        }
        self.server.storage.users.list_users(host).await.map_err(internal)
    }

    async fn sessions(&self) -> Vec<String> {
        self.server.sessions.all_full_jids()
    }

    async fn kick(&self, jid: &str, reason: &str) -> Result<usize, AdminError> {
        let a = Addr::parse(jid)
            .ok_or_else(|| AdminError::BadRequest(format!("invalid JID {jid:?}")))?;
        let reason = if reason.is_empty() { "Kicked by administrator" } else { reason };
        let err = StreamError::with_text(C::PolicyViolation, reason);
        let n = close_sessions(&self.server, &a.bare(), a.resource.as_deref(), err);
        if n == 0 {
            return Err(AdminError::NotFound(format!("no session for {jid}")));
        }
        Ok(n)
    }

    async fn stop(&self) {
        tracing::info!(what = "stop_requested", via = "admin");
        self.server.shutdown.cancel();
    }

    async fn cluster_status(&self) -> Result<meerkat_admin::ClusterStatus, AdminError> {
        crate::cluster::operator::status(&self.server).await
    }

    async fn cluster_settings(&self) -> Result<meerkat_admin::ClusterSettings, AdminError> {
        crate::cluster::operator::settings(&self.server)
    }

    async fn leave_cluster(&self) -> Result<(), AdminError> {
        crate::cluster::membership::leave(&self.server)
    }

    async fn remove_node(&self, node: &str) -> Result<meerkat_admin::RemovedNode, AdminError> {
        crate::cluster::operator::remove(&self.server, node).await
    }
}
