-- A host's observations of some kinds (ObservationsOfKinds: the clusters
-- read a host's network and device observations, a handful of its
-- hundreds) without reading the rest.
CREATE INDEX observations_host_kind ON observations(host_id, kind);
