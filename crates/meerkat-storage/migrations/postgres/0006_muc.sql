-- Multi-User Chat rooms (XEP-0045): persistent rooms, their configuration (a JSON array of
-- [name, value] pairs), subject and affiliation lists. Room archives are in mam_messages under
-- (host = service, username = room).
CREATE TABLE muc_rooms (
    service    TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    config     TEXT NOT NULL DEFAULT '[]',
    subject    TEXT NOT NULL DEFAULT '',
    subject_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (service, name)
);

CREATE TABLE muc_affiliations (
    service     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    jid         TEXT COLLATE "C" NOT NULL,
    affiliation TEXT NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    PRIMARY KEY (service, name, jid),
    FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
);

-- Cluster placement (docs/muc.md): the node where a room is live. Temporary rooms have claims
-- too, so no foreign key to muc_rooms. A claim of a node that is not a running member
-- (cluster_nodes.left_at set, or no row) is taken over by the next node that needs the room.
CREATE TABLE muc_room_claims (
    service    TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    node       TEXT COLLATE "C" NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (service, name)
);

CREATE INDEX muc_room_claims_node ON muc_room_claims (node);
