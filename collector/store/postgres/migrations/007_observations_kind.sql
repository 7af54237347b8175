-- A host's observations of some kinds (ObservationsOfKinds), as the SQLite
-- store's 008_observations_kind.sql.
CREATE INDEX observations_host_kind ON observations (host_id, kind);
