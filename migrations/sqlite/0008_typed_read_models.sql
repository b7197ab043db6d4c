-- read_models' key column holds run ids, participant ids and snapshot
-- keys: it is named for what it is (model_key), as on PostgreSQL, where
-- this migration also types the read models (jsonb, uuid, timestamptz).
-- SQLite keeps JSON, ids and RFC 3339 times as text.
ALTER TABLE read_models RENAME COLUMN run_id TO model_key;
