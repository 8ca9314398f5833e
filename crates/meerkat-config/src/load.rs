//! Reading configuration files.

use crate::Config;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used. The message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Bad TOML, an unknown key or a bad value.
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Dotted key path (`listen.c2s[0].port`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Loads and validates a file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let _ = path;
    todo!("meerkat-config helper")
}

/// Parses and validates TOML text; `file` is used in error messages.
pub fn parse_str(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let _ = (text, file);
    todo!("meerkat-config helper")
}
