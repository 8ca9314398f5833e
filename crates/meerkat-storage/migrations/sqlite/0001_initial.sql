-- Initial schema of the embedded (SQLite) backend.
--
-- Every per-user table is keyed by (host, username) first, so a user's rows are one range of the
-- primary key (or of an index) and every lookup the server makes per login or per presence
-- broadcast is a single indexed range scan. Tables keyed by their natural primary key are
-- WITHOUT ROWID so the row lives in the key's B-tree and a lookup costs one tree descent.
--
-- There are no foreign keys from the per-user tables to `users`: the traits allow writing a
-- roster or last-activity row for any (host, username), and `remove_user` deletes a user's rows
-- from every table explicitly, in one transaction.

-- Accounts: SCRAM keys only, never passwords (RFC 5802 §3).
CREATE TABLE users (
    host              TEXT    NOT NULL,
    username          TEXT    NOT NULL,
    sha1_salt         BLOB    NOT NULL,
    sha1_iterations   INTEGER NOT NULL,
    sha1_stored_key   BLOB    NOT NULL,
    sha1_server_key   BLOB    NOT NULL,
    sha256_salt       BLOB    NOT NULL,
    sha256_iterations INTEGER NOT NULL,
    sha256_stored_key BLOB    NOT NULL,
    sha256_server_key BLOB    NOT NULL,
    -- Seconds since the Unix epoch; for operators, not read by the server.
    created_at        INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    PRIMARY KEY (host, username)
) WITHOUT ROWID;

-- Roster items (RFC 6121 §2). `groups` is a JSON array of strings, sorted and unique, so the
-- roster of a user is read with one range scan and no join.
CREATE TABLE roster_items (
    host              TEXT    NOT NULL,
    username          TEXT    NOT NULL,
    jid               TEXT    NOT NULL,
    name              TEXT,
    subscription      TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask               TEXT    NOT NULL CHECK (ask IN ('none', 'subscribe')),
    pending_in        INTEGER NOT NULL CHECK (pending_in IN (0, 1)),
    pending_in_stanza TEXT,
    pre_approved      INTEGER NOT NULL CHECK (pre_approved IN (0, 1)),
    in_roster         INTEGER NOT NULL CHECK (in_roster IN (0, 1)),
    groups            TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (host, username, jid)
) WITHOUT ROWID;

-- Roster versions (XEP-0237): a counter bumped in the same transaction as every roster write.
-- A missing row means version 0.
CREATE TABLE roster_versions (
    host     TEXT    NOT NULL,
    username TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (host, username)
) WITHOUT ROWID;

-- Offline messages (XEP-0160). AUTOINCREMENT so an id is never reused after the newest message
-- was deleted: a session that remembers "delivered up to id N" must never see a new message
-- with an id <= N.
CREATE TABLE offline_messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    host         TEXT    NOT NULL,
    username     TEXT    NOT NULL,
    from_jid     TEXT    NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    stanza       TEXT    NOT NULL
);

-- Serves fetch (in id order), count and remove_up_to for one user.
CREATE INDEX offline_messages_user ON offline_messages (host, username, id);

-- Last activity (XEP-0012).
CREATE TABLE last_activity (
    host     TEXT    NOT NULL,
    username TEXT    NOT NULL,
    seconds  INTEGER NOT NULL,
    status   TEXT    NOT NULL,
    PRIMARY KEY (host, username)
) WITHOUT ROWID;
