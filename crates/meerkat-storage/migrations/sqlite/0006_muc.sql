-- Multi-User Chat rooms (XEP-0045): persistent rooms, their configuration (a JSON array of
-- [name, value] pairs), subject and affiliation lists. Room archives are in mam_messages under
-- (host = service, username = room).
CREATE TABLE muc_rooms (
    service    TEXT NOT NULL,
    name       TEXT NOT NULL,
    config     TEXT NOT NULL DEFAULT '[]',
    subject    TEXT NOT NULL DEFAULT '',
    subject_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (service, name)
) WITHOUT ROWID;

CREATE TABLE muc_affiliations (
    service     TEXT NOT NULL,
    name        TEXT NOT NULL,
    jid         TEXT NOT NULL,
    affiliation TEXT NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    PRIMARY KEY (service, name, jid),
    FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
) WITHOUT ROWID;
