-- Messages of a host the collector refused (over the limits, out of
-- sequence); its agent dropped them and sent a full state.
ALTER TABLE hosts ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;

-- Enrolments under an enrolled host id that presented no valid node key:
-- they wait for an admin (host approve), or for the host to be reset.
CREATE TABLE pending_enrollments (
  host_id     TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  request_id  TEXT NOT NULL,
  hostname    TEXT NOT NULL,
  peer        TEXT NOT NULL,
  requested   INTEGER NOT NULL,
  approved    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (host_id, request_id)
);
