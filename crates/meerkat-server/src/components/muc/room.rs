//! A room's state (XEP-0045 §5): affiliations (long-lived, stored), occupants with their roles
//! (while present), subject, configuration and discussion history, and the privilege tables of
//! §5.1.1 and §5.2.1 that every handler asks.

use super::config::RoomConfig;
use super::history::History;
use super::NS_MUC_USER;
use meerkat_config::MucModule;
use meerkat_proto::ns;
use meerkat_storage::StoredRoom;
use meerkat_xml::Element;
use sha2::Digest;
use std::collections::BTreeMap;

/// XEP-0421 namespace.
pub const NS_OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";

/// A long-lived relation to the room (§5.2), ordered from most to least privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Affiliation {
    /// Owns the room: configuration, destruction, owner and admin lists.
    Owner,
    /// Administers the member and outcast lists.
    Admin,
    /// May enter a members-only room.
    Member,
    /// No relation.
    None,
    /// Banned.
    Outcast,
}

impl Affiliation {
    /// The XEP-0045 attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Admin => "admin",
            Affiliation::Member => "member",
            Affiliation::None => "none",
            Affiliation::Outcast => "outcast",
        }
    }
    /// Parses the attribute value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Affiliation::Owner,
            "admin" => Affiliation::Admin,
            "member" => Affiliation::Member,
            "none" => Affiliation::None,
            "outcast" => Affiliation::Outcast,
            _ => return None,
        })
    }
}

/// A role while in the room (§5.1), ordered from most to least privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Kicks, grants and revokes voice, changes the subject.
    Moderator,
    /// Has voice.
    Participant,
    /// Present without voice (moderated rooms).
    Visitor,
    /// Not present.
    None,
}

impl Role {
    /// The XEP-0045 attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
            Role::Visitor => "visitor",
            Role::None => "none",
        }
    }
    /// Parses the attribute value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "moderator" => Role::Moderator,
            "participant" => Role::Participant,
            "visitor" => Role::Visitor,
            "none" => Role::None,
            _ => return None,
        })
    }
}

/// Someone in the room.
#[derive(Debug, Clone)]
pub struct Occupant {
    /// Room nickname (the resource of the occupant JID).
    pub nick: String,
    /// Real full JID.
    pub jid: String,
    /// Real bare JID.
    pub bare: String,
    /// Current role.
    pub role: Role,
    /// The occupant's last presence payload (show, status, caps, ...), without MUC elements.
    pub presence: Vec<meerkat_xml::Node>,
}

/// A room in memory.
#[derive(Debug)]
pub struct Room {
    /// Localpart.
    pub name: String,
    /// Bare room JID.
    pub jid: String,
    /// Configuration.
    pub config: RoomConfig,
    /// Current subject (empty: none).
    pub subject: String,
    /// Nick of whoever set it.
    pub subject_by: String,
    /// Affiliations other than `none`, by bare JID.
    pub affiliations: BTreeMap<String, Affiliation>,
    /// Occupants by nick.
    pub occupants: BTreeMap<String, Occupant>,
    /// Recent messages for new occupants.
    pub history: History,
    /// A new room awaiting its owner's configuration (§10.1): nobody else may enter.
    pub locked: bool,
}

impl Room {
    /// A new, empty, locked room whose creator `owner` becomes its owner.
    pub fn create(service: &str, name: &str, owner: &str, cfg: &MucModule) -> Self {
        let mut affiliations = BTreeMap::new();
        affiliations.insert(owner.to_owned(), Affiliation::Owner);
        Room {
            name: name.to_owned(),
            jid: format!("{name}@{service}"),
            config: RoomConfig::new_room(cfg),
            subject: String::new(),
            subject_by: String::new(),
            affiliations,
            occupants: BTreeMap::new(),
            history: History::default(),
            locked: true,
        }
    }

    /// A stored room, unlocked and empty.
    pub fn from_stored(s: &StoredRoom, cfg: &MucModule) -> Self {
        let affiliations = s
            .affiliations
            .iter()
            .filter_map(|(j, a)| Affiliation::parse(a).map(|a| (j.clone(), a)))
            .collect();
        Room {
            name: s.name.clone(),
            jid: format!("{}@{}", s.name, s.service),
            config: RoomConfig::from_pairs(cfg, &s.config),
            subject: s.subject.clone(),
            subject_by: s.subject_by.clone(),
            affiliations,
            occupants: BTreeMap::new(),
            history: History::default(),
            locked: false,
        }
    }

    /// The room as storage keeps it.
    pub fn to_stored(&self, service: &str) -> StoredRoom {
        StoredRoom {
            service: service.to_owned(),
            name: self.name.clone(),
            config: self.config.to_pairs(),
            subject: self.subject.clone(),
            subject_by: self.subject_by.clone(),
            affiliations: self
                .affiliations
                .iter()
                .map(|(j, a)| (j.clone(), a.name().to_owned()))
                .collect(),
        }
    }

    /// The affiliation of bare JID `bare`.
    pub fn affiliation(&self, bare: &str) -> Affiliation {
        self.affiliations.get(bare).copied().unwrap_or(Affiliation::None)
    }

    /// The occupant whose real full JID is `jid`.
    pub fn by_jid(&self, jid: &str) -> Option<&Occupant> {
        self.occupants.values().find(|o| o.jid == jid)
    }

    /// The role an occupant with `affiliation` gets on entering (§5.1.2 defaults).
    pub fn default_role(&self, affiliation: Affiliation) -> Role {
        match affiliation {
            Affiliation::Owner | Affiliation::Admin => Role::Moderator,
            Affiliation::Member => Role::Participant,
            Affiliation::None if self.config.moderated => Role::Visitor,
            Affiliation::None => Role::Participant,
            Affiliation::Outcast => Role::None,
        }
    }

    /// `room@service/nick`.
    pub fn occupant_jid(&self, nick: &str) -> String {
        format!("{}/{nick}", self.jid)
    }

    /// True when `viewer` may see real JIDs (non-anonymous room, or a moderator).
    pub fn sees_jids(&self, viewer: &Occupant) -> bool {
        self.config.whois_anyone || viewer.role == Role::Moderator
    }

    /// The XEP-0421 occupant id of real bare JID `bare`: stable for this room and user, and
    /// not reversible without the room's salt.
    pub fn occupant_id(&self, bare: &str) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.config.salt.as_bytes());
        h.update([0]);
        h.update(self.jid.as_bytes());
        h.update([0]);
        h.update(bare.as_bytes());
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h.finalize())
    }

    /// The presence of `occ` as `viewer` gets it: the occupant's payload, the MUC item
    /// (with the real JID when the viewer may see it), `extra` children of the item (actor,
    /// reason), status codes, and the occupant id.
    pub fn presence_of(
        &self,
        occ: &Occupant,
        viewer: &Occupant,
        kind: Option<&str>,
        item_extra: &[Element],
        codes: &[u16],
    ) -> Element {
        let mut p = Element::new("presence", ns::CLIENT)
            .with_attr("from", self.occupant_jid(&occ.nick))
            .with_attr("to", viewer.jid.clone());
        if let Some(k) = kind {
            p.set_attr("type", k);
        }
        p.children = occ.presence.clone();
        let mut item = Element::new("item", NS_MUC_USER)
            .with_attr("affiliation", self.affiliation(&occ.bare).name())
            .with_attr("role", occ.role.name());
        if self.sees_jids(viewer) {
            item.set_attr("jid", occ.jid.clone());
        }
        for e in item_extra {
            item = item.with_child(e.clone());
        }
        let mut x = Element::new("x", NS_MUC_USER).with_child(item);
        let mut codes = codes.to_vec();
        if viewer.jid == occ.jid {
            codes.push(110);
        }
        codes.sort_unstable();
        codes.dedup();
        for c in codes {
            x = x.with_child(status(c));
        }
        p.with_child(x).with_child(
            Element::new("occupant-id", NS_OCCUPANT_ID)
                .with_attr("id", self.occupant_id(&occ.bare)),
        )
    }

    /// One presence of `occ` to every occupant (`occ` included when present).
    pub fn broadcast_presence(
        &self,
        occ: &Occupant,
        kind: Option<&str>,
        item_extra: &[Element],
        codes: &[u16],
        out: &mut Vec<Element>,
    ) {
        for viewer in self.occupants.values() {
            out.push(self.presence_of(occ, viewer, kind, item_extra, codes));
        }
    }

    /// A copy of `msg` to every occupant.
    pub fn broadcast(&self, msg: &Element, out: &mut Vec<Element>) {
        for o in self.occupants.values() {
            let mut m = msg.clone();
            m.set_attr("to", o.jid.clone());
            out.push(m);
        }
    }

    /// A groupchat message from the room itself carrying status codes (§10.2.1: 104, 170...).
    pub fn status_message(&self, codes: &[u16], out: &mut Vec<Element>) {
        let mut x = Element::new("x", NS_MUC_USER);
        for c in codes {
            x = x.with_child(status(*c));
        }
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("from", self.jid.clone())
            .with_attr("type", "groupchat")
            .with_attr("id", super::new_id())
            .with_child(x);
        self.broadcast(&msg, out);
    }
}

/// `<status code='N'/>`.
pub fn status(code: u16) -> Element {
    Element::new("status", NS_MUC_USER).with_attr("code", code.to_string())
}

/// What the service's disco#items and room limits need of a room in memory.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Listed publicly.
    pub public: bool,
    /// Awaiting configuration.
    pub locked: bool,
    /// Kept in storage (also counted there).
    pub persistent: bool,
    /// `muc#roomconfig_roomname`.
    pub title: String,
    /// Bare JIDs of the owners.
    pub owners: Vec<String>,
}

impl Listing {
    /// The listing of `room`.
    pub fn of(room: &Room) -> Self {
        Listing {
            public: room.config.public,
            locked: room.locked,
            persistent: room.config.persistent,
            title: room.config.name.clone(),
            owners: room
                .affiliations
                .iter()
                .filter(|(_, a)| **a == Affiliation::Owner)
                .map(|(j, _)| j.clone())
                .collect(),
        }
    }
}
