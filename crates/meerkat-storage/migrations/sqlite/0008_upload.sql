-- HTTP File Upload (XEP-0363): one row per stored file. The bytes are on the disk of `node`.
CREATE TABLE upload_files (
    id           TEXT NOT NULL PRIMARY KEY,
    host         TEXT NOT NULL,
    username     TEXT NOT NULL,
    node         TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL CHECK (size_bytes >= 0),
    created_s    INTEGER NOT NULL
);
-- Quota sums per owner; the sweeper's scan per node by age.
CREATE INDEX upload_files_owner ON upload_files (host, username);
CREATE INDEX upload_files_node_created ON upload_files (node, created_s);
