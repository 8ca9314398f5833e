-- Message archives (XEP-0313) and archiving preferences.
--
-- `id` is chosen by the server (it is also the XEP-0359 stanza-id): unique across the node and
-- increasing in arrival order, so "oldest first" is "id order" and paging is an id range. A
-- user's archive is one range of `mam_messages_user`; a `with` filter one range of
-- `mam_messages_with`.
CREATE TABLE mam_messages (
    id            INTEGER PRIMARY KEY,
    host          TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    with_bare     TEXT    NOT NULL,
    with_resource TEXT    NOT NULL,
    outgoing      INTEGER NOT NULL CHECK (outgoing IN (0, 1)),
    stamp_ms      INTEGER NOT NULL,
    stanza        TEXT    NOT NULL
);

CREATE INDEX mam_messages_user ON mam_messages (host, username, id);
CREATE INDEX mam_messages_with ON mam_messages (host, username, with_bare, id);

-- Archiving preferences; no row means the configured default. `always_jids` and `never_jids`
-- are JSON arrays of bare JIDs, sorted and unique.
CREATE TABLE mam_prefs (
    host         TEXT NOT NULL,
    username     TEXT NOT NULL,
    default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
    always_jids  TEXT NOT NULL DEFAULT '[]',
    never_jids   TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (host, username)
) WITHOUT ROWID;
