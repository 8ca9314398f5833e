//! Room configuration (XEP-0045 §10.2, the `muc#roomconfig` form) and the room information
//! form of disco#info (§15.5.4, `muc#roominfo`). Read from and written as the `(name, value)`
//! pairs storage keeps ([`RoomConfig::to_pairs`]) and from the owner's submitted form
//! ([`RoomConfig::apply_form`]).

use meerkat_config::{MucModule, MucRoomDefaults};
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::Element;

/// `FORM_TYPE` of the configuration form.
pub const ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
/// `FORM_TYPE` of the room information form.
pub const ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";

/// Who may send private messages (`muc#roomconfig_allowpm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowPm {
    /// Every occupant.
    Anyone,
    /// Participants and moderators (not visitors).
    Participants,
    /// Moderators only.
    Moderators,
    /// Nobody.
    Nobody,
}

impl AllowPm {
    fn name(self) -> &'static str {
        match self {
            AllowPm::Anyone => "anyone",
            AllowPm::Participants => "participants",
            AllowPm::Moderators => "moderators",
            AllowPm::Nobody => "none",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "anyone" => AllowPm::Anyone,
            "participants" => AllowPm::Participants,
            "moderators" => AllowPm::Moderators,
            "none" => AllowPm::Nobody,
            _ => return None,
        })
    }
}

/// A room's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomConfig {
    /// Natural-language name (`muc#roomconfig_roomname`).
    pub name: String,
    /// Description (`muc#roomconfig_roomdesc`).
    pub description: String,
    /// Survives its last occupant, kept in storage.
    pub persistent: bool,
    /// Listed in the service's disco#items.
    pub public: bool,
    /// Only members may enter.
    pub members_only: bool,
    /// Only occupants with voice may send to all.
    pub moderated: bool,
    /// Entering needs [`RoomConfig::password`].
    pub password_protected: bool,
    /// The room secret.
    pub password: String,
    /// Occupants at once.
    pub max_users: usize,
    /// Real JIDs visible to all (non-anonymous) rather than to moderators only.
    pub whois_anyone: bool,
    /// Participants may change the subject.
    pub change_subject: bool,
    /// Participants may invite.
    pub allow_invites: bool,
    /// Who may send private messages.
    pub allow_pm: AllowPm,
    /// Messages are archived (XEP-0313).
    pub mam: bool,
    /// Random salt of the room's XEP-0421 occupant ids (hex), kept with the room so ids stay
    /// stable across restarts.
    pub salt: String,
}

/// What a configuration change means for occupants (XEP-0045 §10.2.1 status codes).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// The room became non-anonymous (172) or semi-anonymous (173).
    pub anonymity: Option<bool>,
    /// Archiving switched on (170) or off (171).
    pub logging: Option<bool>,
}

impl RoomConfig {
    /// A new room's configuration from `[modules.muc.default_room]`.
    pub fn new_room(cfg: &MucModule) -> Self {
        let d: &MucRoomDefaults = &cfg.default_room;
        let salt: [u8; 16] = rand::random();
        RoomConfig {
            name: String::new(),
            description: String::new(),
            persistent: d.persistent,
            public: d.public,
            members_only: d.members_only,
            moderated: d.moderated,
            password_protected: false,
            password: String::new(),
            max_users: cfg.max_occupants,
            whois_anyone: d.whois == "anyone",
            change_subject: d.change_subject,
            allow_invites: d.allow_invites,
            allow_pm: AllowPm::parse(&d.allow_pm).unwrap_or(AllowPm::Anyone),
            mam: d.mam,
            salt: salt.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The pairs storage keeps.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let b = |v: bool| if v { "1" } else { "0" }.to_owned();
        vec![
            ("roomname".into(), self.name.clone()),
            ("roomdesc".into(), self.description.clone()),
            ("persistent".into(), b(self.persistent)),
            ("public".into(), b(self.public)),
            ("membersonly".into(), b(self.members_only)),
            ("moderated".into(), b(self.moderated)),
            ("passwordprotected".into(), b(self.password_protected)),
            ("roomsecret".into(), self.password.clone()),
            ("maxusers".into(), self.max_users.to_string()),
            ("whois".into(), if self.whois_anyone { "anyone" } else { "moderators" }.into()),
            ("changesubject".into(), b(self.change_subject)),
            ("allowinvites".into(), b(self.allow_invites)),
            ("allowpm".into(), self.allow_pm.name().into()),
            ("mam".into(), b(self.mam)),
            ("salt".into(), self.salt.clone()),
        ]
    }

    /// Reads stored pairs over the defaults; unknown names and unreadable values keep the
    /// default (a newer version's pairs do not break an older one).
    pub fn from_pairs(cfg: &MucModule, pairs: &[(String, String)]) -> Self {
        let mut c = RoomConfig::new_room(cfg);
        for (k, v) in pairs {
            let b = v == "1";
            match k.as_str() {
                "roomname" => c.name = v.clone(),
                "roomdesc" => c.description = v.clone(),
                "persistent" => c.persistent = b,
                "public" => c.public = b,
                "membersonly" => c.members_only = b,
                "moderated" => c.moderated = b,
                "passwordprotected" => c.password_protected = b,
                "roomsecret" => c.password = v.clone(),
                "maxusers" => {
                    c.max_users = v.parse().unwrap_or(cfg.max_occupants).min(cfg.max_occupants)
                }
                "whois" => c.whois_anyone = v == "anyone",
                "changesubject" => c.change_subject = b,
                "allowinvites" => c.allow_invites = b,
                "allowpm" => c.allow_pm = AllowPm::parse(v).unwrap_or(c.allow_pm),
                "mam" => c.mam = b,
                "salt" => c.salt = v.clone(),
                _ => {}
            }
        }
        c
    }

    /// The configuration form an owner is sent (§10.2).
    pub fn form(&self, cfg: &MucModule) -> Element {
        let mut max_values: Vec<String> = [10, 20, 30, 50, 100, 200, 500, 1000]
            .iter()
            .filter(|n| **n < cfg.max_occupants)
            .map(|n| n.to_string())
            .collect();
        max_values.push(cfg.max_occupants.to_string());
        let x = Element::new("x", ns::DATA_FORMS)
            .with_attr("type", "form")
            .with_child(Element::new("title", ns::DATA_FORMS).with_text("Room configuration"))
            .with_child(field("FORM_TYPE", "hidden", None, &[ROOMCONFIG]))
            .with_child(field(
                "muc#roomconfig_roomname",
                "text-single",
                Some("Name"),
                &[&self.name],
            ))
            .with_child(field(
                "muc#roomconfig_roomdesc",
                "text-single",
                Some("Description"),
                &[&self.description],
            ))
            .with_child(bool_field("muc#roomconfig_persistentroom", "Persistent", self.persistent))
            .with_child(bool_field("muc#roomconfig_publicroom", "Listed publicly", self.public))
            .with_child(bool_field("muc#roomconfig_membersonly", "Members only", self.members_only))
            .with_child(bool_field("muc#roomconfig_moderatedroom", "Moderated", self.moderated))
            .with_child(bool_field(
                "muc#roomconfig_passwordprotectedroom",
                "Password protected",
                self.password_protected,
            ))
            .with_child(field(
                "muc#roomconfig_roomsecret",
                "text-private",
                Some("Password"),
                &[&self.password],
            ))
            .with_child(list_field(
                "muc#roomconfig_maxusers",
                "Maximum occupants",
                &self.max_users.to_string(),
                &max_values.iter().map(String::as_str).collect::<Vec<_>>(),
            ))
            .with_child(list_field(
                "muc#roomconfig_whois",
                "Who may discover real JIDs",
                if self.whois_anyone { "anyone" } else { "moderators" },
                &["moderators", "anyone"],
            ))
            .with_child(bool_field(
                "muc#roomconfig_changesubject",
                "Occupants may change the subject",
                self.change_subject,
            ))
            .with_child(bool_field(
                "muc#roomconfig_allowinvites",
                "Occupants may invite others",
                self.allow_invites,
            ))
            .with_child(list_field(
                "muc#roomconfig_allowpm",
                "Who may send private messages",
                self.allow_pm.name(),
                &["anyone", "participants", "moderators", "none"],
            ))
            .with_child(bool_field(
                "muc#roomconfig_enablearchiving",
                "Archive messages (XEP-0313)",
                self.mam,
            ));
        x
    }

    /// Applies a submitted form (§10.2). Fields the form leaves out keep their value; unknown
    /// fields are ignored, as the XEP allows. Malformed values get `bad-request`, values
    /// beyond the service's limits `not-acceptable`; nothing changes on error.
    pub fn apply_form(&mut self, x: &Element, cfg: &MucModule) -> Result<Changed, StanzaError> {
        let mut next = self.clone();
        let bad =
            |var: &str| StanzaError::new(SEC::BadRequest).with_text(format!("bad value for {var}"));
        let too_long = |var: &str| {
            StanzaError::new(SEC::NotAcceptable)
                .with_text(format!("{var} is longer than {} characters", cfg.max_text_chars))
        };
        for f in x.children().filter(|c| c.is("field", ns::DATA_FORMS)) {
            let Some(var) = f.attr("var") else { continue };
            let values: Vec<String> =
                f.children().filter(|v| v.is("value", ns::DATA_FORMS)).map(|v| v.text()).collect();
            let one = values.first().map(String::as_str).unwrap_or("");
            let text = |dst: &mut String| -> Result<(), StanzaError> {
                if one.chars().count() > cfg.max_text_chars {
                    return Err(too_long(var));
                }
                *dst = one.to_owned();
                Ok(())
            };
            let flag = || parse_bool(one).ok_or_else(|| bad(var));
            match var {
                "FORM_TYPE" if one != ROOMCONFIG => return Err(bad(var)),
                "FORM_TYPE" => {}
                "muc#roomconfig_roomname" => text(&mut next.name)?,
                "muc#roomconfig_roomdesc" => text(&mut next.description)?,
                "muc#roomconfig_roomsecret" => text(&mut next.password)?,
                "muc#roomconfig_persistentroom" => next.persistent = flag()?,
                "muc#roomconfig_publicroom" => next.public = flag()?,
                "muc#roomconfig_membersonly" => next.members_only = flag()?,
                "muc#roomconfig_moderatedroom" => next.moderated = flag()?,
                "muc#roomconfig_passwordprotectedroom" => next.password_protected = flag()?,
                "muc#roomconfig_changesubject" => next.change_subject = flag()?,
                "muc#roomconfig_allowinvites" => next.allow_invites = flag()?,
                "muc#roomconfig_enablearchiving" | "muc#roomconfig_enablelogging" | "mam" => {
                    next.mam = flag()?
                }
                "muc#roomconfig_maxusers" => {
                    let n: usize = if one == "none" {
                        cfg.max_occupants
                    } else {
                        one.trim().parse().map_err(|_| bad(var))?
                    };
                    if n == 0 || n > cfg.max_occupants {
                        return Err(StanzaError::new(SEC::NotAcceptable).with_text(format!(
                            "maxusers must be between 1 and {}",
                            cfg.max_occupants
                        )));
                    }
                    next.max_users = n;
                }
                "muc#roomconfig_whois" => {
                    next.whois_anyone = match one {
                        "anyone" => true,
                        "moderators" => false,
                        _ => return Err(bad(var)),
                    }
                }
                "muc#roomconfig_allowpm" => {
                    next.allow_pm = AllowPm::parse(one).ok_or_else(|| bad(var))?
                }
                _ => {}
            }
        }
        if next.password_protected && next.password.is_empty() {
            return Err(StanzaError::new(SEC::NotAcceptable)
                .with_text("a password-protected room needs a roomsecret"));
        }
        let changed = Changed {
            anonymity: (next.whois_anyone != self.whois_anyone).then_some(next.whois_anyone),
            logging: (next.mam != self.mam).then_some(next.mam),
        };
        *self = next;
        Ok(changed)
    }

    /// The disco#info features of a room with this configuration (§15.2).
    pub fn features(&self) -> Vec<&'static str> {
        vec![
            if self.persistent { "muc_persistent" } else { "muc_temporary" },
            if self.members_only { "muc_membersonly" } else { "muc_open" },
            if self.moderated { "muc_moderated" } else { "muc_unmoderated" },
            if self.password_protected { "muc_passwordprotected" } else { "muc_unsecured" },
            if self.public { "muc_public" } else { "muc_hidden" },
            if self.whois_anyone { "muc_nonanonymous" } else { "muc_semianonymous" },
        ]
    }

    /// The `muc#roominfo` form of disco#info (§15.5.4).
    pub fn info_form(&self, occupants: usize, subject: &str) -> Element {
        Element::new("x", ns::DATA_FORMS)
            .with_attr("type", "result")
            .with_child(field("FORM_TYPE", "hidden", None, &[ROOMINFO]))
            .with_child(field(
                "muc#roominfo_description",
                "text-single",
                None,
                &[&self.description],
            ))
            .with_child(field(
                "muc#roominfo_occupants",
                "text-single",
                None,
                &[&occupants.to_string()],
            ))
            .with_child(field("muc#roominfo_subject", "text-single", None, &[subject]))
            .with_child(field(
                "muc#roomconfig_changesubject",
                "boolean",
                None,
                &[bool_str(self.change_subject)],
            ))
            .with_child(field(
                "muc#roomconfig_allowinvites",
                "boolean",
                None,
                &[bool_str(self.allow_invites)],
            ))
            .with_child(field(
                "muc#roomconfig_maxusers",
                "text-single",
                None,
                &[&self.max_users.to_string()],
            ))
    }
}

fn field(var: &str, typ: &str, label: Option<&str>, values: &[&str]) -> Element {
    let mut f = Element::new("field", ns::DATA_FORMS).with_attr("var", var).with_attr("type", typ);
    if let Some(l) = label {
        f.set_attr("label", l);
    }
    for v in values {
        f = f.with_child(Element::new("value", ns::DATA_FORMS).with_text(*v));
    }
    f
}

fn bool_field(var: &str, label: &str, v: bool) -> Element {
    field(var, "boolean", Some(label), &[bool_str(v)])
}

fn list_field(var: &str, label: &str, value: &str, options: &[&str]) -> Element {
    let mut f = field(var, "list-single", Some(label), &[value]);
    for o in options {
        f = f.with_child(
            Element::new("option", ns::DATA_FORMS)
                .with_child(Element::new("value", ns::DATA_FORMS).with_text(*o)),
        );
    }
    f
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(fields: &[(&str, &str)]) -> Element {
        fields.iter().fold(
            Element::new("x", ns::DATA_FORMS).with_attr("type", "submit"),
            |x, (k, v)| {
                x.with_child(
                    Element::new("field", ns::DATA_FORMS)
                        .with_attr("var", *k)
                        .with_child(Element::new("value", ns::DATA_FORMS).with_text(*v)),
                )
            },
        )
    }

    #[test]
    fn pairs_round_trip_and_form_applies() {
        let cfg = MucModule::default();
        let mut c = RoomConfig::new_room(&cfg);
        let changed = c
            .apply_form(
                &submit(&[
                    ("FORM_TYPE", ROOMCONFIG),
                    ("muc#roomconfig_roomname", "Lobby"),
                    ("muc#roomconfig_persistentroom", "true"),
                    ("muc#roomconfig_whois", "anyone"),
                    ("muc#roomconfig_maxusers", "30"),
                    ("muc#roomconfig_allowpm", "moderators"),
                    ("x-unknown", "ignored"),
                ]),
                &cfg,
            )
            .expect("applies");
        assert_eq!(changed.anonymity, Some(true));
        assert!(c.persistent && c.whois_anyone);
        assert_eq!((c.name.as_str(), c.max_users, c.allow_pm), ("Lobby", 30, AllowPm::Moderators));
        assert_eq!(RoomConfig::from_pairs(&cfg, &c.to_pairs()), c);
    }

    #[test]
    fn bad_forms_change_nothing() {
        let cfg = MucModule { max_occupants: 50, ..MucModule::default() };
        let mut c = RoomConfig::new_room(&cfg);
        let before = c.clone();
        for (fields, cond) in [
            (vec![("muc#roomconfig_maxusers", "51")], SEC::NotAcceptable),
            (vec![("muc#roomconfig_maxusers", "lots")], SEC::BadRequest),
            (vec![("muc#roomconfig_persistentroom", "yes")], SEC::BadRequest),
            (vec![("muc#roomconfig_passwordprotectedroom", "1")], SEC::NotAcceptable),
            (vec![("FORM_TYPE", "urn:other")], SEC::BadRequest),
        ] {
            let e = c.apply_form(&submit(&fields), &cfg).expect_err("refused");
            assert_eq!(e.condition, cond, "{fields:?}");
            assert_eq!(c, before);
        }
        let long = "x".repeat(cfg.max_text_chars + 1);
        let e =
            c.apply_form(&submit(&[("muc#roomconfig_roomname", &long)]), &cfg).expect_err("long");
        assert_eq!(e.condition, SEC::NotAcceptable);
    }
}
