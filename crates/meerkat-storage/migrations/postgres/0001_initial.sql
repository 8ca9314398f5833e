-- Initial schema of the shared (PostgreSQL) backend: the same tables, columns and stored text as
-- migrations/sqlite/0001_initial.sql, with PostgreSQL types.
--
-- Every text column that is part of a key or an ORDER BY uses the "C" collation: rows then sort
-- by UTF-8 bytes, the order of Rust's `str` comparison and of SQLite's BINARY collation, whatever
-- locale the cluster was created with, and the primary-key index serves the ORDER BY.
--
-- As on SQLite there are no foreign keys from the per-user tables to `users`: the traits allow
-- writing rows for any (host, username), and `remove_user` deletes a user's rows from every
-- table explicitly, in one transaction.

-- Accounts: SCRAM keys only, never passwords (RFC 5802 §3). Iteration counts are u32 in the
-- code, so BIGINT with a range check.
CREATE TABLE users (
    host              TEXT COLLATE "C" NOT NULL,
    username          TEXT COLLATE "C" NOT NULL,
    sha1_salt         BYTEA  NOT NULL,
    sha1_iterations   BIGINT NOT NULL CHECK (sha1_iterations BETWEEN 0 AND 4294967295),
    sha1_stored_key   BYTEA  NOT NULL,
    sha1_server_key   BYTEA  NOT NULL,
    sha256_salt       BYTEA  NOT NULL,
    sha256_iterations BIGINT NOT NULL CHECK (sha256_iterations BETWEEN 0 AND 4294967295),
    sha256_stored_key BYTEA  NOT NULL,
    sha256_server_key BYTEA  NOT NULL,
    -- For operators, not read by the server.
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username)
);

-- Roster items (RFC 6121 §2). `groups` is a JSON array of strings, sorted and unique (the same
-- text the SQLite backend stores), so a roster is read with one range scan and no join.
CREATE TABLE roster_items (
    host              TEXT COLLATE "C" NOT NULL,
    username          TEXT COLLATE "C" NOT NULL,
    jid               TEXT COLLATE "C" NOT NULL,
    name              TEXT,
    subscription      TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask               TEXT    NOT NULL CHECK (ask IN ('none', 'subscribe')),
    pending_in        BOOLEAN NOT NULL,
    pending_in_stanza TEXT,
    pre_approved      BOOLEAN NOT NULL,
    in_roster         BOOLEAN NOT NULL,
    groups            JSONB   NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(groups) = 'array'),
    PRIMARY KEY (host, username, jid)
);

-- Roster versions (XEP-0237): a counter bumped in the same transaction as every roster write;
-- the row lock taken by the bump orders concurrent writers of one roster. A missing row means
-- version 0.
CREATE TABLE roster_versions (
    host     TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    version  BIGINT NOT NULL,
    PRIMARY KEY (host, username)
);

-- Offline messages (XEP-0160). An identity column draws from a sequence, which never hands out
-- a value twice, so an id is never reused after the newest message was deleted. Ids of one
-- user also increase in commit order, because `store` holds a per-user lock from before it
-- draws the id until it commits.
CREATE TABLE offline_messages (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host         TEXT COLLATE "C" NOT NULL,
    username     TEXT COLLATE "C" NOT NULL,
    from_jid     TEXT   NOT NULL,
    stored_at_ms BIGINT NOT NULL,
    stanza       TEXT   NOT NULL
);

-- Serves fetch (in id order), count and remove_up_to for one user.
CREATE INDEX offline_messages_user ON offline_messages (host, username, id);

-- Last activity (XEP-0012).
CREATE TABLE last_activity (
    host     TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    seconds  BIGINT NOT NULL,
    status   TEXT   NOT NULL,
    PRIMARY KEY (host, username)
);
