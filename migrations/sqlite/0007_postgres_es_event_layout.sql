-- The log in postgres-es's column layout, as on PostgreSQL (see its
-- 0007), so both engines run the same statements: stream_id becomes
-- aggregate_id, version sequence, schema_version the text event_version,
-- every row names its aggregate_type ('run'), and recorded_at moves into
-- the metadata, as {"recordedAt": ...}. SQLite changes a column's type by
-- copying the table: every row keeps its position, nothing else changes.
CREATE TABLE events_in_new_layout (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence >= 0),
    event_type     TEXT    NOT NULL,
    event_version  TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);
INSERT INTO events_in_new_layout
    (position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT position, 'run', stream_id, version, event_type, CAST(schema_version AS TEXT), payload,
       json_object('recordedAt', recorded_at)
FROM events ORDER BY position;
DROP TABLE events;
ALTER TABLE events_in_new_layout RENAME TO events;
CREATE INDEX events_by_type ON events (event_type, aggregate_id);
