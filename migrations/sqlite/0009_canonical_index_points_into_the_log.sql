-- The canonical index keeps where each canonical event is in the log, not
-- a copy of it: the CanonicalEventRecorded event at `position` holds the
-- event's JSON as it was recorded, and reads take it from there (one
-- primary-key lookup a row). So every read-model document is jsonb (0008),
-- and an envelope's ingest writes each canonical event's bytes once, to
-- the log. The rows stay: their positions already point at their events.
ALTER TABLE canonical_events DROP COLUMN doc;
