-- The schema of the SQLite store (collector/store/sqlite/migrations), in
-- one step: times are Unix milliseconds (0: never), as there, so that
-- migrate copies rows unchanged.
CREATE TABLE hosts (
  id             TEXT PRIMARY KEY,
  hostname       TEXT NOT NULL,
  os             TEXT NOT NULL,
  info           BYTEA,
  node_key_hash  BYTEA NOT NULL,
  enrolled_at    BIGINT NOT NULL,
  last_seen      BIGINT NOT NULL DEFAULT 0,
  egress_ip      TEXT NOT NULL DEFAULT '',
  last_seq       BIGINT NOT NULL DEFAULT 0,
  spool_dropped  BIGINT NOT NULL DEFAULT 0,
  agent_version  TEXT NOT NULL DEFAULT '',
  rules_version  TEXT NOT NULL DEFAULT '',
  rules_error    TEXT NOT NULL DEFAULT '',
  refused        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX hosts_hostname ON hosts (hostname);

-- terms are the indexed fields of the observation (store.Terms), for
-- fleet-wide lookups (FindObservations) through the GIN index.
CREATE TABLE observations (
  host_id    TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  kind       TEXT NOT NULL,
  body       BYTEA NOT NULL,
  first_seq  BIGINT NOT NULL DEFAULT 0,
  terms      TEXT[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (host_id, key)
);
CREATE INDEX observations_terms ON observations USING GIN (terms);
CREATE INDEX observations_kind ON observations (kind);

CREATE TABLE findings (
  host_id     TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  id          TEXT NOT NULL,
  rule        TEXT NOT NULL,
  severity    INTEGER NOT NULL,
  body        BYTEA NOT NULL,
  state       TEXT NOT NULL,
  first_seen  BIGINT NOT NULL,
  last_seen   BIGINT NOT NULL,
  PRIMARY KEY (host_id, id)
);
CREATE INDEX findings_state ON findings (state, severity);

-- One row an applied message that changed something (body: an encoded
-- farmwatch.v1.ObservationChanges).
CREATE TABLE changes (
  host_id  TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  seq      BIGINT NOT NULL,
  at       BIGINT NOT NULL,
  n        INTEGER NOT NULL,
  body     BYTEA NOT NULL,
  PRIMARY KEY (host_id, seq)
);
CREATE INDEX changes_at ON changes (at);

CREATE TABLE tokens (
  id         TEXT PRIMARY KEY,
  hash       BYTEA NOT NULL UNIQUE,
  name       TEXT NOT NULL DEFAULT '',
  role       TEXT NOT NULL,
  created    BIGINT NOT NULL,
  expires    BIGINT NOT NULL DEFAULT 0,
  revoked    BIGINT NOT NULL DEFAULT 0,
  last_used  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE pending_enrollments (
  host_id     TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  request_id  TEXT NOT NULL,
  hostname    TEXT NOT NULL,
  peer        TEXT NOT NULL,
  requested   BIGINT NOT NULL,
  approved    BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (host_id, request_id)
);
