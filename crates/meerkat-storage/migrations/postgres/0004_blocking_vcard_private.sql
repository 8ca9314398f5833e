-- Blocking (XEP-0191), vCard-temp (XEP-0054/0153) and private XML storage (XEP-0049): the
-- tables of migrations/sqlite/0004_blocking_vcard_private.sql with PostgreSQL types.
-- Per-user tables keyed by (host, username) first, emptied by remove_user like the others.

-- One row per blocked JID (bare, full or domain, normalised).
CREATE TABLE blocklist_items (
    host     TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    jid      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (host, username, jid)
);

-- One vCard per user; photo_sha1 is the XEP-0153 hash, NULL without a photo.
CREATE TABLE vcards (
    host       TEXT COLLATE "C" NOT NULL,
    username   TEXT COLLATE "C" NOT NULL,
    xml        TEXT NOT NULL,
    photo_sha1 TEXT,
    PRIMARY KEY (host, username)
);

-- One XML fragment per user and namespace.
CREATE TABLE private_storage (
    host      TEXT COLLATE "C" NOT NULL,
    username  TEXT COLLATE "C" NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    xml       TEXT NOT NULL,
    PRIMARY KEY (host, username, namespace)
);
