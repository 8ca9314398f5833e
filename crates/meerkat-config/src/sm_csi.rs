//! `[modules.stream_management]` (XEP-0198) and `[modules.csi]` (XEP-0352): the sections and
//! their cross-field rules.

use crate::load::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[modules.stream_management]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StreamManagementModule {
    /// Offer Stream Management after authentication.
    pub enabled: bool,
    /// How long a resumable session whose connection broke stays bound and detached, seconds,
    /// when the client's `<enable/>` names no `max` (a client `max` is granted up to
    /// `max_resume_timeout_s`).
    pub resume_timeout_s: u32,
    /// The longest resumption time granted (advertised as `max`), seconds.
    pub max_resume_timeout_s: u32,
    /// Outbound stanzas kept unacknowledged per session (a queued stanza is a parsed element,
    /// ~0.5-2 KiB); beyond it the session ends with `policy-violation` and the stanzas are
    /// re-routed (to other resources or offline storage).
    pub max_unacked_stanzas: usize,
    /// Ask the client for an ack after this many stanzas since the last request (0: never by
    /// count).
    pub ack_request_every_stanzas: u32,
    /// Ask for an ack when a stanza has waited this long, milliseconds (0: never by time).
    pub ack_request_after_ms: u64,
}

impl Default for StreamManagementModule {
    fn default() -> Self {
        StreamManagementModule {
            enabled: true,
            resume_timeout_s: 300,
            max_resume_timeout_s: 600,
            max_unacked_stanzas: 500,
            ack_request_every_stanzas: 5,
            ack_request_after_ms: 5_000,
        }
    }
}

/// `[modules.csi]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CsiModule {
    /// Offer Client State Indication after authentication.
    pub enabled: bool,
    /// Stanzas held back per inactive client; when full, everything held is flushed.
    pub max_buffered_stanzas: usize,
}

impl Default for CsiModule {
    fn default() -> Self {
        CsiModule { enabled: true, max_buffered_stanzas: 100 }
    }
}

/// Rules of both sections.
pub fn validate(
    sm: &StreamManagementModule,
    csi: &CsiModule,
    file: &Path,
) -> Result<(), ConfigError> {
    if sm.max_unacked_stanzas == 0 {
        return Err(ConfigError::invalid(
            file,
            "modules.stream_management.max_unacked_stanzas",
            "must be above 0",
        ));
    }
    if sm.resume_timeout_s > sm.max_resume_timeout_s {
        return Err(ConfigError::invalid(
            file,
            "modules.stream_management.resume_timeout_s",
            "must not exceed modules.stream_management.max_resume_timeout_s",
        ));
    }
    if csi.max_buffered_stanzas == 0 {
        return Err(ConfigError::invalid(
            file,
            "modules.csi.max_buffered_stanzas",
            "must be above 0 (set `enabled = false` to hold nothing back)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{parse_str, ConfigError};
    use std::path::Path;

    fn rejected_key(text: &str) -> String {
        match parse_str(text, Path::new("meerkat.toml")) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a validation error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn bounds_are_checked() {
        assert_eq!(
            rejected_key("[modules.stream_management]\nmax_unacked_stanzas = 0\n"),
            "modules.stream_management.max_unacked_stanzas"
        );
        assert_eq!(
            rejected_key("[modules.stream_management]\nresume_timeout_s = 700\n"),
            "modules.stream_management.resume_timeout_s"
        );
        assert_eq!(
            rejected_key("[modules.csi]\nmax_buffered_stanzas = 0\n"),
            "modules.csi.max_buffered_stanzas"
        );
        assert!(parse_str(
            "[modules.stream_management]\nresume_timeout_s = 5\nmax_resume_timeout_s = 5\n",
            Path::new("x")
        )
        .is_ok());
    }
}
