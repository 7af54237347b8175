-- Collector replicas on one database (collector/replica): each replica
-- says it is alive; each agent stream is held by one replica.
CREATE UNLOGGED TABLE replicas (
  id    TEXT PRIMARY KEY,
  addr  TEXT NOT NULL DEFAULT '',
  seen  BIGINT NOT NULL
);
CREATE UNLOGGED TABLE sessions (
  host_id     TEXT PRIMARY KEY,
  replica_id  TEXT NOT NULL,
  since       BIGINT NOT NULL
);
CREATE INDEX sessions_replica ON sessions (replica_id);
-- Answers too large for a notification (a scan's report), fetched once by
-- the replica that asked.
CREATE UNLOGGED TABLE relay_replies (
  id       TEXT PRIMARY KEY,
  body     BYTEA NOT NULL,
  created  BIGINT NOT NULL
);
-- The fleet's policy, published by the replica that reloads it.
CREATE TABLE policy (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  bundle   BYTEA,
  config   BYTEA NOT NULL,
  version  BIGINT NOT NULL
);
