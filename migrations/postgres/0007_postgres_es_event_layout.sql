-- The log in postgres-es's table layout (its db/init.sql), so that
-- postgres-es's PostgresEventRepository reads and writes it: stream_id
-- becomes aggregate_id, version becomes sequence, schema_version becomes
-- the text event_version, the payload is json, every row names its
-- aggregate_type ('run'), and what the control plane recorded beside an
-- event (recorded_at) moves into the json metadata, as {"recordedAt": ...}.
-- position and tx_id stay: the projectors' global order and the guard that
-- keeps readers below in-flight commits. json, not jsonb: jsonb reorders
-- keys and refuses \u0000, and an event's bytes are a recorded fact.
-- No event is added, removed or changed: columns are renamed or retyped.
ALTER TABLE events RENAME COLUMN stream_id TO aggregate_id;
ALTER TABLE events RENAME COLUMN version TO sequence;
ALTER TABLE events RENAME COLUMN schema_version TO event_version;
ALTER TABLE events ALTER COLUMN event_version TYPE text USING event_version::text;
ALTER TABLE events ALTER COLUMN payload TYPE json USING payload::json;
ALTER TABLE events ADD COLUMN aggregate_type text NOT NULL DEFAULT 'run';
ALTER TABLE events ALTER COLUMN aggregate_type DROP DEFAULT;
ALTER TABLE events ADD COLUMN metadata json;
UPDATE events SET metadata = json_build_object('recordedAt', recorded_at);
ALTER TABLE events ALTER COLUMN metadata SET NOT NULL;
ALTER TABLE events DROP COLUMN recorded_at;
ALTER TABLE events DROP CONSTRAINT events_stream_id_version_key;
ALTER TABLE events ADD CONSTRAINT events_aggregate_sequence
    UNIQUE (aggregate_type, aggregate_id, sequence);
ALTER TABLE events ADD CONSTRAINT events_sequence_not_negative CHECK (sequence >= 0);
