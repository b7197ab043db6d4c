-- What the web console filters and pages on: the run list gains the
-- run's environment and scenario ref, the canonical index the log
-- position of each event (the integer cursor of GET /events), the audit
-- log the resource an entry is about. Read models are disposable: the
-- three tables are emptied and their projectors' checkpoints removed, so
-- they re-fold from the log with the new columns filled.
ALTER TABLE run_list ADD COLUMN environment TEXT;
ALTER TABLE run_list ADD COLUMN scenario_ref TEXT;
ALTER TABLE canonical_events ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN resource TEXT NOT NULL DEFAULT 'run';
ALTER TABLE audit_log ADD COLUMN resource_id TEXT;
CREATE INDEX canonical_events_by_position ON canonical_events (position);
CREATE INDEX run_list_by_environment ON run_list (environment);
DELETE FROM run_list;
DELETE FROM canonical_events;
DELETE FROM audit_log;
DELETE FROM projector_checkpoints WHERE projector IN ('run_list', 'canonical_events', 'audit_log');

-- Audit facts about what is not a run (webhooks, runtime policies, the
-- circuit breaker): configuration commands, recorded once and never
-- changed, read beside the run audit log by GET /audit.
CREATE TABLE operation_audit (
    id          TEXT   PRIMARY KEY,
    at          TEXT   NOT NULL,
    principal   TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    resource    TEXT   NOT NULL,
    resource_id TEXT,
    doc         TEXT   NOT NULL
);
CREATE INDEX operation_audit_by_at ON operation_audit (at);
