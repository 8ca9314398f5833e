-- Publish-subscribe nodes and items (XEP-0060), for PEP (service = account bare JID) and a
-- pubsub service (service = its domain): the tables of migrations/sqlite/0003_pubsub.sql with
-- PostgreSQL types. Items are ordered by `seq` (publication order), drawn from a sequence that
-- never hands out a value twice. Writers of one node's items lock the node's row first (see
-- postgres/pubsub.rs), so trimming to max_items never races with another publication.
CREATE TABLE pubsub_nodes (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service TEXT COLLATE "C" NOT NULL,
    node    TEXT COLLATE "C" NOT NULL,
    -- JSON array of [var, value] pairs of the node configuration form.
    config  JSONB NOT NULL CHECK (jsonb_typeof(config) = 'array'),
    UNIQUE (service, node)
);

CREATE TABLE pubsub_items (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id         BIGINT NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
    item_id         TEXT COLLATE "C" NOT NULL,
    publisher       TEXT   NOT NULL,
    published_at_ms BIGINT NOT NULL,
    payload         TEXT   NOT NULL,
    UNIQUE (node_id, item_id)
);

CREATE INDEX pubsub_items_by_node ON pubsub_items (node_id, seq);
