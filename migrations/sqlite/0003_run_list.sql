-- Read side: one row per run, with the columns GET /runs filters and sorts
-- on. Timestamps are RFC 3339 UTC with milliseconds, so they sort as text.
CREATE TABLE run_list (
    run_id     TEXT    PRIMARY KEY,
    status     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    started_at TEXT,
    ended_at   TEXT,
    archived   BIGINT  NOT NULL,
    deleted    BIGINT  NOT NULL,
    tags       TEXT    NOT NULL,
    search     TEXT    NOT NULL,
    doc        TEXT    NOT NULL
);
CREATE INDEX run_list_by_created ON run_list (created_at);
CREATE INDEX run_list_by_updated ON run_list (updated_at);
