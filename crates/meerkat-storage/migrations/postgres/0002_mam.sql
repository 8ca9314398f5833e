-- Message archives (XEP-0313) and archiving preferences: the tables of
-- migrations/sqlite/0002_mam.sql with PostgreSQL types.
--
-- `id` is chosen by the server (it is also the XEP-0359 stanza-id): unique across every node
-- sharing the database and increasing in arrival order, so "oldest first" is "id order" and
-- paging is an id range. Nodes sharing the database draw ids in distinct residue classes (the
-- low bits of an id are the node's slot, held with an advisory lock: see postgres/archive.rs),
-- so two nodes never choose the same id; the primary key still refuses a duplicate.
CREATE TABLE mam_messages (
    id            BIGINT PRIMARY KEY,
    host          TEXT COLLATE "C" NOT NULL,
    username      TEXT COLLATE "C" NOT NULL,
    with_bare     TEXT COLLATE "C" NOT NULL,
    with_resource TEXT COLLATE "C" NOT NULL,
    outgoing      BOOLEAN NOT NULL,
    stamp_ms      BIGINT  NOT NULL,
    stanza        TEXT    NOT NULL
);

-- A user's archive is one range of the first index; a `with` filter one range of the second.
CREATE INDEX mam_messages_user ON mam_messages (host, username, id);
CREATE INDEX mam_messages_with ON mam_messages (host, username, with_bare, id);

-- Archiving preferences; no row means the configured default. `always_jids` and `never_jids`
-- are JSON arrays of bare JIDs, sorted and unique.
CREATE TABLE mam_prefs (
    host         TEXT COLLATE "C" NOT NULL,
    username     TEXT COLLATE "C" NOT NULL,
    default_mode TEXT  NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
    always_jids  JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(always_jids) = 'array'),
    never_jids   JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(never_jids) = 'array'),
    PRIMARY KEY (host, username)
);
