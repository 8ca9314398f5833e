-- Cluster membership (docs/cluster.md): one row per member node, and one row per session bound
-- on a node, read only when that node dies (to send unavailable presence on its behalf).

-- A member node. `incarnation` is the start time (ms since the epoch) of the process that last
-- registered the name, so rows of an earlier run can be told from the current one's.
-- `left_at` is set when the node stopped (gracefully, or declared dead and cleaned up) and
-- cleared when it starts again; `remove_from_cluster` and `leave_cluster` delete the row.
CREATE TABLE cluster_nodes (
    name          TEXT COLLATE "C" PRIMARY KEY,
    admin_address TEXT NOT NULL,
    incarnation   BIGINT NOT NULL,
    joined_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen     TIMESTAMPTZ NOT NULL DEFAULT now(),
    left_at       TIMESTAMPTZ
);

-- A bound session: written at bind, deleted at unbind (one insert, one delete per login).
CREATE TABLE cluster_sessions (
    node        TEXT COLLATE "C" NOT NULL,
    jid         TEXT COLLATE "C" NOT NULL,
    incarnation BIGINT NOT NULL,
    bound_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (node, jid)
);
