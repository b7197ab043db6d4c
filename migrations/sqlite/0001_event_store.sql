-- The append-only log: one stream per run, a global position for projectors.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX events_by_type ON events (event_type, stream_id);

-- Write-side reservation of idempotency keys, claimed in the same
-- transaction as a run's first events, so one key makes exactly one run.
CREATE TABLE idempotency_keys (
    idempotency_key TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL
);

-- Read side: disposable, rebuilt from the log at any time.
CREATE TABLE projector_checkpoints (
    projector TEXT PRIMARY KEY,
    position  INTEGER NOT NULL
);
CREATE TABLE read_models (
    projection TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    doc        TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (projection, run_id)
);
CREATE TABLE canonical_events (
    run_id     TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    event_type TEXT    NOT NULL,
    ts         TEXT    NOT NULL,
    doc        TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
);
