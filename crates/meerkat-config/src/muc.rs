//! `[modules.muc]`: Multi-User Chat (XEP-0045) at `conference.<host>`, with its limits and the
//! configuration new rooms start with (`[modules.muc.default_room]`).

use crate::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[modules.muc]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MucModule {
    /// Run the MUC service.
    pub enabled: bool,
    /// The service's domain; `@HOST@` stands for each served host.
    pub host: String,
    /// Ceiling of a room's `muc#roomconfig_maxusers` (occupants at once); a room configured
    /// higher gets `not-acceptable`, a join beyond a room's limit `service-unavailable`.
    pub max_occupants: usize,
    /// Rooms the service holds at once (live and stored); creating more gets
    /// `resource-constraint`.
    pub max_rooms: usize,
    /// Rooms one user may own; creating more gets `resource-constraint`.
    pub max_rooms_per_user: usize,
    /// Messages kept per room for the discussion history sent on join (XEP-0045 §7.2.15).
    pub history_max_stanzas: usize,
    /// Characters of history (serialised stanzas) sent on join at most; older messages are left
    /// out. Also bounds the history kept per room in memory.
    pub max_history_chars: usize,
    /// Entries of each affiliation list of a room (owners + admins + members + outcasts);
    /// adding more gets `resource-constraint`.
    pub max_affiliations: usize,
    /// Characters of the room name, description, subject and password; longer gets
    /// `not-acceptable`.
    pub max_text_chars: usize,
    /// The configuration a new room starts with.
    pub default_room: MucRoomDefaults,
}

impl Default for MucModule {
    fn default() -> Self {
        MucModule {
            enabled: true,
            host: "conference.@HOST@".into(),
            max_occupants: 200,
            max_rooms: 10_000,
            max_rooms_per_user: 100,
            history_max_stanzas: 20,
            max_history_chars: 50_000,
            max_affiliations: 1_000,
            max_text_chars: 1_000,
            default_room: MucRoomDefaults::default(),
        }
    }
}

/// `[modules.muc.default_room]`: the `muc#roomconfig` values of a new room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MucRoomDefaults {
    /// Kept (with its configuration and affiliations) when the last occupant leaves.
    pub persistent: bool,
    /// Listed in the service's disco#items.
    pub public: bool,
    /// Only members (and admins, owners) may enter.
    pub members_only: bool,
    /// Only occupants with voice may send to all.
    pub moderated: bool,
    /// Real JIDs visible to every occupant (`anyone`) or to moderators only (`moderators`).
    pub whois: String,
    /// Participants (not only moderators) may change the subject.
    pub change_subject: bool,
    /// Participants may send mediated invitations.
    pub allow_invites: bool,
    /// Who may send private messages: `anyone`, `participants`, `moderators` or `none`.
    pub allow_pm: String,
    /// Messages of the room are archived (XEP-0313).
    pub mam: bool,
}

impl Default for MucRoomDefaults {
    fn default() -> Self {
        MucRoomDefaults {
            persistent: false,
            public: true,
            members_only: false,
            moderated: false,
            whois: "moderators".into(),
            change_subject: true,
            allow_invites: false,
            allow_pm: "anyone".into(),
            mam: true,
        }
    }
}

/// Rules of the section.
pub(crate) fn validate(muc: &MucModule, file: &Path) -> Result<(), ConfigError> {
    let positive = [
        ("modules.muc.max_occupants", muc.max_occupants),
        ("modules.muc.max_rooms", muc.max_rooms),
        ("modules.muc.max_rooms_per_user", muc.max_rooms_per_user),
        ("modules.muc.max_affiliations", muc.max_affiliations),
        ("modules.muc.max_text_chars", muc.max_text_chars),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(ConfigError::invalid(file, key, "must be above 0"));
        }
    }
    let host = muc.host.replace("@HOST@", "example.org");
    let valid_domain = !host.is_empty()
        && host.len() <= 1023
        && host.split('.').all(|l| {
            !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid_domain {
        return Err(ConfigError::invalid(
            file,
            "modules.muc.host",
            "must be a domain name (with @HOST@ for the served host)",
        ));
    }
    if !matches!(muc.default_room.whois.as_str(), "anyone" | "moderators") {
        return Err(ConfigError::invalid(
            file,
            "modules.muc.default_room.whois",
            "must be \"anyone\" or \"moderators\"",
        ));
    }
    if !matches!(
        muc.default_room.allow_pm.as_str(),
        "anyone" | "participants" | "moderators" | "none"
    ) {
        return Err(ConfigError::invalid(
            file,
            "modules.muc.default_room.allow_pm",
            "must be \"anyone\", \"participants\", \"moderators\" or \"none\"",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parse_str;
    use std::path::Path;

    #[test]
    fn bad_values_are_rejected_naming_the_key() {
        for (toml, key) in [
            ("[modules.muc]\nmax_occupants = 0\n", "modules.muc.max_occupants"),
            ("[modules.muc]\nmax_rooms = 0\n", "modules.muc.max_rooms"),
            ("[modules.muc]\nhost = \"bad host\"\n", "modules.muc.host"),
            ("[modules.muc.default_room]\nwhois = \"all\"\n", "modules.muc.default_room.whois"),
            ("[modules.muc.default_room]\nallow_pm = \"x\"\n", "modules.muc.default_room.allow_pm"),
        ] {
            let e = parse_str(toml, Path::new("m.toml")).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
        let c = parse_str(
            "[modules.muc]\nmax_occupants = 5\nhost = \"muc.@HOST@\"\n",
            Path::new("m.toml"),
        )
        .expect("ok");
        assert_eq!(c.modules.muc.max_occupants, 5);
        assert_eq!(c.modules.muc.host, "muc.@HOST@");
    }
}
