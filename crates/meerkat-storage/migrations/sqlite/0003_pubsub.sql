-- Publish-subscribe nodes and items (XEP-0060), for PEP (service = account bare JID) and a
-- pubsub service (service = its domain). Items are ordered by `seq` (publication order).
CREATE TABLE pubsub_nodes (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    node TEXT NOT NULL,
    -- JSON array of [var, value] pairs of the node configuration form.
    config TEXT NOT NULL,
    UNIQUE (service, node)
);

CREATE TABLE pubsub_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    publisher TEXT NOT NULL,
    published_at_ms INTEGER NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (node_id, item_id)
);

CREATE INDEX pubsub_items_by_node ON pubsub_items (node_id, seq);
