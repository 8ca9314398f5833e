//! `[modules.carbons]` (XEP-0280) and `[modules.mam]` (XEP-0313): the sections of the modules
//! on the one-to-one message path, and their cross-field rules.

use crate::load::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[modules.carbons]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CarbonsModule {
    /// Offer message carbons (clients still opt in per session).
    pub enabled: bool,
}

impl Default for CarbonsModule {
    fn default() -> Self {
        CarbonsModule { enabled: true }
    }
}

/// Which messages a user's archive keeps when the user set no preferences (XEP-0313 §6).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MamDefaultMode {
    /// Every message.
    Always,
    /// None.
    Never,
    /// Messages with contacts in the user's roster.
    Roster,
}

/// `[modules.mam]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MamModule {
    /// Archive one-to-one messages and answer archive queries.
    pub enabled: bool,
    /// Archiving mode of users who set no preferences.
    pub default_mode: MamDefaultMode,
    /// Messages per result page when the query gives no `<max/>`.
    pub default_page_size: usize,
    /// Most messages per result page; a larger `<max/>` is lowered to it.
    pub max_page_size: usize,
    /// Most JIDs in each of a user's `always` and `never` lists.
    pub max_prefs_jids: usize,
    /// Messages waiting for the archive writer; when full, routing waits for room.
    pub writer_queue: usize,
    /// Most messages written in one transaction.
    pub writer_batch: usize,
    /// How long the writer gathers messages before a transaction that is not full, in
    /// milliseconds (group commit: fewer, larger transactions). A query never waits for it.
    pub writer_linger_ms: u64,
    /// Users whose preferences are kept in memory (so routing reads no storage).
    pub prefs_cache_entries: usize,
}

impl Default for MamModule {
    fn default() -> Self {
        MamModule {
            enabled: true,
            default_mode: MamDefaultMode::Always,
            default_page_size: 50,
            max_page_size: 250,
            max_prefs_jids: 100,
            writer_queue: 8192,
            writer_batch: 2048,
            writer_linger_ms: 100,
            prefs_cache_entries: 10_000,
        }
    }
}

/// Rules of the two sections.
pub(crate) fn validate(mam: &MamModule, file: &Path) -> Result<(), ConfigError> {
    let positive = [
        ("modules.mam.default_page_size", mam.default_page_size),
        ("modules.mam.max_page_size", mam.max_page_size),
        ("modules.mam.max_prefs_jids", mam.max_prefs_jids),
        ("modules.mam.writer_queue", mam.writer_queue),
        ("modules.mam.writer_batch", mam.writer_batch),
        ("modules.mam.prefs_cache_entries", mam.prefs_cache_entries),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(ConfigError::invalid(file, key, "must be above 0"));
        }
    }
    if mam.default_page_size > mam.max_page_size {
        return Err(ConfigError::invalid(
            file,
            "modules.mam.default_page_size",
            "must not exceed modules.mam.max_page_size",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parse_str;
    use crate::ConfigError;
    use std::path::Path;

    fn rejected_key(text: &str) -> String {
        match parse_str(text, Path::new("m.toml")) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn mam_limits_are_checked() {
        assert_eq!(rejected_key("[modules.mam]\nmax_page_size = 0\n"), "modules.mam.max_page_size");
        assert_eq!(
            rejected_key("[modules.mam]\ndefault_page_size = 300\n"),
            "modules.mam.default_page_size"
        );
        assert_eq!(rejected_key("[modules.mam]\nwriter_queue = 0\n"), "modules.mam.writer_queue");
    }

    #[test]
    fn mam_default_mode_parses() {
        let c = parse_str("[modules.mam]\ndefault_mode = \"roster\"\n", Path::new("m.toml"))
            .expect("parse");
        assert_eq!(c.modules.mam.default_mode, super::MamDefaultMode::Roster);
        assert!(parse_str("[modules.mam]\ndefault_mode = \"sometimes\"\n", Path::new("m.toml"))
            .is_err());
        assert!(
            parse_str("[modules.carbons]\nenabled = false\nx = 1\n", Path::new("m.toml")).is_err()
        );
    }
}
