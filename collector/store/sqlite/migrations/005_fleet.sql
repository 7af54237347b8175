-- The egress IPs each host was seen from, with when (one row a host and
-- address).
CREATE TABLE egress_history (
  host_id     TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  ip          TEXT NOT NULL,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  PRIMARY KEY (host_id, ip)
);
CREATE INDEX egress_history_last ON egress_history(last_seen);

-- Clusters of hosts that share a place or a device, as the fleet rules
-- judged them (body is an encoded farmwatch.v1.Cluster).
CREATE TABLE clusters (
  id          TEXT PRIMARY KEY,
  state       TEXT NOT NULL,
  severity    INTEGER NOT NULL,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  body        BLOB NOT NULL
);
CREATE INDEX clusters_state ON clusters(state, last_seen);

-- The fleet rules' findings on each member of a cluster: a lifecycle of
-- their own, beside the findings agents' messages set.
CREATE TABLE fleet_findings (
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
CREATE INDEX fleet_findings_state ON fleet_findings(state, severity);
