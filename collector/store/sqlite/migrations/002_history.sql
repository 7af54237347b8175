-- What an agent says of itself in its hello.
ALTER TABLE hosts ADD COLUMN agent_version TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN rules_version TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN rules_error   TEXT NOT NULL DEFAULT '';

-- The message that first added an observation; an upsert that returns it
-- equal to its own message was an addition.
ALTER TABLE observations ADD COLUMN first_seq INTEGER NOT NULL DEFAULT 0;

-- Each applied message's changes to a host's observations (one row a
-- message; body is an encoded farmwatch.v1.ObservationChanges).
CREATE TABLE changes (
  host_id  TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  seq      INTEGER NOT NULL,
  at       INTEGER NOT NULL,
  n        INTEGER NOT NULL,
  body     BLOB NOT NULL,
  PRIMARY KEY (host_id, seq)
);
CREATE INDEX changes_at ON changes(at);
