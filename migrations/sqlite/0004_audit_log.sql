-- Read side: the audit log of GET /audit, one row per ActionAudited event
-- (keyed by its log position, so a re-fold writes each row once).
-- Timestamps are RFC 3339 UTC with milliseconds, so they sort as text.
CREATE TABLE audit_log (
    position  BIGINT  PRIMARY KEY,
    run_id    TEXT    NOT NULL,
    at        TEXT    NOT NULL,
    principal TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    doc       TEXT    NOT NULL
);
CREATE INDEX audit_log_by_run ON audit_log (run_id, position);
CREATE INDEX audit_log_by_principal ON audit_log (principal, position);
