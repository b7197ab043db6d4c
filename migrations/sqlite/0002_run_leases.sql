-- Which instance ingests a run. A lease is held by renewing it before it
-- expires; an expired lease may be taken by any instance, which then
-- resumes the run from its log.
CREATE TABLE run_leases (
    run_id     TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
