-- Hunts across replicas (collector/replica/hunt.go). The replica asked
-- writes the hunt (relay_hunts) and notifies each other replica with its
-- id only; each records the hosts it puts it to (relay_hunt_asked: a host
-- is asked by one replica at most) and says so (relay_hunt_acks), then
-- leaves each agent's answer in relay_hunt_answers for the asker to take.
CREATE UNLOGGED TABLE relay_hunts (
  id          TEXT PRIMARY KEY,
  asker       TEXT NOT NULL,
  kind        TEXT NOT NULL,
  filter      TEXT NOT NULL,
  timeout_ms  BIGINT NOT NULL,
  created     BIGINT NOT NULL
);
CREATE UNLOGGED TABLE relay_hunt_asked (
  hunt_id     TEXT NOT NULL,
  host_id     TEXT NOT NULL,
  replica_id  TEXT NOT NULL,
  hostname    TEXT NOT NULL,
  created     BIGINT NOT NULL,
  PRIMARY KEY (hunt_id, host_id)
);
CREATE UNLOGGED TABLE relay_hunt_acks (
  hunt_id     TEXT NOT NULL,
  replica_id  TEXT NOT NULL,
  created     BIGINT NOT NULL,
  PRIMARY KEY (hunt_id, replica_id)
);
CREATE UNLOGGED TABLE relay_hunt_answers (
  hunt_id     TEXT NOT NULL,
  host_id     TEXT NOT NULL,
  replica_id  TEXT NOT NULL,
  body        BYTEA NOT NULL,
  created     BIGINT NOT NULL,
  PRIMARY KEY (hunt_id, host_id)
);
