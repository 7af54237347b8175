CREATE TABLE hosts (
  id             TEXT PRIMARY KEY,
  hostname       TEXT NOT NULL,
  os             TEXT NOT NULL,
  info           BLOB,
  node_key_hash  BLOB NOT NULL,
  enrolled_at    INTEGER NOT NULL,
  last_seen      INTEGER NOT NULL DEFAULT 0,
  egress_ip      TEXT NOT NULL DEFAULT '',
  last_seq       INTEGER NOT NULL DEFAULT 0,
  spool_dropped  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hosts_hostname ON hosts(hostname);

CREATE TABLE observations (
  host_id  TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  key      TEXT NOT NULL,
  kind     TEXT NOT NULL,
  body     BLOB NOT NULL,
  PRIMARY KEY (host_id, key)
);

CREATE TABLE findings (
  host_id     TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  id          TEXT NOT NULL,
  rule        TEXT NOT NULL,
  severity    INTEGER NOT NULL,
  body        BLOB NOT NULL,
  state       TEXT NOT NULL,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  PRIMARY KEY (host_id, id)
);
CREATE INDEX findings_state ON findings(state, severity);

CREATE TABLE tokens (
  hash     BLOB PRIMARY KEY,
  role     TEXT NOT NULL,
  created  INTEGER NOT NULL
);
