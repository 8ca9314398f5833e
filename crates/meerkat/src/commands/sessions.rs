//! Session commands: `sessions` and `kick`.

use super::{admin, Failure};
use meerkat_admin::client::ClientError;
use meerkat_admin::AdminError;
use meerkat_config::Config;

/// Text sent to a kicked client when the operator gives none.
const DEFAULT_KICK_REASON: &str = "Kicked by administrator";

/// `meerkat sessions`: one full JID per line.
pub fn list(config: &Config) -> Result<(), Failure> {
    let admin = admin(config)?;
    let sessions = admin.client.sessions().map_err(|e| admin.failure(e))?;
    for jid in sessions {
        println!("{jid}");
    }
    Ok(())
}

/// `meerkat kick JID [REASON]`.
pub fn kick(config: &Config, jid: &str, reason: Option<&str>) -> Result<(), Failure> {
    let admin = admin(config)?;
    match admin.client.kick(jid, reason.unwrap_or(DEFAULT_KICK_REASON)) {
        Ok(1) => {
            println!("Kicked 1 session of {jid}");
            Ok(())
        }
        Ok(n) => {
            println!("Kicked {n} sessions of {jid}");
            Ok(())
        }
        Err(ClientError::Admin(AdminError::NotFound(_))) => {
            Err(Failure::new(format!("No session for {jid}")))
        }
        Err(e) => Err(admin.failure(e)),
    }
}
