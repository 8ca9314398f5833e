-- Explicit subscriptions and affiliations of pubsub service nodes (XEP-0060 §4.1), deleted
-- with their node. PEP nodes have none (their subscriptions are implied by presence).
CREATE TABLE pubsub_subscriptions (
    node_id INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
    jid     TEXT NOT NULL,
    -- The bare form of jid, to list one account's subscriptions (full JIDs included).
    bare    TEXT NOT NULL,
    state   TEXT NOT NULL,
    PRIMARY KEY (node_id, jid)
);
CREATE INDEX pubsub_subscriptions_by_bare ON pubsub_subscriptions (bare);

CREATE TABLE pubsub_affiliations (
    node_id     INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
    jid         TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (node_id, jid)
);
CREATE INDEX pubsub_affiliations_by_jid ON pubsub_affiliations (jid);
