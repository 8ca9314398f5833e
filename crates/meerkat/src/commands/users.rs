//! Account commands: `register`, `unregister`, `change_password`, `registered_users`.

use super::{admin, Failure};
use meerkat_admin::client::ClientError;
use meerkat_admin::AdminError;
use meerkat_config::Config;

/// `meerkat register USER HOST PASSWORD`.
pub fn register(config: &Config, user: &str, host: &str, password: &str) -> Result<(), Failure> {
    let admin = admin(config)?;
    match admin.client.register(user, host, password) {
        Ok(()) => {
            println!("User {user}@{host} successfully registered");
            Ok(())
        }
        Err(ClientError::Admin(AdminError::AlreadyExists(_))) => {
            Err(Failure::new(format!("User {user}@{host} already registered")))
        }
        Err(e) => Err(admin.failure(e)),
    }
}

/// `meerkat unregister USER HOST`.
pub fn unregister(config: &Config, user: &str, host: &str) -> Result<(), Failure> {
    let admin = admin(config)?;
    match admin.client.unregister(user, host) {
        Ok(()) => {
            println!("User {user}@{host} unregistered");
            Ok(())
        }
        Err(ClientError::Admin(AdminError::NotFound(_))) => {
            Err(Failure::new(format!("User {user}@{host} does not exist")))
        }
        Err(e) => Err(admin.failure(e)),
    }
}

/// `meerkat change_password USER HOST PASSWORD`.
pub fn change_password(
    config: &Config,
    user: &str,
    host: &str,
    password: &str,
) -> Result<(), Failure> {
    let admin = admin(config)?;
    match admin.client.change_password(user, host, password) {
        Ok(()) => {
            println!("Password changed for {user}@{host}");
            Ok(())
        }
        Err(ClientError::Admin(AdminError::NotFound(_))) => {
            Err(Failure::new(format!("User {user}@{host} does not exist")))
        }
        Err(e) => Err(admin.failure(e)),
    }
}

/// `meerkat registered_users HOST`: one username per line.
pub fn registered_users(config: &Config, host: &str) -> Result<(), Failure> {
    let admin = admin(config)?;
    let users = admin.client.registered_users(host).map_err(|e| admin.failure(e))?;
    for user in users {
        println!("{user}");
    }
    Ok(())
}
