-- The hash chain of each run's stream (src/store/chain.rs): every event
-- row records a SHA-256 over the previous row's hash and its own bytes, as
-- 64 hex digits. Rows appended before this migration have none yet: the
-- store chains them, stream by stream in stream order, when it next opens
-- (EventStore::chain_unchained), and an append after an unchained row
-- chains its stream first. The partial index finds them without a scan.
ALTER TABLE events ADD COLUMN chain_hash TEXT;
CREATE INDEX events_unchained ON events (aggregate_id) WHERE chain_hash IS NULL;
