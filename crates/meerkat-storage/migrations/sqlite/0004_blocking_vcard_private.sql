-- Blocking (XEP-0191), vCard-temp (XEP-0054/0153) and private XML storage (XEP-0049).
-- Per-user tables keyed by (host, username) first, emptied by remove_user like the others.

-- One row per blocked JID (bare, full or domain, normalised).
CREATE TABLE blocklist_items (
    host     TEXT NOT NULL,
    username TEXT NOT NULL,
    jid      TEXT NOT NULL,
    PRIMARY KEY (host, username, jid)
) WITHOUT ROWID;

-- One vCard per user; photo_sha1 is the XEP-0153 hash, NULL without a photo.
CREATE TABLE vcards (
    host       TEXT NOT NULL,
    username   TEXT NOT NULL,
    xml        TEXT NOT NULL,
    photo_sha1 TEXT,
    PRIMARY KEY (host, username)
) WITHOUT ROWID;

-- One XML fragment per user and namespace.
CREATE TABLE private_storage (
    host      TEXT NOT NULL,
    username  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    xml       TEXT NOT NULL,
    PRIMARY KEY (host, username, namespace)
) WITHOUT ROWID;
