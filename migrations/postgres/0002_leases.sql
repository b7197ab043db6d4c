-- Who holds a role among the instances that share this store: a run's
-- ingestion (`run:<id>`) or a projector (`projector:<name>`). A lease is
-- held by renewing it before it expires; an expired lease may be taken by
-- any instance, which then continues from the log.
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
